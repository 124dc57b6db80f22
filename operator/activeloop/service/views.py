"""What a lab sees of a campaign, built from its statuses: the same functions for both backends
(a workstation decides the statuses from its run directory, a cluster reads them from its
objects), so the two show the same thing in the same words."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from activeloop.api.campaign import CampaignSpec, ObjectiveSpec
from activeloop.api.names import ROUND_STEPS, Step
from activeloop.api.resources import CampaignPhase, CampaignStatus, LoopRoundStatus, RoundPhase, StudentModelStatus
from activeloop.api.views import (
    CampaignDetail,
    CampaignSummary,
    HistoryPoint,
    ParetoFront,
    ParetoPoint,
    ProposalRow,
    RoundDetail,
    RoundHashes,
    RoundSummary,
    StepView,
    StudentView,
    Version,
)
from activeloop.steps.objectives import hypervolume_by_round, pareto_front


def campaign_message(status: CampaignStatus, last: LoopRoundStatus | None, automatic: bool) -> str | None:
    """One sentence on where a campaign stands (why it failed, what it waits for)."""
    n = status.current_round
    phase = status.phase
    if phase == CampaignPhase.FAILED:
        return next((c.message for c in status.conditions if c.type == "RoundFailed"
                     or (c.type == "Ready" and c.status == "False")), "failed")
    if phase == CampaignPhase.COMPLETED:
        return f"all {status.rounds_planned} rounds done"
    if phase == CampaignPhase.WAITING_FOR_ASSAYS:
        of = f" of {len(last.proposals)}" if last is not None else ""
        return f"round {n}: {status.proposals_pending}{of} proposals waiting for results"
    if phase == CampaignPhase.READY_FOR_NEXT_ROUND:
        return f"round {n} is complete: start round {n + 1}" if not automatic else \
            f"round {n} is complete; the campaign is suspended (spec.suspend)"
    if phase == CampaignPhase.RUNNING:
        return f"round {n} is being prepared" + (f" ({last.phase.value})" if last is not None else "")
    if phase == CampaignPhase.PENDING:
        return "no round yet: start round 1" if not automatic else "no round yet"
    return None


def campaign_summary(name: str, namespace: str | None, status: CampaignStatus, last: LoopRoundStatus | None,
                     automatic: bool) -> CampaignSummary:
    """One line of the campaigns list."""
    return CampaignSummary(
        name=name, namespace=namespace, phase=status.phase, current_round=status.current_round,
        rounds_planned=status.rounds_planned, measured=status.measured, failed=status.failed,
        pending=status.proposals_pending, best_variant=status.best_variant,
        best_value=status.best_value, hypervolume=status.hypervolume, last_change=status.phase_since,
        message=campaign_message(status, last, automatic))


def campaign_detail(summary: CampaignSummary, spec: CampaignSpec, status: CampaignStatus, library_size: int,
                    can_start_next_round: bool) -> CampaignDetail:
    """A campaign with its spec and conditions."""
    return CampaignDetail(**summary.model_dump(), spec=spec, direction=spec.objective.direction,
                          conditions=status.conditions, library_size=library_size,
                          can_start_next_round=can_start_next_round)


def round_summary(number: int, st: LoopRoundStatus) -> RoundSummary:
    """A round on the timeline, from its status."""
    failed = next((c.message for c in st.conditions if c.type == "Failed"), None)
    closed = next((c for c in st.conditions if c.type == "Completed" and c.reason == "ClosedByLab"), None)
    steps = ROUND_STEPS if st.shards > 1 else tuple(s for s in ROUND_STEPS if s != Step.SCORE)
    return RoundSummary(
        round=number, phase=st.phase, started_at=st.started_at, completed_at=st.completed_at,
        proposed=len(st.proposals), measured=st.measured, failed=st.failed, pending=st.pending,
        closed=closed is not None, message=failed,
        steps={str(s): StepView(state=getattr(st, s).state, job=getattr(st, s).job,
                                started_at=getattr(st, s).started_at, finished_at=getattr(st, s).finished_at,
                                message=getattr(st, s).message, cost=getattr(st, s).cost)
               for s in steps})


def number_or_none(v: object) -> float | None:
    """``v`` as a float, or ``None`` for a missing value (empty, NaN, not a number)."""
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def proposal_rows(proposals: pd.DataFrame | None, data: pd.DataFrame) -> list[ProposalRow]:
    """A round's proposals with their results (``data``: ``steps.ingest.measurements``)."""
    if proposals is None:
        return []
    result = dict(zip(data["variant"].tolist(), zip(data["value"].tolist(), data["failed"].tolist(), strict=True),
                      strict=True))
    rows = []
    for p in proposals.itertuples(index=False):
        value, failed = result.get(p.variant, (None, False))
        rows.append(ProposalRow(rank=int(p.rank), variant=p.variant, predicted=number_or_none(p.predicted),
                                low=number_or_none(p.predicted_low), high=number_or_none(p.predicted_high),
                                score=number_or_none(p.score), score_sd=number_or_none(p.score_sd),
                                picked_by=p.picked_by if isinstance(p.picked_by, str) and p.picked_by else None,
                                measured=None if failed else number_or_none(value), failed=bool(failed)))
    return rows


