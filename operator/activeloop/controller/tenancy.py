"""One lab, one set of store credentials: each namespace's step pods read and write only their
namespace's part of the artifact store (``s3://<bucket>/<namespace>/...``), with credentials
that can reach nothing else; the store's own (root) user stays with the operator.

Two ways to get them:

* ``operator`` (the default with the chart's bundled MinIO): the operator makes, through MinIO's
  admin API, one user per namespace with a policy limited to that namespace's prefix
  (:func:`namespace_policy`), and puts its keys in the namespace as the Secret ``activeloop-store``;
* ``provided``: an administrator creates that Secret in each lab namespace (keys ``accessKey``,
  ``secretKey``), with credentials their store limits the same way; the operator only checks
  that it is there.

Step Jobs take ``MINIO_ACCESS_KEY``/``MINIO_SECRET_KEY`` from that Secret in their own namespace
(a pod can reference no Secret of another namespace), so a campaign in lab A cannot read or
change lab B's snapshots and proposals.
"""

from __future__ import annotations

import os
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from activeloop.api import naming
from activeloop.controller.config import OperatorConfig
from activeloop.errors import ActiveLoopError

STORE_SECRET = "activeloop-store"
"""The Secret, in each lab namespace, holding that namespace's store credentials."""


class StoreCredentialsMissing(ActiveLoopError):
    """A namespace has no store credentials its step pods could use."""


def namespace_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """An S3 (IAM and MinIO) policy that allows reading, writing and listing ``<bucket>/<prefix>``
    (a namespace's part of the store, ``lab-a/``) and nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"],
             "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}},
            {"Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                        "s3:ListMultipartUploadParts"],
             "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"]},
        ],
    }


def user_name(namespace: str) -> str:
    """The store user of a namespace's step pods."""
    return f"activeloop-{namespace}"


class SecretsApi(Protocol):
    """What the credentials need of the Kubernetes API (``controller.kube.Kube`` has it)."""

    def get_secret(self, namespace: str, name: str) -> dict[str, str] | None: ...

    def put_secret(self, namespace: str, name: str, data: dict[str, str], labels: dict[str, str]) -> None: ...


class AdminApi(Protocol):
    """What the credentials need of MinIO's admin API (``minio.MinioAdmin`` has it)."""

    def user_add(self, access_key: str, secret_key: str) -> Any: ...

    def policy_add(self, policy_name: str, policy_file: str | None = None, policy: dict | None = None) -> Any: ...

    def attach_policy(self, policies: list[str], user: str | None = None) -> Any: ...


class StoreCredentials(ABC):
    """Makes sure a namespace's step pods have store credentials of their own."""

    def __init__(self, kube: SecretsApi) -> None:
        self.kube = kube
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    def ensure(self, namespace: str) -> None:
        """Make (or check) ``namespace``'s credentials; :class:`StoreCredentialsMissing` if it has none."""
        with self._lock:
            if namespace in self._ready:
                return
            self._ensure(namespace)
            self._ready.add(namespace)

    @abstractmethod
    def _ensure(self, namespace: str) -> None: ...


class ProvidedCredentials(StoreCredentials):
    """Each lab namespace holds the Secret its administrator made."""

    def _ensure(self, namespace: str) -> None:
        secret = self.kube.get_secret(namespace, STORE_SECRET)
        if not secret or not {"accessKey", "secretKey"} <= set(secret):
            raise StoreCredentialsMissing(
                f"namespace {namespace} has no Secret {STORE_SECRET} with keys accessKey and secretKey: create "
                f"one with store credentials limited to the prefix {namespace}/ of the bucket (the chart's "
                "store.tenancy is 'provided')")


class MinioCredentials(StoreCredentials):
    """The operator makes a MinIO user per namespace, limited to the namespace's prefix."""

    def __init__(self, kube: SecretsApi, admin: AdminApi, bucket: str, prefix_of: Callable[[str], str]) -> None:
        super().__init__(kube)
        self.admin = admin
        self.bucket = bucket
        self.prefix_of = prefix_of

    def _ensure(self, namespace: str) -> None:
        existing = self.kube.get_secret(namespace, STORE_SECRET)
        user = user_name(namespace)
        if existing and existing.get("accessKey") == user and existing.get("secretKey"):
            secret_key = existing["secretKey"]  # keep the key: make sure MinIO has the user and policy
        else:
            secret_key = secrets.token_urlsafe(30)
        policy = f"activeloop-{namespace}"
        self.admin.policy_add(policy, policy=namespace_policy(self.bucket, self.prefix_of(namespace)))
        self.admin.user_add(user, secret_key)
        self.admin.attach_policy([policy], user=user)
        # the Secret last: step pods use keys MinIO already knows
        self.kube.put_secret(namespace, STORE_SECRET, {"accessKey": user, "secretKey": secret_key},
                             {naming.LABEL_MANAGED_BY: naming.MANAGED_BY, naming.LABEL_NAME: "activeloop"})


def store_credentials(config: OperatorConfig, kube: SecretsApi,
                      env: Mapping[str, str] | None = None) -> StoreCredentials | None:
    """How this installation gives namespaces their store credentials (``None``: no S3 store)."""
    if not config.uses_s3:
        return None
    if config.store_tenancy == "provided":
        return ProvidedCredentials(kube)
    e = os.environ if env is None else env
    if not (config.s3_endpoint and e.get("MINIO_ACCESS_KEY") and e.get("MINIO_SECRET_KEY")):
        raise ActiveLoopError("store.tenancy 'operator' needs the store's endpoint and admin credentials "
                              "(MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY) in the operator's environment")
    admin = minio_admin(config.s3_endpoint, e["MINIO_ACCESS_KEY"], e["MINIO_SECRET_KEY"], config.s3_secure)
    assert config.bucket is not None
    return MinioCredentials(kube, admin, config.bucket, config.namespace_prefix)


def minio_admin(endpoint: str, access_key: str, secret_key: str, secure: bool) -> AdminApi:
    """MinIO's admin API with the store's root credentials (held by the operator only)."""
    from minio import MinioAdmin
    from minio.credentials import StaticProvider

    admin: AdminApi = MinioAdmin(endpoint=endpoint.removeprefix("http://").removeprefix("https://"),
                                 credentials=StaticProvider(access_key, secret_key), secure=secure)
    return admin


__all__ = ["STORE_SECRET", "MinioCredentials", "ProvidedCredentials", "StoreCredentials", "StoreCredentialsMissing",
           "minio_admin", "namespace_policy", "store_credentials", "user_name"]
