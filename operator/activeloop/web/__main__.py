"""The web interface on a cluster: ``python -m activeloop.web`` (the chart's UI Deployment).

Configuration from the environment: ``ACTIVELOOP_UI_NAMESPACES`` (the namespaces served, comma
separated), ``ACTIVELOOP_STORE_URI`` and the ``MINIO_*`` variables (the artifact store, as the
operator's), ``ACTIVELOOP_UI_PORT`` (8080), ``ACTIVELOOP_UI_SECURE_COOKIES`` (``true`` behind TLS).
Every request acts with its caller's own token (see ``activeloop.service.cluster``).
"""

from __future__ import annotations

import os

import uvicorn

from activeloop.service.cluster import ClusterService
from activeloop.web.app import Settings, create_app
from activeloop.web.auth import PassThrough


def main() -> None:
    """Serve the cluster web interface."""
    namespaces = [n.strip() for n in os.environ.get("ACTIVELOOP_UI_NAMESPACES", "default").split(",") if n.strip()]
    service = ClusterService(namespaces, os.environ.get("ACTIVELOOP_STORE_URI", "s3://activeloop"))
    settings = Settings(secure_cookies=os.environ.get("ACTIVELOOP_UI_SECURE_COOKIES", "true").lower() == "true")
    app = create_app(service, PassThrough(), settings)
    # idle and slow connections are closed (keep-alive 5 s; uvicorn's h11 limit on incomplete
    # requests), and at most 256 requests are served at once
    uvicorn.run(app, host="0.0.0.0", port=int(os.environ.get("ACTIVELOOP_UI_PORT", "8080")),
                proxy_headers=True, forwarded_allow_ips="*", log_level="info", timeout_keep_alive=5,
                limit_concurrency=256, h11_max_incomplete_event_size=64 * 1024)


if __name__ == "__main__":
    main()
