"""What every route depends on: the campaign service, and who is calling.

Identity is a dependency of every router (pages and API alike), so a route cannot exist without
it; it is checked from headers and the session cookie only, before any body is read (no route
declares a body parameter, which FastAPI would read first; a test checks that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from activeloop.errors import ForbiddenError, InputError, UnauthorizedError
from activeloop.service.base import CampaignService, User
from activeloop.web.auth import CSRF_HEADER, SESSION_COOKIE, Authenticator, Session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"


def get_service(request: Request) -> CampaignService:
    """The campaign service the app serves."""
    return request.app.state.service


def get_auth(request: Request) -> Authenticator:
    """The app's authenticator (tokens and sessions)."""
    return request.app.state.auth


async def caller(request: Request) -> User:
    """The user of a request: bearer token, else session cookie; :class:`UnauthorizedError`
    without either. Nothing of the body is read before the caller is known.

    A cookie-authenticated request that changes something must carry the session's CSRF token:
    the ``X-CSRF-Token`` header, or (plain HTML forms) a ``csrf_token`` form field, read from the
    form (bounded, see ``web.uploads``) only once the session is known.
    """
    auth = get_auth(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        request.state.session = None
        user = auth.authenticate(header[7:].strip(), request.client.host if request.client else "")
        return await asyncio.to_thread(get_service(request).identify, user)
    session = auth.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise UnauthorizedError("sign in: send 'Authorization: Bearer <token>' or use the login page")
    request.state.session = session
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if not sent and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            from activeloop.web.uploads import read_form

            sent = str((await read_form(request)).get(CSRF_FIELD) or "")
        if not sent or sent != session.csrf:
            raise ForbiddenError("send", "this form", "the page's CSRF token is missing or stale; reload the page")
    return session.user


def session_of(request: Request) -> Session | None:
    """The request's cookie session (set by :func:`caller`), if it came with one."""
    return getattr(request.state, "session", None)


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query_only(request: Request) -> None:
    """An unknown query parameter is an error, never silently ignored: a misspelt ``?dry_run=true``
    would otherwise record a plate for real."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise InputError(f"query.{unknown[0]}", f"this route takes no such parameter (it takes: {takes})")


async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A service call (file and network I/O) off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


Caller = Annotated[User, Depends(caller)]
ServiceDep = Annotated[CampaignService, Depends(get_service)]
NamespaceQ = Annotated[str | None, Query(description="Kubernetes namespace (cluster; default: the first served)")]
AUTHENTICATED = [Depends(caller)]
"""The dependencies of every router but sign-in's: identity first."""

__all__ = ["AUTHENTICATED", "CSRF_FIELD", "Caller", "NamespaceQ", "ServiceDep", "caller", "get_auth", "get_service",
           "known_query_only", "run", "session_of"]
