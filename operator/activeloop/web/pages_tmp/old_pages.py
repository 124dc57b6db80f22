"""Server-rendered pages: the campaigns list, a campaign, a new campaign, login and logout.

Pages are Jinja2 templates (autoescaped: every user string is escaped) with a little JavaScript
(``static/app.js``) for drag-and-drop uploads, live updates and picking sites on a sequence. Every
form that changes something carries the session's CSRF token. The pages call the same backend as
the REST API, so they can do nothing the API would refuse.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from activeloop import __version__
from activeloop.api.names import ENCODINGS, STRATEGIES, SURROGATE_KINDS
from activeloop.api.views import RoundDetail
from activeloop.errors import ActiveLoopError, InputError, NotFoundError, UnauthorizedError
from activeloop.web import charts
from activeloop.web.auth import SESSION_COOKIE, SESSION_SECONDS
from activeloop.web.backend import RecordOptions, page_version

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page, with what every page shows (who is signed in, the CSRF token for its forms)."""
    from activeloop.web.app import session_of

    session = session_of(request)
    base = {"request": request, "title": request.app.state.settings.title, "version": __version__,
            "backend": request.app.state.backend.kind, "user": context.pop("user", None),
            "csrf": session.csrf if session else "", "quote": quote}
    return TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status)


