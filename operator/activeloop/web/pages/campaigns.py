"""The campaign pages: the list, a new campaign, one campaign, and its forms (the next round, a
plate upload) for browsers without JavaScript."""

from __future__ import annotations

import math
import re
from typing import Any, get_args
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from activeloop.api.campaign import AcquisitionSpec, CampaignSpec, LibrarySpec, ObjectiveSpec, SurrogateSpec
from activeloop.api.names import ENCODINGS, ROUND_STEPS, STRATEGIES, SURROGATE_KINDS
from activeloop.api.resources import CampaignPhase
from activeloop.api.views import CampaignCreate, CampaignDetail, ParetoFront, RoundDetail
from activeloop.errors import InputError
from activeloop.service.base import User
from activeloop.service.views import page_version, pareto_view
from activeloop.steps.layout import PLATES
from activeloop.steps.objectives import value_column
from activeloop.web import charts
from activeloop.web.deps import AUTHENTICATED, Caller, ServiceDep, run
from activeloop.web.errors import problem_report
from activeloop.web.render import render
from activeloop.web.uploads import read_form

router = APIRouter(include_in_schema=False, dependencies=AUTHENTICATED)

DEFAULTS = {
    "alphabet": LibrarySpec.model_fields["alphabet"].default,
    "initial": CampaignSpec.model_fields["initial_batch_size"].default,
    "batch": AcquisitionSpec.model_fields["batch_size"].default,
    "rounds": CampaignSpec.model_fields["rounds"].default,
    "objective": ObjectiveSpec.model_fields["name"].default,
    "direction": ObjectiveSpec.model_fields["direction"].default,
    "surrogate": SurrogateSpec.model_fields["kind"].default,
    "encoding": SurrogateSpec.model_fields["encoding"].default,
    "strategy": AcquisitionSpec.model_fields["strategy"].default,
    "multi_objective": AcquisitionSpec.model_fields["multi_objective"].default,
}
"""What the new-campaign form shows before anything is typed: the spec's own defaults."""
NAME_PATTERN = next(m.pattern for m in CampaignCreate.model_fields["name"].metadata if hasattr(m, "pattern"))
"""The campaign name's pattern, as the browser checks it (an HTML pattern is anchored and read in
the ``v`` mode of regular expressions, where ``-`` in a class must be escaped)."""
HTML_NAME_PATTERN = NAME_PATTERN.strip("^$").replace("[-", "[\\-")
MULTI_STRATEGIES = get_args(AcquisitionSpec.model_fields["multi_objective"].annotation)
"""The multi-objective strategies the form offers (the spec's own list)."""
JUDGED_ROUNDS = 3
"""Rounds the campaign page looks back through for one whose predictions met results."""


@router.get("/", response_class=HTMLResponse)
async def campaigns(request: Request, user: Caller, service: ServiceDep, q: str | None = None) -> Response:
    """Every campaign: name, phase, round, best so far, pending assays, last change; a filter."""
    items = await run(service.campaigns, user)
    if q:
        items = [c for c in items if q.lower() in c.name.lower() or q.lower() in c.phase.value.lower()]
    return render(request, "campaigns.html", {"user": user, "campaigns": items, "q": q or ""})


def _form_context(user: User, form: dict[str, str]) -> dict[str, Any]:
    return {"user": user, "form": form, "defaults": DEFAULTS, "name_pattern": HTML_NAME_PATTERN,
            "surrogates": SURROGATE_KINDS, "encodings": ENCODINGS, "strategies": STRATEGIES,
            "further": FURTHER_OBJECTIVES, "multi_strategies": MULTI_STRATEGIES}


@router.get("/campaigns/new", response_class=HTMLResponse)
async def new_campaign_page(request: Request, user: Caller) -> Response:
    """A form for a new campaign: sequence (pasted or FASTA), sites picked on it, models, sizes."""
    return render(request, "new.html", {**_form_context(user, {}), "problems": []})


