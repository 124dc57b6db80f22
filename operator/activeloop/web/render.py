"""Server-rendered pages: the templates, and what every page shows (who is signed in, the CSRF
token of its forms). Jinja2 escapes every string it puts into a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from activeloop import __version__
from activeloop.web.deps import session_of

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page, with what every page shows (who is signed in, the CSRF token for its forms)."""
    session = session_of(request)
    base = {"request": request, "title": request.app.state.settings.title, "version": __version__,
            "backend": request.app.state.service.kind, "user": context.pop("user", None),
            "csrf": session.csrf if session else "", "quote": quote}
    return TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status)


__all__ = ["TEMPLATES", "render"]
