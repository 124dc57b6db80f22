"""The plate pages: one recorded plate (its heat map, controls, wells, the file as sent, and a
correction with its preview), and the upload form for browsers without JavaScript (a new plate
from the campaign page, a correction from a plate's page)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from activeloop.api.views import PlateDetail
from activeloop.errors import ActiveLoopError, InputError
from activeloop.service.base import User
from activeloop.service.plates import RecordOptions
from activeloop.steps.layout import PLATES
from activeloop.web import charts
from activeloop.web.deps import AUTHENTICATED, Caller, ServiceDep, run
from activeloop.web.errors import problem_report
from activeloop.web.pages.campaigns import campaign_context, fit_chart
from activeloop.web.render import render
from activeloop.web.uploads import parse_table, read_form, uploaded_file

router = APIRouter(include_in_schema=False, dependencies=AUTHENTICATED)


def plate_address(name: str, plate: str, namespace: str | None, **query: str) -> str:
    """A plate page's address."""
    params = [f"{k}={quote(v)}" for k, v in query.items()] + ([f"namespace={quote(namespace)}"] if namespace else [])
    return f"/campaigns/{quote(name)}/plates/{quote(plate)}" + (f"?{'&'.join(params)}" if params else "")


def heatmap(detail: PlateDetail) -> Any:
    """The plate's heat map, or a note when its rows came without wells."""
    if not detail.wells:
        return charts.missing("This plate came by variant name, without wells: no plate map to draw. Record a "
                              "reader's export by well (with the round's plate map) to see one.")
    wells = [(w.well or "", w.normalized if detail.normalize != "none" and not w.control else w.value, w.failed,
              w.control or "", w.variant or "blank") for w in detail.wells_detail]
    return charts.plate_heatmap(wells, detail.size, title=f"plate {detail.name}: values by well",
                                unit=detail.unit or "")


async def plate_context(request: Request, user: User, name: str, plate: str, namespace: str | None) -> dict[str, Any]:
    """Everything a plate's page shows."""
    service = request.app.state.service
    detail = await run(service.plate, user, name, plate, namespace)
    campaign = await run(service.campaign, user, name, namespace)
    rounds = await run(service.rounds, user, name, namespace)
    judged = None
    if detail.round and any(r.round == detail.round and r.proposed for r in rounds):
        judged = await run(service.round, user, name, detail.round, namespace)
    return {"user": user, "c": campaign, "p": detail, "detail": detail, "ns": namespace, "heatmap": heatmap(detail),
            "fit": fit_chart(judged), "layouts": tuple(PLATES),
            "proposal_rounds": [r.round for r in rounds if r.proposed]}


@router.get("/campaigns/{name}/plates/{plate}", response_class=HTMLResponse)
async def plate_page(request: Request, name: str, plate: str, user: Caller, namespace: str | None = None,
                     recorded: bool = False) -> Response:
    """One plate: who recorded it and when, its heat map and controls, its wells, the file as sent,
    and a correction form (``recorded``: it was just recorded; the confirmation stays on the page)."""
    context = await plate_context(request, user, name, plate, namespace)
    return render(request, "plate.html", {**context, "recorded": recorded})


def _int_field(form: dict[str, Any], key: str, field: str) -> int | None:
    raw = str(form.get(key) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise InputError(field, f"{raw!r} is not a whole number")
    return int(raw)


@router.post("/campaigns/{name}/upload", response_class=HTMLResponse)
async def upload_form(request: Request, name: str, user: Caller, service: ServiceDep,
                      namespace: str | None = None) -> Response:
    """Upload a plate without JavaScript: check it (the outcome on the page it came from), or
    record it (then its page, with the confirmation)."""
    form = dict(await read_form(request))
    correcting = str(form.get("supersedes") or "") or None
    try:
        sent = await uploaded_file(request)
        assert sent is not None
        mapped = await uploaded_file(request, "map", required=False)
        skip = _int_field(form, "skip_rows", "skip_rows")
        options = RecordOptions(
            dry_run=form.get("action") != "record", value_column=str(form.get("value_column") or "") or None,
            decimal=str(form.get("decimal") or "auto"), supersedes=(correcting,) if correcting else (),
            layout=_int_field(form, "layout", "layout"), round=_int_field(form, "round", "round"),
            plate=_int_field(form, "plate_number", "plate"), skip_rows=skip,
            earlier=str(form.get("earlier") or "") == "true", task=str(form.get("task") or "").strip() or None,
            map=await parse_table(request, *mapped) if mapped is not None else None)
        table = await parse_table(request, *sent, skip_rows=skip)
        result = await run(service.record, user, name, table, options, namespace)
    except ActiveLoopError as exc:
        report = problem_report(exc)
        return await _outcome(request, user, name, namespace, correcting,
                              {"message": report.detail, "problems": report.problems}, 422)
    if result.dry_run:
        return await _outcome(request, user, name, namespace, correcting, {"result": result}, 200)
    return RedirectResponse(plate_address(name, result.name or "", namespace, recorded="true"), status_code=303)


async def _outcome(request: Request, user: User, name: str, namespace: str | None, correcting: str | None,
                   upload: dict[str, Any], status: int) -> Response:
    if correcting:
        context = await plate_context(request, user, name, correcting, namespace)
        return render(request, "plate.html", {**context, "upload": upload, "correcting": correcting}, status=status)
    context = await campaign_context(request, user, name, namespace)
    return render(request, "campaign.html", {**context, "upload": upload}, status=status)


__all__ = ["heatmap", "plate_address", "plate_context", "router"]
