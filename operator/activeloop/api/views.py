"""What the REST API (``/api/v1``) returns and accepts: the OpenAPI document is generated from these.

They are views of the resources (``api.resources``) as a lab sees them, the same whether the
campaign lives in a run directory on a workstation or on a cluster.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from activeloop.api.base import Model
from activeloop.api.campaign import CampaignSpec, LibrarySpec
from activeloop.api.resources import TASK_PATTERN, CampaignPhase, Condition, Measurement, RoundPhase, StepCost


class CampaignSummary(Model):
    """One line of the campaigns list."""

    name: str
    namespace: str | None = Field(None, description="Kubernetes namespace (cluster only).")
    phase: CampaignPhase = Field(description="Where the campaign stands.")
    current_round: int = 0
    rounds_planned: int = 0
    measured: int = 0
    failed: int = 0
    pending: int = Field(0, description="Proposals of the current round without a result.")
    best_variant: str | None = None
    best_value: float | None = None
    hypervolume: float | None = Field(None, description="Several objectives: the hypervolume of the measured "
                                                        "variants' Pareto front.")
    last_change: str | None = Field(None, description="RFC 3339 time the phase last changed.")
    message: str | None = Field(None, description="Why the campaign failed, or what it waits for.")


class CampaignDetail(CampaignSummary):
    """A campaign: its spec, where it stands, and its conditions."""

    spec: CampaignSpec
    direction: Literal["maximize", "minimize"] = "maximize"
    conditions: list[Condition] = Field(default_factory=list)
    library_size: int = 0
    can_start_next_round: bool = Field(
        False, description="Whether 'start the next round' would do something now (rights aside).")


class StepView(Model):
    """One step (tune, score, acquire) of a round."""

    state: Literal["Pending", "Running", "Succeeded", "Failed"] | None = None
    job: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    message: str | None = None
    cost: StepCost | None = None


class RoundHashes(Model):
    """SHA-256 of what a round read and produced."""

    spec_sha256: str | None = None
    measurements_sha256: str | None = None
    model_sha256: str | None = None
    proposals_sha256: str | None = None


class RoundSummary(Model):
    """A round on the timeline."""

    round: int
    phase: RoundPhase
    started_at: str | None = None
    completed_at: str | None = None
    proposed: int = 0
    measured: int = 0
    failed: int = 0
    pending: int = 0
    closed: bool = Field(False, description="Closed by the lab before all results were in.")
    message: str | None = Field(None, description="A failed step's reason, in words.")
    steps: dict[str, StepView] = Field(default_factory=dict)


class ProposalRow(Model):
    """A proposed variant, the model's prediction for it, and its result once recorded."""

    rank: int
    variant: str
    predicted: float | None = Field(None, description="Predicted value, in the measured units.")
    low: float | None = Field(None, description="Lower end of the 95% prediction interval (measured units).")
    high: float | None = Field(None, description="Upper end of the 95% prediction interval (measured units).")
    score: float | None = Field(None, description="What the model ranks by: a normal score of the measured "
                                                  "values (rank transform; higher is better), or the value itself.")
    score_sd: float | None = Field(None, description="The score's standard deviation.")
    picked_by: str | None = Field(None, description="Who picked this variant for the batch (none: the model chose it).")
    measured: float | None = None
    failed: bool = False


class RoundDetail(RoundSummary):
    """A round with its proposals and the hashes that trace them to data and model."""

    proposals: list[ProposalRow] = Field(default_factory=list)
    prediction_scale: str | None = Field(None, description="objective, or normal score (rank transform).")
    hashes: RoundHashes = Field(default_factory=RoundHashes)


class HistoryPoint(Model):
    """Best value found by the end of a round."""

    round: int
    measured: int
    best: float | None = Field(None, description="Best value of the (first) objective measured so far.")
    hypervolume: float | None = Field(
        None, description="Several objectives: the hypervolume the measured variants' Pareto front dominates "
        "above the reference point (ParetoFront.reference) by the end of the round.")


class ParetoPoint(Model):
    """A measured variant on the Pareto front, with its value for each objective."""

    variant: str
    values: dict[str, float]


