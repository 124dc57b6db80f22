"""The few Kubernetes API calls the operator makes, each idempotent.

One API client per process (in-cluster config, else the kubeconfig), shared by every handler.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from activeloop.api.resources import GROUP, VERSION


@lru_cache(maxsize=1)
def _api_client() -> kubernetes.client.ApiClient:
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return kubernetes.client.ApiClient()


def reset_client() -> None:
    """Forget the cached client (tests point the operator at a new API server)."""
    _api_client.cache_clear()


def custom() -> kubernetes.client.CustomObjectsApi:
    """Client of ActiveLoop's custom resources."""
    return kubernetes.client.CustomObjectsApi(_api_client())


def batch() -> kubernetes.client.BatchV1Api:
    """Client of Jobs."""
    return kubernetes.client.BatchV1Api(_api_client())


def core() -> kubernetes.client.CoreV1Api:
    """Client of Pods."""
    return kubernetes.client.CoreV1Api(_api_client())


def get_custom(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    """A custom object, or ``None`` if it does not exist."""
    try:
        return custom().get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def list_custom(plural: str, namespace: str, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Custom objects of a namespace, filtered by ``labels`` (also client-side)."""
    selector = ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or None
    items = custom().list_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, label_selector=selector
    )["items"]
    return [
        i for i in items
        if all((i.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in (labels or {}).items())
    ]


def create_custom_if_absent(plural: str, namespace: str, body: dict[str, Any]) -> bool:
    """Create a custom object unless one of that name exists; ``True`` if created now."""
    try:
        custom().create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
        return True
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise


def patch_status(plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Merge-patch the status subresource of a custom object."""
    custom().patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, plural, name, {"status": status}
    )


def create_job_if_absent(namespace: str, body: dict[str, Any]) -> bool:
    """Create a Job unless one of that name exists; ``True`` if created now."""
    try:
        batch().create_namespaced_job(namespace, body)
        return True
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise


def job_failure_message(namespace: str, job: str) -> str:
    """Why a Job's pods failed: the last container's termination message and reason."""
    try:
        pods = core().list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
    except ApiException:
        return ""
    messages = []
    for pod in pods:
        if (pod.metadata.labels or {}).get("job-name") != job:
            continue
        for cs in (pod.status and pod.status.container_statuses) or []:
            term = cs.state and cs.state.terminated
            if term and term.exit_code:
                text = (term.message or "").strip().splitlines()[-5:]
                messages.append(f"{term.reason or 'Error'} (exit {term.exit_code}): " + " | ".join(text))
    return messages[-1] if messages else ""