def round_detail(number: int, st: LoopRoundStatus, rows: list[ProposalRow], acquire: Mapping) -> RoundDetail:
    """A round with its proposals and the hashes that trace them to data and model."""
    return RoundDetail(
        **round_summary(number, st).model_dump(), proposals=rows, prediction_scale=acquire.get("prediction_scale"),
        hashes=RoundHashes(spec_sha256=st.inputs.spec_sha256 if st.inputs else None,
                           measurements_sha256=st.measurements_sha256, model_sha256=st.model_sha256,
                           proposals_sha256=st.proposals_sha256))


def pareto_view(data: pd.DataFrame, spec: CampaignSpec) -> ParetoFront:
    """The Pareto front of the measured variants (empty for a campaign with one objective)."""
    objectives = spec.all_objectives
    if len(objectives) < 2:
        return ParetoFront()
    front = pareto_front(data, objectives)
    return ParetoFront(
        objectives=front.names, directions=[o.direction for o in objectives],
        thresholds=[o.threshold for o in objectives], reference=front.reference,
        hypervolume=front.hypervolume, complete=front.complete,
        points=[ParetoPoint(variant=v, values={n: float(x) for n, x in zip(front.names, row, strict=True)})
                for v, row in zip(front.variants, front.values, strict=True)])


def best_by_round(data: pd.DataFrame, round_of: Mapping[str, int], rounds: list[int],
                  objectives: Sequence[ObjectiveSpec]) -> list[HistoryPoint]:
    """Best value found by the end of each round (and with several objectives the hypervolume): a
    result counts from the round that proposed its variant (extra data from the round in which it
    arrived)."""
    direction = objectives[0].direction
    volumes = hypervolume_by_round(data, round_of, rounds, list(objectives)) if len(objectives) > 1 else {}
    valued = data[~data["failed"] & data["value"].notna()]
    arrived = np.array([round_of.get(v, a) for v, a in zip(valued["variant"].tolist(),
                                                             valued["arrived_round"].tolist())], dtype=float)
    values = valued["value"].to_numpy(dtype=float)
    best = np.max if direction == "maximize" else np.min
    out = []
    for i, n in enumerate(rounds):
        if i == len(rounds) - 1 and i > 0 and not (arrived == n).any():
            break  # the current round, before any of its results: nothing to plot yet
        upto = arrived <= n
        out.append(HistoryPoint(round=n, measured=int(upto.sum()),
                                best=float(best(values[upto])) if upto.any() else None, hypervolume=volumes.get(n)))
    return out


def student_view(name: str, round_number: int, st: StudentModelStatus) -> StudentView:
    """A distilled student and its figures."""
    return StudentView(name=name, round=round_number, phase=st.phase, parameters=st.parameters, bytes=st.bytes,
                       latency_ms=st.latency_ms, spearman_teacher=st.spearman_teacher,
                       spearman_measured=st.spearman_measured, message=st.message)


def version_of(*parts: object) -> str:
    """An opaque version string of what a page shows."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def page_version(campaign: CampaignDetail, rounds: list[RoundSummary]) -> Version:
    """The version of a campaign page showing ``campaign`` and ``rounds`` (a page embeds the
    version it was rendered from, so a change between rendering and listening is not missed)."""
    return Version(version=version_of(campaign.dump(), [r.dump() for r in rounds]), phase=campaign.phase,
                   current_round=campaign.current_round)


def is_waiting(phase: RoundPhase | None) -> bool:
    """Whether a round in ``phase`` waits for assay results."""
    return phase == RoundPhase.WAITING_FOR_ASSAYS


__all__ = [
    "best_by_round",
    "pareto_view",
    "campaign_detail",
    "campaign_message",
    "campaign_summary",
    "is_waiting",
    "number_or_none",
    "page_version",
    "proposal_rows",
    "round_detail",
    "round_summary",
    "student_view",
    "version_of",
]
