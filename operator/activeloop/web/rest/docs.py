"""The API's own description: the OpenAPI document and its interactive page, for signed-in callers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from activeloop.web.deps import AUTHENTICATED
from activeloop.web.rest.common import router as make_router

router = make_router("documentation")
router.dependencies = list(AUTHENTICATED)  # the documentation takes no query parameters at all


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    """The OpenAPI document."""
    doc: dict[str, Any] = request.app.openapi()
    return JSONResponse(doc)


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    """The interactive API page (Swagger UI, served by this server)."""
    return get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="ActiveLoop API",
                               swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
                               swagger_css_url="/static/swagger-ui/swagger-ui.css",
                               swagger_favicon_url="/static/favicon.svg")


__all__ = ["router"]
