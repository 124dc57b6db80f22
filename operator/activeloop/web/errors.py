"""How errors reach the caller, in one place: ActiveLoop's errors become HTTP statuses, JSON on
the API (every bad field or row named) and a page in the browser (the sign-in page for 401)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from activeloop.api.views import Problem, ProblemReport
from activeloop.errors import (
    ActiveLoopError,
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    RecordError,
    StalledError,
    StateError,
    TooLargeError,
    UnauthorizedError,
)
from activeloop.web.auth import SESSION_COOKIE
from activeloop.web.deps import get_auth
from activeloop.web.render import render


def problem_report(exc: ActiveLoopError) -> ProblemReport:
    """A 422 body for bad input: every problem with line (or 0) and column (or field)."""
    if isinstance(exc, RecordError):
        return ProblemReport(detail=str(exc).splitlines()[0],
                             problems=[Problem(line=p.line, column=p.column, problem=p.problem) for p in exc.problems])
    if isinstance(exc, InputError):
        problems = [Problem(line=0, column=exc.field, problem=part.strip()) for part in exc.problem.split("; ")]
        return ProblemReport(detail=str(exc), problems=problems)
    return ProblemReport(detail=str(exc))


def status_of(exc: Exception) -> int:
    """The HTTP status of an error."""
    if isinstance(exc, TooLargeError):
        return 413
    if isinstance(exc, StalledError):
        return 408
    if isinstance(exc, UnauthorizedError):
        return 401
    if isinstance(exc, ForbiddenError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError | StateError):
        return 409
    if isinstance(exc, RecordError | InputError):
        return 422
    return 500 if not isinstance(exc, ActiveLoopError) else 400


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def on_error(request: Request, exc: Exception) -> Response:
    """An ActiveLoop error as JSON (the API) or a page (a browser)."""
    code = status_of(exc)
    if code == 401 and isinstance(exc, UnauthorizedError):
        auth = get_auth(request)
        token = request.headers.get("authorization", "")[7:].strip()
        if token:
            auth.end_sessions_of(token)
        session = auth.session(request.cookies.get(SESSION_COOKIE))
        if session is not None and session.user.token:
            auth.end_session(session.id)
    if _wants_html(request):
        if code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            reason = "expired" if request.cookies.get(SESSION_COOKIE) else "signin"
            return RedirectResponse(f"/login?next={target}&reason={reason}", status_code=303)
        return render(request, "error.html", {"code": code, "message": str(exc)}, status=code)
    if isinstance(exc, RecordError | InputError):
        return JSONResponse(problem_report(exc).dump(), status_code=code)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own validation of paths, queries and headers: 422 naming each."""
    assert isinstance(exc, RequestValidationError)
    problems = [Problem(line=0, column=".".join(str(p) for p in e["loc"] if p != "body"), problem=e["msg"])
                for e in exc.errors()]
    report = ProblemReport(detail="; ".join(f"{p.column}: {p.problem}" for p in problems), problems=problems)
    return JSONResponse(report.dump(), status_code=422)


def install(app: FastAPI) -> None:
    """The app's error handlers."""
    app.add_exception_handler(ActiveLoopError, on_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


__all__ = ["install", "problem_report", "status_of"]