def parse_fasta(text: str) -> str:
    """A sequence pasted plainly or as FASTA (header lines and whitespace dropped)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return "".join(line for line in lines if line and not line.startswith(">")).replace(" ", "").upper()


@router.post("/campaigns/new", response_class=HTMLResponse)
async def new_campaign(request: Request, user: Caller, service: ServiceDep) -> Response:
    """Create the campaign, or show the form again with every problem named."""
    form = {k: str(v) for k, v in (await read_form(request)).items() if k != "csrf_token"}
    try:
        spec = spec_from_form(form)
        detail = await run(service.create_campaign, user, form.get("name", "").strip(), spec,
                           form.get("namespace") or None)
    except InputError as exc:
        report = problem_report(exc)
        return render(request, "new.html", {**_form_context(user, form), "problems": report.problems,
                                            "message": report.detail}, status=422)
    target = f"/campaigns/{quote(detail.name)}" + (f"?namespace={quote(detail.namespace)}" if detail.namespace else "")
    return RedirectResponse(target, status_code=303)


def spec_from_form(form: dict[str, str]) -> dict[str, Any]:
    """A campaign spec from the new-campaign form: only what was filled in (the spec's defaults
    apply to the rest, as in a YAML file)."""
    def number(key: str, field: str) -> int | None:
        raw = form.get(key, "").strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise InputError(field, f"{raw!r} is not a whole number")
        return int(raw)

    library: dict[str, Any] = {"sites": parse_sites(form.get("sites", ""))}
    if form.get("alphabet", "").strip():
        library["alphabet"] = form["alphabet"].strip().upper()
    most = number("max_substitutions", "library.maxSubstitutions")
    if most is not None:
        library["maxSubstitutions"] = most
    forbidden = [f.strip() for f in form.get("forbidden", "").split(",") if f.strip()]
    if forbidden:
        library["forbidden"] = forbidden
    spec: dict[str, Any] = {"parentSequence": parse_fasta(form.get("parent", "")), "library": library}
    pairs = [("surrogate", "kind", "surrogate"), ("surrogate", "encoding", "encoding"),
             ("acquisition", "strategy", "strategy"), ("backbone", "model", "backbone")]
    for section, field, key in pairs:
        if form.get(key, "").strip():
            spec.setdefault(section, {})[field] = form[key].strip()
    objectives = objectives_from_form(form)
    if len(objectives) > 1:
        spec["objectives"] = objectives
        if form.get("multi_objective", "").strip():
            spec.setdefault("acquisition", {})["multiObjective"] = form["multi_objective"].strip()
    elif objectives:
        spec["objective"] = objectives[0]
    for key, path in (("batch", ("acquisition", "batchSize")), ("initial", ("initialBatchSize",)),
                      ("rounds", ("rounds",))):
        value = number(key, ".".join(path))
        if value is not None:
            target = spec.setdefault(path[0], {}) if len(path) == 2 else spec
            target[path[-1]] = value
    return spec


FURTHER_OBJECTIVES = (2, 3, 4)
"""The form's rows for further objectives (``objective2`` ...; the first is ``objective``)."""


def objectives_from_form(form: dict[str, str]) -> list[dict[str, Any]]:
    """The objectives the form's rows fill in (the first row, then ``objective2`` .. ``objective4``);
    a threshold or weight that is not a number is refused, naming its field."""
    out: list[dict[str, Any]] = []
    for suffix in ("", *map(str, FURTHER_OBJECTIVES)):
        name = form.get(f"objective{suffix}", "").strip()
        if not name:
            continue
        objective: dict[str, Any] = {"name": name}
        if form.get(f"direction{suffix}", "").strip():
            objective["direction"] = form[f"direction{suffix}"].strip()
        for key in ("threshold", "weight"):
            raw = form.get(f"{key}{suffix}", "").strip().replace(",", ".")
            if not raw:
                continue
            try:
                objective[key] = float(raw)
            except ValueError:
                raise InputError(f"objectives[{len(out)}].{key}",
                                 f"{form[f'{key}{suffix}']!r} is not a number") from None
        out.append(objective)
    if len(out) == 1:  # one objective: threshold and weight mean nothing
        out[0].pop("threshold", None)
        out[0].pop("weight", None)
    return out


