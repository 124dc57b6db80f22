"""The web interface and REST API (FastAPI): one application over either backend.

``create_app(backend, auth)`` builds it; ``/api/v1`` is the REST API (its OpenAPI document at
``/api/v1/openapi.json`` is generated from the models of ``activeloop.api.views``), the rest are
server-rendered pages (``activeloop.web.pages``). Every route needs a caller (401 otherwise);
errors become JSON on the API and a page in the browser; every response carries a
Content-Security-Policy and the usual security headers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from activeloop import __version__
from activeloop.api.views import (
    CampaignCreate,
    CampaignDetail,
    CampaignSummary,
    ErrorDetail,
    HistoryPoint,
    NextRoundResult,
    Problem,
    ProblemReport,
    RecordResult,
    RoundDetail,
    RoundSummary,
    StudentView,
    Version,
)
from activeloop.errors import (
    ActiveLoopError,
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    RecordError,
    StateError,
    UnauthorizedError,
)
from activeloop.steps.layout import PLATES, plate_map
from activeloop.web.auth import CSRF_HEADER, SESSION_COOKIE, Authenticator, Session
from activeloop.web.backend import Backend, RecordOptions, User, check_artifact_key
from activeloop.web.uploads import Limits, TooLarge, read_plate

STATIC = Path(__file__).parent / "static"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@dataclass
class Settings:
    """How the server behaves (limits, cookies, the SSE poll interval)."""

    limits: Limits = field(default_factory=Limits)
    secure_cookies: bool = False
    poll_seconds: float = 2.0
    title: str = "ActiveLoop"


class SecurityHeaders(BaseHTTPMiddleware):
    """CSP, no sniffing, no framing, no referrer, no caching of authenticated pages."""

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


# ------------------------------------------------------------------------------ dependencies


def _auth(request: Request) -> Authenticator:
    return request.app.state.auth


def _backend(request: Request) -> Backend:
    return request.app.state.backend


def authenticate(request: Request, csrf: str | None = None) -> User:
    """The user of a request: bearer token, else session cookie; 401 without either.

    A cookie-authenticated request that changes something must carry the session's CSRF token
    (the ``X-CSRF-Token`` header, or ``csrf`` from a form field).
    """
    auth = _auth(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        request.state.session = None
        return auth.check(header[7:].strip())
    session = auth.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise UnauthorizedError("sign in: send 'Authorization: Bearer <token>' or use the login page")
    request.state.session = session
    if request.method not in SAFE_METHODS:
        sent = csrf or request.headers.get(CSRF_HEADER)
        if not sent or sent != session.csrf:
            raise ForbiddenError("send", "this form", "the page's CSRF token is missing or stale; reload the page")
    return session.user


def caller(request: Request) -> User:
    """FastAPI dependency: :func:`authenticate` with the CSRF token from the header."""
    return authenticate(request)


Caller = Annotated[User, Depends(caller)]
BackendDep = Annotated[Backend, Depends(_backend)]
NamespaceQ = Annotated[str | None, Query(description="Kubernetes namespace (cluster; default: the first served)")]


# ---------------------------------------------------------------------------------- errors


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
    if isinstance(exc, TooLarge):
        return 413
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


async def _error(request: Request, exc: Exception) -> Response:
    code = status_of(exc)
    if code == 401 and isinstance(exc, UnauthorizedError):
        token = request.headers.get("authorization", "")[7:].strip()
        if token:
            _auth(request).end_sessions_of(token)
        session = _auth(request).session(request.cookies.get(SESSION_COOKIE))
        if session is not None and session.user.token:
            _auth(request).end_session(session.id)
    if _wants_html(request):
        if code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={target}&reason={type(exc).__name__}", status_code=303)
        from activeloop.web.pages import render

        return render(request, "error.html", {"code": code, "message": str(exc)}, status=code)
    if isinstance(exc, RecordError | InputError):
        return JSONResponse(problem_report(exc).dump(), status_code=code)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    problems = [Problem(line=0, column=".".join(str(p) for p in e["loc"] if p != "body"), problem=e["msg"])
                for e in exc.errors()]
    report = ProblemReport(detail="; ".join(f"{p.column}: {p.problem}" for p in problems), problems=problems)
    return JSONResponse(report.dump(), status_code=422)


# ---------------------------------------------------------------------------------- the API

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


api = APIRouter(prefix="/api/v1", tags=["campaigns"], dependencies=[Depends(known_query_only)])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "No credentials, or credentials no longer accepted"},
    403: {"model": ErrorDetail, "description": "The caller may not do this"},
    404: {"model": ErrorDetail, "description": "No such campaign, round or artifact"},
    422: {"model": ProblemReport, "description": "Bad input: every problem named, nothing changed"},
}


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    """Backend calls do file and network I/O: off the event loop."""
    return await asyncio.to_thread(fn, *args)


@api.get("/whoami", responses=ERRORS)
async def whoami(user: Caller, backend: BackendDep) -> dict[str, Any]:
    """Who the server thinks you are, and which backend it serves."""
    return {"user": user.name, "backend": backend.kind, "namespaces": list(backend.namespaces),
            "version": __version__}


@api.get("/campaigns", response_model=list[CampaignSummary], responses=ERRORS)
async def list_campaigns(user: Caller, backend: BackendDep) -> list[CampaignSummary]:
    """Every campaign you may see."""
    return await _run(backend.campaigns, user)


@api.post("/campaigns", response_model=CampaignDetail, status_code=201,
          responses={**ERRORS, 409: {"model": ErrorDetail, "description": "A campaign of that name exists"},
                     422: {"model": ProblemReport, "description": "The spec is invalid (each field named)"}},
          openapi_extra={"requestBody": {"content": {
              "application/json": {"schema": CampaignCreate.model_json_schema(by_alias=True)},
              "application/yaml": {"schema": {"type": "string"}}}, "required": True}})
async def create_campaign(request: Request, user: Caller, backend: BackendDep,
                          namespace: NamespaceQ = None) -> CampaignDetail:
    """Start a campaign: JSON ``{name, spec}``, or YAML (a Campaign manifest, or ``name:`` and ``spec:``)."""
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    try:
        doc = yaml.safe_load(body) if "yaml" in kind else json.loads(body or b"null")
    except (yaml.YAMLError, ValueError) as exc:
        raise InputError("body", f"not valid {'YAML' if 'yaml' in kind else 'JSON'}: {exc}") from None
    if isinstance(doc, dict) and doc.get("kind") == "Campaign":
        doc = {"name": (doc.get("metadata") or {}).get("name"), "spec": doc.get("spec")}
    from pydantic import ValidationError

    from activeloop.errors import format_validation_error

    try:
        create = CampaignCreate.model_validate(doc)
    except ValidationError as exc:
        raise InputError("body", format_validation_error(exc)) from None
    return await _run(backend.create_campaign, user, create.name, create.spec, namespace)


@api.get("/campaigns/{name}", response_model=CampaignDetail, responses=ERRORS)
async def get_campaign(name: str, user: Caller, backend: BackendDep, namespace: NamespaceQ = None) -> CampaignDetail:
    """A campaign: spec, phase, current round, best so far, pending, conditions."""
    return await _run(backend.campaign, user, name, namespace)


@api.get("/campaigns/{name}/rounds", response_model=list[RoundSummary], responses=ERRORS)
async def list_rounds(name: str, user: Caller, backend: BackendDep, namespace: NamespaceQ = None) -> list[RoundSummary]:
    """The campaign's rounds: phase, times, counts, each step's cost."""
    return await _run(backend.rounds, user, name, namespace)


@api.get("/campaigns/{name}/rounds/{number}", response_model=RoundDetail, responses=ERRORS)
async def get_round(name: str, number: int, user: Caller, backend: BackendDep,
                    namespace: NamespaceQ = None) -> RoundDetail:
    """One round: its proposals with predicted mean and standard deviation, and their results."""
    return await _run(backend.round, user, name, number, namespace)


@api.get("/campaigns/{name}/rounds/{number}/proposals.csv", response_class=Response,
         responses={**ERRORS, 200: {"content": {"text/csv": {}}, "description": "The proposals as CSV"}})
async def proposals_csv(name: str, number: int, user: Caller, backend: BackendDep,
                        layout: Annotated[int | None, Query(description="96 or 384: add plate and well")] = None,
                        namespace: NamespaceQ = None) -> Response:
    """A round's proposals to download; with ``layout`` a plate map (wells in pipetting order)."""
    if layout is not None and layout not in PLATES:
        raise InputError("layout", f"{layout}: use one of {sorted(PLATES)}")
    table = await _run(backend.proposals_table, user, name, number, namespace)
    if layout is not None:
        table = plate_map(table, layout)
    suffix = f"-plate{layout}" if layout else ""
    filename = f"{name}-round{number}{suffix}.csv"
    return Response(table.to_csv(index=False), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@api.get("/campaigns/{name}/history", response_model=list[HistoryPoint], responses=ERRORS)
async def history(name: str, user: Caller, backend: BackendDep, namespace: NamespaceQ = None) -> list[HistoryPoint]:
    """Best value found by the end of each round."""
    return await _run(backend.history, user, name, namespace)


@api.post("/campaigns/{name}/results", response_model=RecordResult,
          responses={**ERRORS,
                     409: {"model": ErrorDetail, "description": "The Idempotency-Key was used for other results"},
                     413: {"model": ErrorDetail, "description": "Over the upload limits (bytes or rows)"},
                     422: {"model": ProblemReport, "description": "Bad rows: every one listed, nothing recorded"}},
          openapi_extra={"requestBody": {"content": {
              "multipart/form-data": {"schema": {"type": "object", "properties": {
                  "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
              "text/csv": {"schema": {"type": "string"}},
              "application/json": {"schema": {"$ref": "#/components/schemas/ResultsUpload"}}}, "required": True}})
async def record_results(
    request: Request, name: str, user: Caller, backend: BackendDep,
    dry_run: Annotated[bool, Query(alias="dryRun", description="Check only: record nothing")] = False,
    value_column: Annotated[str | None, Query(alias="valueColumn",
                                              description="The value column (case-insensitive)")] = None,
    decimal: Annotated[str, Query(pattern=r"^[.,]$", description="Decimal mark: '.' or ','")] = ".",
    sheet: Annotated[str | None, Query(description="Excel: the sheet to read")] = None,
    plate: Annotated[str | None, Query(description="Name of the plate")] = None,
    supersedes: Annotated[list[str] | None, Query(description="Earlier plates this one corrects")] = None,
    replicates: Annotated[str, Query(pattern="^(mean|median)$")] = "mean",
    round: Annotated[int | None, Query(ge=1)] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    namespace: NamespaceQ = None,
) -> RecordResult:
    """Record a plate: all its rows, or nothing (422 lists every bad row). Re-sending the same
    plate records nothing twice; corrections name what they supersede."""
    table, upload = await read_plate(request, name, request.app.state.settings.limits)
    options = RecordOptions(value_column=value_column, decimal=decimal, sheet=sheet,
                            name=plate or (upload.name if upload else None),
                            supersedes=tuple(supersedes or (upload.supersedes if upload else ())),
                            replicates=upload.replicates if upload else replicates,
                            round=round or (upload.round if upload else None), dry_run=dry_run,
                            idempotency_key=idempotency_key)
    return await _run(backend.record, user, name, table, options, namespace)


@api.post("/campaigns/{name}/rounds:next", response_model=NextRoundResult,
          responses={**ERRORS,
                     409: {"model": ErrorDetail, "description": "A round is being prepared, or all rounds are done"}})
async def next_round(name: str, user: Caller, backend: BackendDep, namespace: NamespaceQ = None) -> NextRoundResult:
    """Start the next round now ("update the model"): the current round closes, whatever is pending."""
    return await _run(backend.next_round, user, name, namespace)


@api.get("/campaigns/{name}/students", response_model=list[StudentView], responses=ERRORS)
async def students(name: str, user: Caller, backend: BackendDep, namespace: NamespaceQ = None) -> list[StudentView]:
    """Distilled students and their figures."""
    return await _run(backend.students, user, name, namespace)


@api.get("/campaigns/{name}/artifacts/{key:path}", responses={**ERRORS, 200: {
    "content": {"application/octet-stream": {}}, "description": "The artifact"}})
async def artifact(name: str, key: str, user: Caller, backend: BackendDep, namespace: NamespaceQ = None) -> Response:
    """An artifact of the campaign (proposals, records, student ONNX files) streamed by the server."""
    check_artifact_key(key)
    data = await _run(backend.artifact, user, name, key, namespace)
    media = {"csv": "text/csv", "json": "application/json", "yaml": "text/yaml"}.get(key.rsplit(".", 1)[1],
                                                                                       "application/octet-stream")
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{key.rsplit("/", 1)[-1]}"'})


@api.get("/campaigns/{name}/version", response_model=Version, responses=ERRORS)
async def version(name: str, user: Caller, backend: BackendDep, namespace: NamespaceQ = None) -> Version:
    """The polling contract: ``version`` changes whenever the campaign page would change."""
    return await _run(backend.version, user, name, namespace)


@api.get("/campaigns/{name}/events", response_class=StreamingResponse,
         responses={**ERRORS, 200: {"content": {"text/event-stream": {}},
                                    "description": "Server-sent events: 'state' with a Version when it changes"}})
async def events(request: Request, name: str, user: Caller, backend: BackendDep,
                 timeout: Annotated[float, Query(gt=0, le=3600, description="Close after this many seconds")] = 600,
                 namespace: NamespaceQ = None) -> StreamingResponse:
    """Server-sent events: an ``event: state`` with the campaign's :class:`Version` at once and
    whenever it changes (checked every few seconds), a comment every 15 s to keep proxies open."""
    first = await _run(backend.version, user, name, namespace)
    poll = request.app.state.settings.poll_seconds

    async def stream() -> AsyncIterator[str]:
        last = first
        yield f"event: state\ndata: {json.dumps(first.dump())}\n\n"
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        quiet = 0.0
        while loop.time() < end and not await request.is_disconnected():
            await asyncio.sleep(poll)
            quiet += poll
            try:
                now = await _run(backend.version, user, name, namespace)
            except ActiveLoopError as exc:
                yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n"
                return
            if now.version != last.version:
                last, quiet = now, 0.0
                yield f"event: state\ndata: {json.dumps(now.dump())}\n\n"
            elif quiet >= 15:
                quiet = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


# ------------------------------------------------------------------------------ the factory


def create_app(backend: Backend, auth: Authenticator, settings: Settings | None = None) -> FastAPI:
    """The web interface and REST API over ``backend``, authenticating with ``auth``."""
    from activeloop.web import pages

    app = FastAPI(title="ActiveLoop", version=__version__, docs_url="/api/v1/docs", redoc_url=None,
                  openapi_url="/api/v1/openapi.json",
                  description="Proposals out, plate results in, progress visible: the same on a "
                              "workstation and on a cluster.")
    app.state.backend = backend
    app.state.auth = auth
    app.state.settings = settings or Settings()
    app.add_middleware(SecurityHeaders)
    # JSON, CSV, CSS and scripts are compressed; HTML pages are not, as they carry the CSRF token
    # next to user-supplied strings (the BREACH attack needs exactly that mix)
    app.add_middleware(GZipMiddleware, minimum_size=1024,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "text/html"))
    app.add_exception_handler(ActiveLoopError, _error)
    app.add_exception_handler(TooLarge, _error)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.include_router(api)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def session_of(request: Request) -> Session | None:
    """The request's cookie session (set by :func:`caller`), if it came with one."""
    return getattr(request.state, "session", None)


__all__ = ["Settings", "authenticate", "caller", "create_app", "problem_report", "session_of", "status_of"]
