"""The web interface and REST API (FastAPI): one application over either campaign service.

``create_app(service, auth)`` builds it from routers, one per resource (``web.rest`` for the API
under ``/api/v1``, ``web.pages`` for the pages), every one of them depending on the caller's
identity except the sign-in page and the health check. Errors become JSON on the API and a page
in the browser (``web.errors``); every body is bounded while it streams (``web.uploads``); every
response carries a Content-Security-Policy and the usual security headers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from activeloop import __version__
from activeloop.api.views import CampaignCreate, LibraryCheck, NextRoundRequest, ResultsUpload
from activeloop.service.base import CampaignService
from activeloop.web import errors, pages, rest
from activeloop.web.auth import Authenticator
from activeloop.web.uploads import ASGIApp, BodyLimit, Limits, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
PUBLIC_PATHS = ("/login", "/healthz")
"""The only routes open without identity (and the static assets)."""


@dataclass
class Settings:
    """How the server behaves (limits, cookies, the SSE poll interval)."""

    limits: Limits = field(default_factory=Limits)
    secure_cookies: bool = False
    poll_seconds: float = 2.0
    title: str = "ActiveLoop"


class SecurityHeaders:
    """ASGI middleware: CSP, no sniffing, no framing, no referrer, no caching of authenticated pages."""

    HEADERS = ((b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
               (b"cross-origin-opener-policy", b"same-origin"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, adding the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                extra = list(self.HEADERS) + ([] if static else [(b"cache-control", b"no-store")])
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with the schemas that request bodies refer to (bodies are read by
    the routes themselves, after identity, so FastAPI does not list them)."""
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in (CampaignCreate, LibraryCheck, NextRoundRequest, ResultsUpload):
                body = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
                schemas.update(body.pop("$defs", {}))
                schemas[model.__name__] = body
            app.openapi_schema = doc
        return app.openapi_schema

    return build


def create_app(service: CampaignService, auth: Authenticator, settings: Settings | None = None) -> FastAPI:
    """The web interface and REST API over ``service``, authenticating with ``auth``."""
    app = FastAPI(title="ActiveLoop", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  description="Proposals out, plate results in, progress visible: the same on a "
                              "workstation and on a cluster.")
    app.state.service = service
    app.state.auth = auth
    app.state.settings = settings or Settings()
    # innermost first: a body over its limit is refused where the routes read it
    app.add_middleware(BodyLimit, limits=lambda: app.state.settings.limits)
    # JSON, CSV, CSS and scripts are compressed; HTML pages are not, as they carry the CSRF token
    # next to user-supplied strings (the BREACH attack needs exactly that mix)
    app.add_middleware(GZipMiddleware, minimum_size=1024,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "text/html"))
    app.add_middleware(SecurityHeaders)
    errors.install(app)
    app.state.routers = (*rest.ROUTERS, *pages.ROUTERS)
    for router in app.state.routers:
        app.include_router(router)
    # the REST API page's Swagger UI (5.x, which reads OpenAPI 3.1), from the fastapi-offline
    # package's copy (before /static, which would shadow it)
    app.mount("/static/swagger-ui", StaticFiles(directory=str(files("fastapi_offline") / "static")), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


__all__ = ["CSP", "PUBLIC_PATHS", "Settings", "create_app"]