def parse_sites(text: str) -> list[int | dict[str, Any]]:
    """Sites as the form writes them: ``39, 40:AVILMFWY, 41`` (a site's own residues after a colon)."""
    out: list[int | dict[str, Any]] = []
    for i, item in enumerate(t.strip() for t in text.replace(";", ",").split(",")):
        if not item:
            continue
        position, _, residues = item.partition(":")
        if not position.strip().isdigit():
            raise InputError("library.sites", f"{item!r} (item {i + 1}): give a 1-based position like 39, "
                                              "or a position and its residues like 40:AVILMFWY")
        site = int(position)
        out.append({"position": site, "residues": residues.strip().upper()} if residues.strip() else site)
    return out


@router.get("/campaigns/{name}", response_class=HTMLResponse)
async def campaign(request: Request, name: str, user: Caller, namespace: str | None = None) -> Response:
    """One campaign: timeline, curve, predicted against measured, proposals, upload, next round."""
    return render(request, "campaign.html", await campaign_context(request, user, name, namespace))


async def campaign_context(request: Request, user: User, name: str, namespace: str | None) -> dict[str, Any]:
    """Everything the campaign page shows."""
    service = request.app.state.service
    detail = await run(service.campaign, user, name, namespace)
    rounds = await run(service.rounds, user, name, namespace)
    history = await run(service.history, user, name, namespace)
    students = await run(service.students, user, name, namespace)
    plates = await run(service.plates, user, name, namespace)
    activity = await run(service.activity, user, name, namespace)
    with_props = [r for r in rounds if r.proposed]
    current: RoundDetail | None = None
    if with_props:
        current = await run(service.round, user, name, with_props[-1].round, namespace)
    judged = await _judged_round(service, user, name, namespace, with_props, current)
    front = None
    if detail.spec.further_objectives:
        measured = await run(service.measurements, user, name, namespace)  # read once: front and chart
        front = pareto_view(measured, detail.spec)
    return {"front": front, "front_chart": _front_chart(front, measured, detail.spec) if front else None,
            "history": history, "user": user, "c": detail, "rounds": rounds, "current": current, "students": students,
            "ns": namespace, "curve": _curve(history, detail.direction), "fit": fit_chart(judged),
            "costs": _costs(rounds), "layouts": tuple(PLATES), "version": page_version(detail, rounds).version,
            "plates": plates, "activity": activity, "action": primary_action(detail),
            "proposal_rounds": [r.round for r in with_props]}


def primary_action(c: CampaignDetail) -> str:
    """What the round needs from the lab now: ``record`` (results pending), ``start`` (the next
    round may start), or ``none``."""
    if c.phase == CampaignPhase.WAITING_FOR_ASSAYS and c.pending:
        return "record"
    return "start" if c.can_start_next_round else "none"


async def _judged_round(service: Any, user: User, name: str, namespace: str | None, with_props: list,
                        current: RoundDetail | None) -> RoundDetail | None:
    """The latest round whose predictions can be compared with results (of the last
    :data:`JUDGED_ROUNDS`: a page never reads every round of a long campaign)."""
    for r in list(reversed(with_props))[:JUDGED_ROUNDS]:
        rd = current if current is not None and current.round == r.round else \
            await run(service.round, user, name, r.round, namespace)
        if sum(p.predicted is not None and p.measured is not None for p in rd.proposals) >= 2:
            return rd
    return None