class ParetoFront(Model):
    """The Pareto front of the variants measured for every objective (a campaign with several)."""

    objectives: list[str] = Field(default_factory=list, description="The objectives, the first one first.")
    directions: list[Literal["maximize", "minimize"]] = Field(default_factory=list)
    thresholds: list[float | None] = Field(default_factory=list)
    reference: list[float] = Field(
        default_factory=list, description="The hypervolume's reference point: each objective's threshold, else "
        "the worst value measured for it.")
    hypervolume: float = 0.0
    complete: int = Field(0, description="Variants measured for every objective (the front is drawn from them).")
    points: list[ParetoPoint] = Field(default_factory=list, description="Best first in the first objective.")


class Problem(Model):
    """A bad cell of an uploaded table: its line (header = 1), its column, and what is wrong."""

    line: int
    column: str
    problem: str


class ErrorDetail(Model):
    """401, 403, 404, 409, 413: what went wrong, in one sentence."""

    detail: str


class ProblemReport(Model):
    """422: nothing was recorded; every problem is listed."""

    detail: str
    problems: list[Problem] = Field(default_factory=list)


class ResultsUpload(Model):
    """Results as JSON rows (the other ways to send a plate are a file upload or a CSV body)."""

    measurements: list[Measurement] = Field(min_length=1, max_length=20_000)
    name: str | None = Field(None, description="Name of the plate (default: from the content).")
    supersedes: list[str] = Field(default_factory=list, description="Earlier plates this one corrects.")
    replicates: Literal["mean", "median"] = "mean"
    round: int | None = Field(None, ge=1, description="The round whose proposals were assayed.")
    earlier: bool = Field(False, description="Measured before the campaign started (earlier data).")
    task: str | None = Field(None, pattern=TASK_PATTERN,
                             description="A related assay's name: a second task for the model, not results.")


class ControlView(Model):
    """One kind of control on one plate: its wells and what they read."""

    kind: Literal["parent", "blank", "reference"]
    variant: str = ""
    wells: int
    failed: int = 0
    mean: float | None = None
    sd: float | None = None
    cv: float | None = Field(None, description="Coefficient of variation of its wells.")


class Change(Model):
    """How a correction changes one variant's value on the plate it corrects."""

    variant: str
    before: float | None = None
    after: float | None = None
    before_failed: bool = False
    after_failed: bool = False
    kind: Literal["changed", "added", "removed"]


class PlateView(Model):
    """A recorded plate: what it holds, who recorded it and when, and what corrects it."""

    name: str
    phase: Literal["Accepted", "Pending", "Rejected", "Superseded"] = "Accepted"
    round: int | None = Field(None, description="The round whose proposals it measured (declared, else the "
                                                "round current when it arrived).")
    recorded_at: str | None = None
    recorded_by: str | None = None
    rows: int = 0
    variants: int = Field(0, description="Distinct variants measured (controls aside).")
    failed: int = Field(0, description="Failed wells.")
    replicates: Literal["mean", "median"] = "mean"
    source: str | None = Field(None, description="The file it came from, or how it arrived.")
    sha256: str | None = None
    supersedes: list[str] = Field(default_factory=list)
    superseded_by: str | None = None
    normalize: Literal["none", "parentRatio", "parentDifference"] = "none"
    unit: str | None = None
    original: bool = Field(False, description="Whether the file as sent can be downloaded.")
    wells: bool = Field(False, description="Whether the plate gave wells.")
    controls: list[ControlView] = Field(default_factory=list)
    drift: list[str] = Field(default_factory=list, description="Why its controls are out of line (none: in line).")
    earlier: bool = Field(False, description="Measured before the campaign started (earlier data).")
    task: str | None = Field(None, description="A related assay's name (a second task for the model, not results).")
    message: str | None = None


class PlateWell(Model):
    """One row of a recorded plate."""

    variant: str
    value: float | None = None
    normalized: float | None = Field(None, description="The value after the plate's normalisation.")
    failed: bool = False
    replicate: int | None = None
    well: str | None = None
    control: Literal["parent", "blank", "reference"] | None = None


class PlateDetail(PlateView):
    """A recorded plate with its rows."""

    size: int = Field(96, description="Wells of the plate format the heat map shows.")
    wells_detail: list[PlateWell] = Field(default_factory=list)


