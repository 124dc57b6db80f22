"""The API's own description: the OpenAPI document and its interactive page (Swagger UI 5, from
the ``fastapi-offline`` package: served by this server, so it works without internet and under
the server's Content-Security-Policy), for signed-in callers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

from activeloop.web.deps import AUTHENTICATED
from activeloop.web.render import TEMPLATES
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
    """The interactive API page (Swagger UI, served by this server; its start-up script is a file
    of ours, as the page's policy runs no inline script)."""
    return TEMPLATES.TemplateResponse(request, "docs.html", {"openapi_url": "/api/v1/openapi.json"})


__all__ = ["router"]
