"""The few Kubernetes API calls the operator makes, each idempotent.

One :class:`Kube` per operator process, made at startup and kept in kopf's ``memo``: handlers
never build clients of their own.
"""

from __future__ import annotations

import os
from typing import Any, cast

import kubernetes
from kubernetes.client import ApiException

from activeloop.api.resources import GROUP, VERSION

REQUEST_TIMEOUT = 30.0
"""Default seconds before a call is given up (a hung API server costs a retry, not the loop)."""
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
"""Annotation of an Indexed Job's pod: its index (for the score step, the shard)."""


def api_client() -> kubernetes.client.ApiClient:
    """A client with the pod's ServiceAccount, else the kubeconfig (``KUBECONFIG``)."""
    try:
        kubernetes.config.load_incluster_config()
        return kubernetes.client.ApiClient()
    except kubernetes.config.ConfigException:
        return kubernetes.config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))


class Kube:
    """Idempotent calls on ActiveLoop's resources, Jobs and Pods."""

    def __init__(self, client: kubernetes.client.ApiClient | None = None, timeout: float = REQUEST_TIMEOUT) -> None:
        self.client = client or api_client()
        self.timeout = (min(5.0, timeout), timeout)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)
        self.batch = kubernetes.client.BatchV1Api(self.client)
        self.core = kubernetes.client.CoreV1Api(self.client)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A custom object, or ``None`` if it does not exist."""
        try:
            return cast(dict[str, Any], self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, _request_timeout=self.timeout))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_if_absent(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create a custom object unless one of that name exists; the object if created now."""
        try:
            return cast(dict[str, Any], self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, body, _request_timeout=self.timeout))
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch the status subresource of a custom object (a deleted object is ignored)."""
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, plural, name, {"status": status},
                _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def create_job_if_absent(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create a Job unless one of that name exists; ``True`` if created now."""
        try:
            # the client takes a plain dict for a body as well as a V1Job
            self.batch.create_namespaced_job(namespace, body, _request_timeout=self.timeout)  # type: ignore[arg-type]
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise

    def get_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's data (decoded), or ``None`` if it does not exist."""
        import base64

        try:
            secret = self.core.read_namespaced_secret(name, namespace, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def put_secret(self, namespace: str, name: str, data: dict[str, str], labels: dict[str, str]) -> None:
        """Create a Secret, or replace its data if it exists."""
        body = kubernetes.client.V1Secret(api_version="v1", kind="Secret", type="Opaque", string_data=data,
                                          metadata=kubernetes.client.V1ObjectMeta(name=name, namespace=namespace,
                                                                                  labels=labels))
        try:
            self.core.create_namespaced_secret(namespace, body, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.core.patch_namespaced_secret(name, namespace, {"stringData": data}, _request_timeout=self.timeout)

    def job_failure_message(self, namespace: str, job: str) -> str:
        """Why a Job's pods failed: the last container's termination message and reason."""
        try:
            pods = self.core.list_namespaced_pod(namespace, label_selector=f"job-name={job}",
                                                 _request_timeout=self.timeout).items
        except ApiException:
            return ""
        messages = []
        for pod in pods:
            if pod.metadata is None or (pod.metadata.labels or {}).get("job-name") != job:
                continue
            for cs in (pod.status and pod.status.container_statuses) or []:
                term = cs.state and cs.state.terminated
                if term and term.exit_code:
                    text = (term.message or "").strip().splitlines()[-5:]
                    index = (pod.metadata.annotations or {}).get(COMPLETION_INDEX)
                    shard = f"shard {index}: " if index is not None else ""  # an Indexed Job's pod
                    messages.append(f"{shard}{term.reason or 'Error'} (exit {term.exit_code}): " + " | ".join(text))
        return messages[-1] if messages else ""


__all__ = ["COMPLETION_INDEX", "REQUEST_TIMEOUT", "Kube", "api_client"]
