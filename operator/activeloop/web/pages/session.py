"""Signing in and out. Signing in is the one place (with the health check) open to anyone."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from activeloop.errors import UnauthorizedError
from activeloop.web.auth import SESSION_COOKIE, SESSION_SECONDS
from activeloop.web.deps import AUTHENTICATED, get_auth, get_service
from activeloop.web.render import render
from activeloop.web.uploads import read_form

public = APIRouter(include_in_schema=False)
"""Routes open without identity: the sign-in page and form, and the health check."""
router = APIRouter(include_in_schema=False, dependencies=AUTHENTICATED)

MESSAGES = {"expired": "Your session ended or your token is no longer accepted: sign in again.",
            "signin": None}


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after signing in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "") if not parts.netloc else "/"


@public.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the server answers."""
    return {"status": "ok"}


@public.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None, reason: str | None = None,
                     token: str | None = None) -> Response:
    """The sign-in page; ``?token=`` signs in at once (as the link printed at start does)."""
    if token:
        return _signed_in(request, token, next)
    return render(request, "login.html", {"next": safe_next(next), "message": MESSAGES.get(reason or "signin")})


@public.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Exchange a token for a session cookie (the form is bounded: a few kilobytes)."""
    form = await read_form(request)
    return _signed_in(request, str(form.get("token") or ""), str(form.get("next") or "/"))


def _signed_in(request: Request, token: str, target: str | None) -> Response:
    auth = get_auth(request)
    try:
        user = auth.authenticate(token, client=request.client.host if request.client else "")
        session = auth.start_session(get_service(request).identify(user))
    except UnauthorizedError as exc:
        return render(request, "login.html", {"next": safe_next(target), "message": str(exc)}, status=401)
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(SESSION_COOKIE, session.id, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (the caller and the page's CSRF token are checked first)."""
    get_auth(request).end_session(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


__all__ = ["public", "router", "safe_next"]