def _curve(history: list, direction: str) -> Any:
    points = [(h.round, h.best) for h in history]
    best = "highest" if direction == "maximize" else "lowest"
    return charts.line_chart(points, x_label="round", y_label=f"best so far ({best})",
                             title="best value found by the end of each round",
                             empty="No curve yet: it starts once the first round's results are recorded.")


def _front_chart(front: ParetoFront, data: Any, spec: CampaignSpec) -> Any:
    """The first two objectives of every variant measured for both, the front's in red."""
    objectives = spec.all_objectives
    a, b = (value_column(objectives, i) for i in (0, 1))
    on_front = {p.variant for p in front.points}
    points = []
    if a in data and b in data:  # no column yet: nothing measured for the further objective
        both = data[~data["failed"] & data[a].notna() & data[b].notna()]
        points = [(x, y, v, v in on_front) for v, x, y in zip(both["variant"], both[a], both[b], strict=True)]
    unit = [f" ({o.unit})" if o.unit else "" for o in objectives[:2]]
    return charts.front_chart(points, x_label=objectives[0].name + unit[0], y_label=objectives[1].name + unit[1],
                              title=f"{objectives[0].name} against {objectives[1].name}: the measured variants and "
                              "their Pareto front",
                              empty="No front yet: it appears once two variants are measured for both objectives.")


def fit_chart(rd: RoundDetail | None) -> dict[str, Any]:
    """The predicted-against-measured chart of a round (in measured units), with its Spearman."""
    if rd is None:
        return {"chart": charts.missing("Nothing to compare yet: the model's predictions meet measurements "
                                        "once a round proposed by the model (round 2 on) has results."),
                "round": None, "spearman": None}
    pts = [(p.predicted, p.measured, p.variant) for p in rd.proposals
           if p.predicted is not None and p.measured is not None]
    rho = float(pd.Series([p[0] for p in pts]).corr(pd.Series([p[1] for p in pts]), method="spearman")) \
        if len(pts) > 2 else None
    empty = "Fewer than two of this round's proposals have both a prediction and a result."
    return {"chart": charts.scatter(pts, x_label="predicted", y_label="measured",
                                    title=f"round {rd.round}: predicted against measured", empty=empty),
            "round": rd.round, "spearman": None if rho is None or math.isnan(rho) else rho, "n": len(pts)}


def _costs(rounds: list) -> list[dict[str, Any]]:
    out = []
    for r in rounds:
        row: dict[str, Any] = {"round": r.round}
        total_wall = total_cpu = total_energy = 0.0
        seen = False
        for step in ROUND_STEPS:  # score: the shards of a sharded round
            view = r.steps.get(str(step))
            cost = view.cost if view is not None else None
            if cost is not None:
                seen = True
                total_wall += cost.wall_seconds or 0.0
                total_cpu += cost.cpu_seconds or 0.0
                total_energy += cost.energy_kwh or 0.0
        if seen:
            row.update(wall=total_wall, cpu=total_cpu, energy_wh=total_energy * 1000)
        out.append(row)
    return out


def back_to(name: str, namespace: str | None) -> str:
    """The campaign page's address."""
    return f"/campaigns/{quote(name)}" + (f"?namespace={quote(namespace)}" if namespace else "")


@router.post("/campaigns/{name}/next")
async def next_round_form(request: Request, name: str, user: Caller, service: ServiceDep,
                          namespace: str | None = None) -> Response:
    """The 'start the next round' button without JavaScript (with the picks typed beside it)."""
    form = await read_form(request)
    await run(service.next_round, user, name, namespace, picks=split_picks(str(form.get("picks") or "")))
    return RedirectResponse(back_to(name, namespace), status_code=303)


def split_picks(text: str) -> list[str]:
    """Picks as typed: one per line, or separated by commas, semicolons or spaces."""
    return [p for p in re.split(r"[\s,;]+", text) if p]


__all__ = ["back_to", "campaign_context", "fit_chart", "parse_fasta", "primary_action", "router", "spec_from_form",
           "split_picks"]