class ActivityEntry(Model):
    """Something a person (or the loop) did to the campaign."""

    at: str
    who: str | None = None
    kind: Literal["created", "plate", "correction", "roundStarted", "roundRetried", "roundClosed",
                  "proposals", "roundFailed", "extended"]
    round: int | None = None
    plate: str | None = None
    text: str


class RecordResult(Model):
    """What recording a plate did (or, with ``dryRun``, would do)."""

    recorded: bool = Field(description="False when nothing new was recorded (a dry run, or seen before).")
    dry_run: bool = False
    name: str | None = None
    rows: int = 0
    failed: int = 0
    duplicate_of: str | None = Field(None, description="The plate these results were recorded as before.")
    supersedes: list[str] = Field(default_factory=list)
    preview: list[Measurement] = Field(default_factory=list, description="The first rows as understood.")
    changes: list[Change] = Field(default_factory=list,
                                  description="A correction: how it changes the plates it supersedes (at most 500).")
    unchanged: int = Field(0, description="A correction: variants whose value it leaves as it was.")
    skipped_wells: int = Field(0, description="Wells of a reader's export that the plate map leaves empty.")
    skipped_rows: int = Field(0, description="Title rows above the header.")
    decimal: str = Field(".", description="The decimal mark the values were read with.")
    unit: str | None = None
    controls: list[ControlView] = Field(default_factory=list)
    drift: list[str] = Field(default_factory=list, description="Why this plate's controls are out of line.")


class NextRoundResult(Model):
    """What 'start the next round' (or 'close the round') did."""

    closed_round: int | None = None
    next_round: int | None = None
    message: str


class StudentView(Model):
    """A distilled student and its figures."""

    name: str
    round: int
    phase: Literal["Pending", "Running", "Succeeded", "Failed"]
    parameters: int | None = None
    bytes: int | None = None
    latency_ms: float | None = None
    spearman_teacher: float | None = None
    spearman_measured: float | None = None
    message: str | None = None


class NextRoundRequest(Model):
    """What ``POST .../rounds:next`` may carry: variants to add to the new round's batch."""

    picks: list[str] = Field(default_factory=list, max_length=4096,
                             description="Variants (any spelling the campaign reads) proposed as given; the "
                                         "model fills the rest of the batch.")


class LibraryCheck(Model):
    """A site library to size before a campaign starts (``POST /api/v1/library-size``)."""

    parent_sequence: str = Field(description="The parent (wild-type) sequence.")
    library: LibrarySpec = Field(description="The library as in a campaign's spec (sites, not a variant list).")


class SiteView(Model):
    """One site of a library: its parent residue and the residues it may take."""

    position: int
    parent: str = Field(description="The parent's residue at this site.")
    residues: str = Field(description="Residues allowed here (after the forbidden residues).")


class LibrarySize(Model):
    """A site library's size under its constraints."""

    variants: int = Field(description="Variants that may be proposed.")
    combinations: int = Field(description="Combinations within the per-site residues and maxSubstitutions.")
    excluded: int = Field(description="Of those, introducing a forbidden motif or listed in exclude.")
    sites: list[SiteView]
    description: str = Field(description="The library in words.")


class CampaignCreate(Model):
    """A new campaign: its name and spec (the same spec as campaign.yaml)."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$",
                      description="Lower-case letters, digits and '-' (a DNS label).")
    spec: dict = Field(description="The campaign spec (camelCase keys, as in campaign.yaml).")


class Version(Model):
    """A campaign's state as one opaque string: it changes whenever anything shown changes."""

    version: str
    phase: CampaignPhase
    current_round: int


__all__ = [
    "ActivityEntry",
    "Change",
    "ControlView",
    "PlateDetail",
    "PlateView",
    "PlateWell",
    "CampaignCreate",
    "CampaignDetail",
    "CampaignSummary",
    "HistoryPoint",
    "NextRoundResult",
    "Problem",
    "ProblemReport",
    "ProposalRow",
    "RecordResult",
    "ResultsUpload",
    "RoundDetail",
    "RoundHashes",
    "RoundSummary",
    "StepView",
    "StudentView",
    "Version",
]
