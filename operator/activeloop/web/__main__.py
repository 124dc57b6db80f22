"""The web interface on a cluster: ``python -m activeloop.web`` (the chart's UI Deployment).

Configuration from the environment: ``ACTIVELOOP_UI_NAMESPACES`` (the namespaces served, comma
separated), ``ACTIVELOOP_STORE_URI`` and the ``MINIO_*`` variables (the artifact store, as the
operator's), ``ACTIVELOOP_UI_PORT`` (8080), ``ACTIVELOOP_UI_SECURE_COOKIES`` (``true`` behind TLS).
Every request acts with its caller's own token (see ``activeloop.web.cluster``).
"""

from __future__ import annotations

import os

import uvicorn

from activeloop.web.app import Settings, create_app
from activeloop.web.auth import PassThrough
from activeloop.web.cluster import ClusterBackend


def main() -> None:
    """Serve the cluster web interface."""
    namespaces = [n.strip() for n in os.environ.get("ACTIVELOOP_UI_NAMESPACES", "default").split(",") if n.strip()]
    backend = ClusterBackend(namespaces, os.environ.get("ACTIVELOOP_STORE_URI", "s3://activeloop"))
    settings = Settings(secure_cookies=os.environ.get("ACTIVELOOP_UI_SECURE_COOKIES", "true").lower() == "true")
    app = create_app(backend, PassThrough(), settings)
    uvicorn.run(app, host="0.0.0.0", port=int(os.environ.get("ACTIVELOOP_UI_PORT", "8080")),
                proxy_headers=True, forwarded_allow_ips="*", log_level="info")


if __name__ == "__main__":
    main()