async def _run(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ------------------------------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None, reason: str | None = None,
                     token: str | None = None) -> Response:
    """The login page; ``?token=`` signs in at once (as the link printed at start does)."""
    if token:
        return _signed_in(request, token, next)
    message = None
    if reason == "UnauthorizedError":
        message = "Your session ended or your token is no longer accepted: sign in again."
    return render(request, "login.html", {"next": _safe_next(next), "message": message})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Exchange a token for a session cookie."""
    form = await request.form()
    return _signed_in(request, str(form.get("token") or ""), str(form.get("next") or "/"))


def _signed_in(request: Request, token: str, target: str | None) -> Response:
    try:
        session = request.app.state.auth.start_session(token)
        request.app.state.backend.check_login(session.user)
    except UnauthorizedError as exc:
        return render(request, "login.html", {"next": _safe_next(target), "message": str(exc)}, status=401)
    response = RedirectResponse(_safe_next(target), status_code=303)
    response.set_cookie(SESSION_COOKIE, session.id, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (needs the page's CSRF token)."""
    from activeloop.web.app import authenticate

    form = await request.form()
    authenticate(request, str(form.get("csrf_token") or ""))
    request.app.state.auth.end_session(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --------------------------------------------------------------------------------- campaigns


@router.get("/", response_class=HTMLResponse)
async def campaigns(request: Request, q: str | None = None) -> Response:
    """Every campaign: name, phase, round, best so far, pending assays, last change; a filter."""
    from activeloop.web.app import authenticate

    user = authenticate(request)
    items = await _run(request.app.state.backend.campaigns, user)
    if q:
        items = [c for c in items if q.lower() in c.name.lower() or q.lower() in c.phase.lower()]
    return render(request, "campaigns.html", {"user": user, "campaigns": items, "q": q or ""})


@router.get("/campaigns/new", response_class=HTMLResponse)
async def new_campaign_page(request: Request) -> Response:
    """A form for a new campaign: sequence (pasted or FASTA), sites picked on it, models, sizes."""
    from activeloop.web.app import authenticate

    user = authenticate(request)
    return render(request, "new.html", {"user": user, "form": {}, "problems": [], **_choices()})


def _choices() -> dict[str, Any]:
    return {"surrogates": SURROGATE_KINDS, "encodings": ENCODINGS, "strategies": STRATEGIES}


def parse_fasta(text: str) -> str:
    """A sequence pasted plainly or as FASTA (header lines and whitespace dropped)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return "".join(line for line in lines if line and not line.startswith(">")).replace(" ", "").upper()


@router.post("/campaigns/new", response_class=HTMLResponse)
async def new_campaign(request: Request) -> Response:
    """Create the campaign, or show the form again with every problem named."""
    from activeloop.web.app import authenticate, problem_report

    form = {k: str(v) for k, v in (await request.form()).items()}
    user = authenticate(request, form.get("csrf_token"))
    try:
        spec = _spec_from_form(form)
        detail = await _run(request.app.state.backend.create_campaign, user, form.get("name", "").strip(), spec,
                            form.get("namespace") or None)
    except InputError as exc:
        report = problem_report(exc)
        return render(request, "new.html", {"user": user, "form": form, "problems": report.problems,
                                            "message": report.detail, **_choices()}, status=422)
    target = f"/campaigns/{quote(detail.name)}" + (f"?namespace={quote(detail.namespace)}" if detail.namespace else "")
    return RedirectResponse(target, status_code=303)


def _spec_from_form(form: dict[str, str]) -> dict[str, Any]:
    def number(key: str, default: int) -> int:
        raw = form.get(key, "").strip()
        if not raw:
            return default
        if not raw.isdigit():
            raise InputError(key, f"{raw!r} is not a whole number")
        return int(raw)

    sites = [s for s in form.get("sites", "").replace(";", ",").split(",") if s.strip()]
    if not all(s.strip().isdigit() for s in sites):
        raise InputError("library.sites", f"{form.get('sites')!r}: give 1-based positions like 39,40,41")
    spec: dict[str, Any] = {
        "parentSequence": parse_fasta(form.get("parent", "")),
        "library": {"sites": [int(s) for s in sites], "alphabet": form.get("alphabet", "").strip().upper()
                    or "ACDEFGHIKLMNPQRSTVWY"},
        "surrogate": {"kind": form.get("surrogate") or "gp_epistasis", "encoding": form.get("encoding") or "onehot"},
        "acquisition": {"strategy": form.get("strategy") or "thompson", "batchSize": number("batch", 96)},
        "initialBatchSize": number("initial", 96),
        "rounds": number("rounds", 4),
        "objective": {"name": form.get("objective") or "fitness",
                      "direction": form.get("direction") or "maximize"},
    }
    if form.get("backbone", "").strip():
        spec["backbone"] = {"model": form["backbone"].strip()}
    return spec


@router.get("/campaigns/{name}", response_class=HTMLResponse)
async def campaign(request: Request, name: str, namespace: str | None = None) -> Response:
    """One campaign: timeline, curve, predicted against measured, proposals, upload, next round."""
    from activeloop.web.app import authenticate

    user = authenticate(request)
    return render(request, "campaign.html", await _campaign_context(request, user, name, namespace))


async def _campaign_context(request: Request, user: Any, name: str, namespace: str | None) -> dict[str, Any]:
    backend = request.app.state.backend
    detail = await _run(backend.campaign, user, name, namespace)
    rounds = await _run(backend.rounds, user, name, namespace)
    history = await _run(backend.history, user, name, namespace)
    students = await _run(backend.students, user, name, namespace)
    with_props = [r for r in rounds if r.proposed]
    current: RoundDetail | None = None
    if with_props:
        current = await _run(backend.round, user, name, with_props[-1].round, namespace)
    judged = await _judged_round(backend, user, name, namespace, with_props, current)
    return {"user": user, "c": detail, "rounds": rounds, "current": current, "students": students,
            "ns": namespace, "curve": _curve(history, detail.direction), "fit": _fit_chart(judged),
            "costs": _costs(rounds), "layouts": (96, 384), "version": page_version(detail, rounds).version}


async def _judged_round(backend: Any, user: Any, name: str, namespace: str | None, with_props: list,
                        current: RoundDetail | None) -> RoundDetail | None:
    """The latest round whose predictions can be compared with results."""
    for r in reversed(with_props):
        rd = current if current is not None and current.round == r.round else \
            await _run(backend.round, user, name, r.round, namespace)
        if sum(p.mean is not None and p.measured is not None for p in rd.proposals) >= 2:
            return rd
    return None


def _curve(history: list, direction: str) -> Any:
    points = [(h.round, h.best) for h in history]
    best = "highest" if direction == "maximize" else "lowest"
    return charts.line_chart(points, x_label="round", y_label=f"best so far ({best})",
                             title="best value found by the end of each round",
                             empty="No curve yet: it starts once the first round's results are recorded.")


def _fit_chart(rd: RoundDetail | None) -> dict[str, Any]:
    if rd is None:
        return {"chart": charts.missing("Nothing to compare yet: the model's predictions meet measurements "
                                        "once a round proposed by the model (round 2 on) has results."),
                "round": None, "spearman": None}
    pts = [(p.mean, p.measured, p.variant) for p in rd.proposals if p.mean is not None and p.measured is not None]
    rho = float(pd.Series([p[0] for p in pts]).corr(pd.Series([p[1] for p in pts]), method="spearman")) \
        if len(pts) > 2 else None
    scale = "normal score" if rd.prediction_scale == "normal score" else "predicted value"
    empty = "Fewer than two of this round's proposals have both a prediction and a result."
    return {"chart": charts.scatter(pts, x_label=f"predicted ({scale})", y_label="measured",
                                    title=f"round {rd.round}: predicted against measured", empty=empty),
            "round": rd.round, "spearman": None if rho is None or math.isnan(rho) else rho, "n": len(pts)}


def _costs(rounds: list) -> list[dict[str, Any]]:
    out = []
    for r in rounds:
        row: dict[str, Any] = {"round": r.round}
        total_wall = total_cpu = total_energy = 0.0
        seen = False
        for step in ("tune", "score", "acquire"):  # score: the shards of a sharded round
            cost = (r.steps.get(step) or None) and r.steps[step].cost
            if cost is not None:
                seen = True
                total_wall += cost.wall_seconds or 0.0
                total_cpu += cost.cpu_seconds or 0.0
                total_energy += cost.energy_kwh or 0.0
        if seen:
            row.update(wall=total_wall, cpu=total_cpu, energy_wh=total_energy * 1000)
        out.append(row)
    return out


@router.post("/campaigns/{name}/next")
async def next_round_form(request: Request, name: str, namespace: str | None = None) -> Response:
    """The 'start next round' button without JavaScript."""
    from activeloop.web.app import authenticate

    form = await request.form()
    user = authenticate(request, str(form.get("csrf_token") or ""))
    await _run(request.app.state.backend.next_round, user, name, namespace)
    return RedirectResponse(f"/campaigns/{quote(name)}" + (f"?namespace={quote(namespace)}" if namespace else ""),
                            status_code=303)


@router.post("/campaigns/{name}/upload", response_class=HTMLResponse)
async def upload_form(request: Request, name: str, namespace: str | None = None) -> Response:
    """Upload a plate without JavaScript: check it (or record it), and show the outcome on the page."""
    from activeloop.steps import ingest
    from activeloop.web.app import authenticate, problem_report

    limits = request.app.state.settings.limits
    form = await request.form(max_files=1, max_part_size=limits.max_bytes)
    user = authenticate(request, str(form.get("csrf_token") or ""))
    upload = form.get("file")
    context = await _campaign_context(request, user, name, namespace)
    if upload is None or isinstance(upload, str):
        context["upload"] = {"message": "choose a file first"}
        return render(request, "campaign.html", context, status=422)
    data = await upload.read(limits.max_bytes + 1)
    options = RecordOptions(dry_run=form.get("action") != "record",
                            value_column=str(form.get("value_column") or "") or None,
                            decimal=str(form.get("decimal") or "."))
    try:
        if len(data) > limits.max_bytes:
            raise InputError("file", f"the file is over the limit of {limits.max_bytes:,} bytes")
        table = ingest.read_table_bytes(data, upload.filename or "plate.csv")
        result = await _run(request.app.state.backend.record, user, name, table, options, namespace)
    except (ActiveLoopError, NotFoundError) as exc:
        report = problem_report(exc)
        context["upload"] = {"message": report.detail, "problems": report.problems}
        return render(request, "campaign.html", context, status=422)
    if not options.dry_run:
        context = await _campaign_context(request, user, name, namespace)
    context["upload"] = {"result": result}
    return render(request, "campaign.html", context)


__all__ = ["parse_fasta", "render", "router"]
