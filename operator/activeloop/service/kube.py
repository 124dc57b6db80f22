"""How the campaign service reaches a cluster: one client factory (as each caller, with their own
bearer token, for the web interface; as the kubeconfig's user, for the command line) and one
mapping of the API server's refusals to ActiveLoop's errors."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from activeloop.errors import (
    ActiveLoopError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)

TIMEOUT = (5, 30)
"""Connect and read timeouts of every call (seconds)."""


def base_configuration() -> kubernetes.client.Configuration:
    """Where the API server is (in a pod: the ServiceAccount's host and CA; else the kubeconfig),
    with every credential removed: each request adds its caller's token."""
    config = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=config)
    config.api_key = {}
    config.api_key_prefix = {}
    config.cert_file = config.key_file = None
    config.username = config.password = None
    config.refresh_api_key_hook = None
    return config


def kubeconfig_namespace(namespace: str | None = None) -> str:
    """``namespace``, else the kubeconfig context's, else ``default`` (as kubectl does)."""
    if namespace:
        return namespace
    try:
        _, active = kubernetes.config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))
    except (kubernetes.config.ConfigException, OSError):
        return "default"
    return (active or {}).get("context", {}).get("namespace") or "default"


class KubeAccess:
    """API clients for callers: with a caller's token when it has one (no credential of this
    process is ever sent then), else the kubeconfig's own user (``kubeconfig=True``: the CLI)."""

    def __init__(self, configuration: kubernetes.client.Configuration | None = None, *,
                 kubeconfig: bool = False) -> None:
        self.kubeconfig = kubeconfig
        self._configuration = configuration
        self._clients: dict[str, kubernetes.client.ApiClient] = {}
        self._lock = threading.Lock()

    @property
    def configuration(self) -> kubernetes.client.Configuration:
        """Where the API server is (credentials removed)."""
        if self._configuration is None:
            self._configuration = base_configuration()
        return self._configuration

    def client(self, token: str | None) -> kubernetes.client.ApiClient:
        """A client acting with ``token``, or (kubeconfig mode, no token) as the kubeconfig's user."""
        if not token:
            if not self.kubeconfig:
                raise UnauthorizedError("this server acts with your own cluster token: sign in with it")
            return self._kubeconfig_client()
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                config = kubernetes.client.Configuration()
                for attr in ("host", "ssl_ca_cert", "verify_ssl", "proxy", "assert_hostname", "tls_server_name"):
                    setattr(config, attr, getattr(self.configuration, attr, None))
                config.api_key = {"authorization": token}
                config.api_key_prefix = {"authorization": "Bearer"}
                if len(self._clients) >= 64:  # a bounded cache: the oldest caller's client goes
                    self._clients.pop(next(iter(self._clients))).close()
                client = self._clients[key] = kubernetes.client.ApiClient(config)
        return client

    def username(self, token: str | None = None) -> str:
        """Who the API server says the caller is (a SelfSubjectReview, Kubernetes 1.28+), else the
        kubeconfig context's user name."""
        try:
            api = kubernetes.client.AuthenticationV1Api(self.client(token))
            body = kubernetes.client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1",
                                                         kind="SelfSubjectReview")
            review = api.create_self_subject_review(body, _request_timeout=TIMEOUT)
            name = review.status.user_info.username if review.status and review.status.user_info else None
            if name:
                return str(name)
        except (ApiException, ActiveLoopError, OSError, ValueError, AttributeError):
            pass
        if token:
            return f"token …{token[-4:]}"
        try:
            _, active = kubernetes.config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))
            return str((active or {}).get("context", {}).get("user") or "kubeconfig user")
        except (kubernetes.config.ConfigException, OSError):
            return "kubeconfig user"

    def _kubeconfig_client(self) -> kubernetes.client.ApiClient:
        with self._lock:
            client = self._clients.get("")
            if client is None:
                try:
                    client = kubernetes.config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))
                except (kubernetes.config.ConfigException, OSError) as exc:
                    raise ActiveLoopError(
                        f"no Kubernetes cluster is configured ({exc}); set KUBECONFIG or a kube context, "
                        "or use a campaign on this workstation with --run-dir") from None
                self._clients[""] = client
        return client


def reason(exc: ApiException) -> str:
    """The API server's own words for a refusal."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


def call(verb: str, resource: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with the API server's refusals as ActiveLoop errors: 401
    :class:`UnauthorizedError`, 403 :class:`ForbiddenError` naming ``verb`` and ``resource``, 404
    :class:`NotFoundError`, 409 :class:`ConflictError`, 422 :class:`ConfigError`; an unreachable
    server :class:`ActiveLoopError` saying so."""
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args, _request_timeout=TIMEOUT, **kwargs)
    except ApiException as exc:
        if exc.status == 401:
            raise UnauthorizedError("the cluster no longer accepts your credentials: sign in again") from None
        if exc.status == 403:
            raise ForbiddenError(verb, resource, reason(exc)) from None
        if exc.status == 404:
            raise NotFoundError(f"{resource} not found") from None
        if exc.status == 409:
            raise ConflictError(f"{resource} exists already") from None
        if exc.status == 422:
            raise ConfigError(resource, reason(exc)) from None
        raise ActiveLoopError(f"the cluster could not {verb} {resource}: {exc.status} {reason(exc)}") from None
    except (HTTPError, OSError) as exc:
        raise ActiveLoopError(f"the cluster could not be reached to {verb} {resource}: {exc}") from None


__all__ = ["TIMEOUT", "KubeAccess", "base_configuration", "call", "kubeconfig_namespace", "reason"]
