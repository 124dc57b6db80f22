"""The operator's configuration, read from the environment at startup (set by the Helm chart)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from activeloop.controller.policy import DEFAULT_NAMESPACE, JobPolicy, Placement


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class OperatorConfig:
    """Settings shared by every handler.

    Attributes:
        store_uri: root of the artifact store (``s3://bucket/prefix`` or ``file:///dir``); a
            campaign's artifacts live under ``<store_uri>/<namespace>/<campaign>``.
        worker_image: default image of step Jobs.
        s3_endpoint: MinIO/S3 endpoint handed to step Jobs (``minio.activeloop:9000``); by
            default the operator's own ``MINIO_ENDPOINT``.
        store_tenancy: how each namespace gets store credentials of its own (``operator``: made by
            the operator through MinIO's admin API; ``provided``: an administrator's Secret in each
            namespace; see ``controller.tenancy``). Step pods never get the operator's own.
        gpu_resource: extended resource name of a GPU.
        job_service_account: ServiceAccount of step pods.
        job_policy: which images step Jobs may run and where, per namespace (``controller.policy``).
        namespaces: namespaces to watch (empty: cluster-wide).
        timer_interval: seconds between a campaign's passes when nothing happens (events wake
            the campaign's loop at once; this is the safety net and the debounce clock).
        metrics_port: port of the Prometheus endpoint (``/metrics``); 0 picks a free port, a
            negative number serves none.
        api_timeout: seconds before a call to the API server is given up (and retried).
    """

    store_uri: str = "file:///tmp/activeloop-store"
    worker_image: str = "ghcr.io/activeloop/worker:0.1.0"
    s3_endpoint: str | None = None
    s3_secure: bool = False
    store_tenancy: str = "operator"
    gpu_resource: str = "nvidia.com/gpu"
    job_service_account: str | None = None
    image_pull_secrets: list[str] = field(default_factory=list)
    job_policy: JobPolicy = field(default_factory=JobPolicy)
    namespaces: list[str] = field(default_factory=list)
    timer_interval: float = 10.0
    metrics_port: int = 8000
    api_timeout: float = 30.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorConfig:
        """Read ``ACTIVELOOP_*`` variables."""
        e = os.environ if env is None else env
        d = cls()
        placements = {ns: Placement.from_dict(p)
                      for ns, p in json.loads(e.get("ACTIVELOOP_JOB_PLACEMENT") or "{}").items()}
        if DEFAULT_NAMESPACE not in placements:  # the older settings: one node selector and tolerations
            placements[DEFAULT_NAMESPACE] = Placement(
                json.loads(e.get("ACTIVELOOP_JOB_NODE_SELECTOR") or "{}"),
                tuple(json.loads(e.get("ACTIVELOOP_JOB_TOLERATIONS") or "[]")))
        return cls(
            store_uri=e.get("ACTIVELOOP_STORE_URI", d.store_uri).rstrip("/"),
            worker_image=e.get("ACTIVELOOP_WORKER_IMAGE", d.worker_image),
            s3_endpoint=e.get("ACTIVELOOP_JOB_MINIO_ENDPOINT") or e.get("MINIO_ENDPOINT") or None,
            s3_secure=e.get("MINIO_SECURE", "false").lower() in ("1", "true", "yes"),
            store_tenancy=e.get("ACTIVELOOP_STORE_TENANCY", d.store_tenancy),
            gpu_resource=e.get("ACTIVELOOP_GPU_RESOURCE", d.gpu_resource),
            job_service_account=e.get("ACTIVELOOP_JOB_SERVICE_ACCOUNT") or None,
            image_pull_secrets=_list(e.get("ACTIVELOOP_IMAGE_PULL_SECRETS", "")),
            job_policy=JobPolicy(_list(e.get("ACTIVELOOP_ALLOWED_IMAGES", "")), placements),
            namespaces=_list(e.get("ACTIVELOOP_NAMESPACES", "")),
            timer_interval=float(e.get("ACTIVELOOP_TIMER_INTERVAL", d.timer_interval)),
            metrics_port=int(e.get("ACTIVELOOP_METRICS_PORT", d.metrics_port)),
            api_timeout=float(e.get("ACTIVELOOP_API_TIMEOUT", d.api_timeout)),
        )

    def campaign_store(self, namespace: str, campaign: str) -> str:
        """Store URI of one campaign's artifacts."""
        return f"{self.store_uri}/{namespace}/{campaign}"

    @property
    def bucket(self) -> str | None:
        """The store's bucket (``None`` for a local directory)."""
        parsed = urlparse(self.store_uri)
        return parsed.netloc if parsed.scheme == "s3" else None

    def namespace_prefix(self, namespace: str) -> str:
        """The key prefix, inside the bucket, of a namespace's campaigns (``lab-a/``)."""
        path = urlparse(self.store_uri).path.strip("/")
        return f"{path}/{namespace}/" if path else f"{namespace}/"

    @property
    def uses_s3(self) -> bool:
        """Whether step Jobs reach an S3 store (and need credentials)."""
        return self.bucket is not None
