"""The operator's configuration, read from the environment at startup (set by the Helm chart)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class OperatorConfig:
    """Settings shared by every handler.

    Attributes:
        store_uri: root of the artifact store (``s3://bucket/prefix`` or ``file:///dir``); a
            campaign's artifacts live under ``<store_uri>/<namespace>/<campaign>``.
        worker_image: default image of step Jobs.
        s3_secret: Secret whose keys (``accessKey``, ``secretKey``, optional ``endpoint``) are given
            to step Jobs as environment variables.
        s3_endpoint: MinIO/S3 endpoint handed to step Jobs (``minio.activeloop:9000``); by
            default the operator's own ``MINIO_ENDPOINT``.
        gpu_resource: extended resource name of a GPU.
        job_service_account: ServiceAccount of step pods.
        job_node_selector, job_tolerations: defaults for step pods (JSON in the environment);
            a campaign's own ``spec.jobs`` settings replace them.
        namespaces: namespaces to watch (empty: cluster-wide).
        timer_interval: seconds between a campaign's passes when nothing happens (events wake
            the campaign's loop at once; this is the safety net and the debounce clock).
        metrics_port: port of the Prometheus endpoint (``/metrics``); 0 picks a free port, a
            negative number serves none.
        api_timeout: seconds before a call to the API server is given up (and retried).
    """

    store_uri: str = "file:///tmp/activeloop-store"
    worker_image: str = "ghcr.io/activeloop/worker:0.1.0"
    s3_secret: str | None = None
    s3_endpoint: str | None = None
    s3_secure: bool = False
    gpu_resource: str = "nvidia.com/gpu"
    job_service_account: str | None = None
    image_pull_secrets: list[str] = field(default_factory=list)
    job_node_selector: dict[str, str] = field(default_factory=dict)
    job_tolerations: list[dict] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    timer_interval: float = 10.0
    metrics_port: int = 8000
    api_timeout: float = 30.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorConfig:
        """Read ``ACTIVELOOP_*`` variables."""
        e = os.environ if env is None else env
        d = cls()
        return cls(
            store_uri=e.get("ACTIVELOOP_STORE_URI", d.store_uri).rstrip("/"),
            worker_image=e.get("ACTIVELOOP_WORKER_IMAGE", d.worker_image),
            s3_secret=e.get("ACTIVELOOP_S3_SECRET") or None,
            s3_endpoint=e.get("ACTIVELOOP_JOB_MINIO_ENDPOINT") or e.get("MINIO_ENDPOINT") or None,
            s3_secure=e.get("MINIO_SECURE", "false").lower() in ("1", "true", "yes"),
            gpu_resource=e.get("ACTIVELOOP_GPU_RESOURCE", d.gpu_resource),
            job_service_account=e.get("ACTIVELOOP_JOB_SERVICE_ACCOUNT") or None,
            image_pull_secrets=_list(e.get("ACTIVELOOP_IMAGE_PULL_SECRETS", "")),
            job_node_selector=json.loads(e.get("ACTIVELOOP_JOB_NODE_SELECTOR") or "{}"),
            job_tolerations=json.loads(e.get("ACTIVELOOP_JOB_TOLERATIONS") or "[]"),
            namespaces=_list(e.get("ACTIVELOOP_NAMESPACES", "")),
            timer_interval=float(e.get("ACTIVELOOP_TIMER_INTERVAL", d.timer_interval)),
            metrics_port=int(e.get("ACTIVELOOP_METRICS_PORT", d.metrics_port)),
            api_timeout=float(e.get("ACTIVELOOP_API_TIMEOUT", d.api_timeout)),
        )

    def campaign_store(self, namespace: str, campaign: str) -> str:
        """Store URI of one campaign's artifacts."""
        return f"{self.store_uri}/{namespace}/{campaign}"
