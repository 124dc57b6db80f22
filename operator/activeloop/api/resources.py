"""Specs and statuses of the cluster resources (group ``activeloop.dev``, version ``v1alpha1``).

These pydantic models are the single source of truth: ``crds/*.yaml`` and the Helm chart's CRDs
are generated from them (``activeloop crds``), the operator validates objects with them, and a test
fails when the committed YAML drifts.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from activeloop.api.base import Model
from activeloop.api.campaign import CampaignSpec

GROUP = "activeloop.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class Condition(Model):
    """A Kubernetes-style condition (``type``, ``status``, ``reason``, ``message``)."""

    type: str = Field(description="Condition type, e.g. Ready, Failed, Tuned, Proposed.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field("", description="CamelCase reason for the last transition.")
    message: str = Field("", description="Human-readable details.")
    last_transition_time: str = Field("", description="RFC 3339 time of the last status change.")
    observed_generation: int = Field(0, description="metadata.generation the condition is based on.")


# --------------------------------------------------------------------------------------- Campaign


class Toleration(Model):
    """A pod toleration (as in core/v1)."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class StepResources(Model):
    """Where and with what the step Jobs of a campaign run."""

    image: str | None = Field(None, description="Worker image; default from the operator's config.")
    cpu: str = Field("2", description="CPU request (and limit) of a step Job.")
    memory: str = Field("8Gi", description="Memory request (and limit) of a step Job.")
    gpu: int = Field(0, ge=0, le=16, description="GPUs per tune/distil Job (0: CPU only).")
    node_selector: dict[str, str] = Field(default_factory=dict, description="Node selector of step pods.")
    tolerations: list[Toleration] = Field(default_factory=list, description="Tolerations of step pods.")
    backoff_limit: int = Field(2, ge=0, le=10, description="Retries of a failed step Job.")
    active_deadline_seconds: int = Field(
        6 * 3600, ge=60, description="A step Job running longer than this fails."
    )


class CampaignResourceSpec(CampaignSpec):
    """A campaign on a cluster: the campaign spec plus Job settings and the round trigger."""

    jobs: StepResources = Field(default_factory=StepResources, description="Step Job settings.")
    suspend: bool = Field(False, description="Start no new round while true.")

    def core(self) -> CampaignSpec:
        """The campaign spec the steps read (``campaign.yaml`` in the store): without Job settings."""
        return CampaignSpec.model_validate(self.model_dump(include=set(CampaignSpec.model_fields)))


class CampaignPhase(str, Enum):
    """Phases of a Campaign."""

    PENDING = "Pending"
    RUNNING = "Running"
    WAITING_FOR_ASSAYS = "WaitingForAssays"
    READY_FOR_NEXT_ROUND = "ReadyForNextRound"
    COMPLETED = "Completed"
    FAILED = "Failed"

    def __str__(self) -> str:
        return self.value


class CampaignStatus(Model):
    """Observed state of a Campaign."""

    phase: CampaignPhase = CampaignPhase.PENDING
    phase_since: str | None = Field(None, description="RFC 3339 time the phase last changed.")
    current_round: int = Field(0, description="Highest round started.")
    rounds_planned: int = Field(0, description="Rounds the spec asks for (the first batch included).")
    measured: int = Field(0, description="Distinct variants measured.")
    failed: int = Field(0, description="Distinct variants whose wells all failed.")
    best_value: float | None = Field(None, description="Best measured value so far.")
    best_variant: str | None = Field(None, description="Variant with the best measured value.")
    hypervolume: float | None = Field(
        None, description="Several objectives: the hypervolume of the measured variants' Pareto front.")
    proposals_pending: int = Field(0, description="Proposed variants without a result.")
    store_uri: str | None = Field(None, description="Where the campaign's artifacts are.")
    observed_generation: int = 0
    conditions: list[Condition] = Field(default_factory=list)


# -------------------------------------------------------------------------------------- LoopRound


class LoopRoundSpec(Model):
    """One round of one campaign: tune -> acquire -> proposals, then wait for assays."""

    campaign: str = Field(min_length=1, description="Name of the Campaign (same namespace).")
    round: int = Field(ge=1, description="Round number (1 is the first batch).")
    close: bool = Field(
        False,
        description="Close the round now, whatever is still pending (the next round starts). "
        "Set by `activeloop close-round` or the web interface's 'start next round'.",
    )
    retry: int = Field(
        0, ge=0, le=100,
        description="Raise it to run a failed round again (its steps that succeeded are not redone; with "
        "none, its inputs are pinned again). Set by 'start the next round' on a failed round.",
    )
    picks: list[str] = Field(
        default_factory=list,
        description="Variants a person adds to this round's batch (any spelling the campaign accepts): proposed "
        "as given, the model filling the rest of the batch. Fixed once the round exists; set by 'start the next "
        "round' with picks, `activeloop propose --pick`, or a LoopRound you create.",
    )
    picked_by: str | None = Field(None, description="Who chose the picks (set by the web interface and the CLI).")


class RoundPhase(str, Enum):
    """Phases of a LoopRound, in order."""

    PENDING = "Pending"
    TUNING = "Tuning"
    SCORING = "Scoring"
    ACQUIRING = "Acquiring"
    WAITING_FOR_ASSAYS = "WaitingForAssays"
    COMPLETED = "Completed"
    FAILED = "Failed"

    def __str__(self) -> str:
        return self.value


class StepCost(Model):
    """What a step cost, as the step measured it."""

    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    energy_kwh: float | None = Field(None, description="codecarbon's estimate (see energyMethod).")
    co2e_kg: float | None = Field(None, alias="co2eKg", description="CO2-equivalent for the grid's average.")
    energy_method: str | None = None


class StepStatus(Model):
    """The Job of one step and what it produced."""

    job: str | None = None
    state: Literal["Pending", "Running", "Succeeded", "Failed"] | None = None
    attempts: int = 0
    record_uri: str | None = None
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    cost: StepCost | None = None


class RoundInputsStatus(Model):
    """The inputs pinned when the round started: every step of the round reads them."""

    spec_sha256: str
    measurements_sha256: str
    assays: int = Field(0, description="AssayResults (plates) in the snapshot.")
    measured: int = Field(0, description="Variants with a value in the snapshot.")
    failed: int = Field(0, description="Variants with only failed wells in the snapshot.")
    taken_at: str = ""
    owner: str | None = Field(None, description="The round (uid and attempt) that pinned them.")


class LoopRoundStatus(Model):
    """Observed state of a LoopRound."""

    phase: RoundPhase = RoundPhase.PENDING
    started_at: str | None = None
    completed_at: str | None = None
    inputs: RoundInputsStatus | None = None
    tune: StepStatus = Field(default_factory=StepStatus)
    score: StepStatus = Field(default_factory=StepStatus, description="Sharded rounds: the Indexed Job of shards.")
    acquire: StepStatus = Field(default_factory=StepStatus)
    shards: int = Field(1, description="Shards the library is scored in (acquisition.shards; 1: no score step).")
    proposals: list[str] = Field(default_factory=list, description="Variants proposed (canonical).")
    proposals_uri: str | None = None
    proposals_sha256: str | None = None
    measurements_sha256: str | None = Field(None, description="Data snapshot the round trained on.")
    model_sha256: str | None = None
    measured: int = Field(0, description="Proposals of this round with a measured value.")
    failed: int = Field(0, description="Proposals of this round whose wells failed.")
    pending: int = Field(0, description="Proposals of this round without a result.")
    waiting_generation: int | None = Field(
        None, description="metadata.generation when the proposals landed: only a later spec.close closes the round.")
    retries: int = Field(0, description="How many times the round was started again (spec.retry seen).")
    observed_generation: int = 0
    conditions: list[Condition] = Field(default_factory=list)


# ------------------------------------------------------------------------------------ AssayResult


class Measurement(Model):
    """One measured well of one variant: a value, or ``failed: true`` for a well that gave none."""

    variant: str = Field(
        "", max_length=2048,
        description="V39F:D40W, a site combination, or a sequence (empty only for a blank or parent control).",
    )
    value: float | None = Field(None, description="Measured value (finite); omitted for a failed well.")
    failed: bool = Field(
        False,
        description="The variant was assayed and gave no value (it is never proposed again and "
        "never fitted on).",
    )
    values: dict[str, float] = Field(
        default_factory=dict, max_length=3,
        description="A campaign with several objectives: the further objectives' values by name (expression: "
        "0.8); any may be missing. `value` is the first objective's.")
    replicate: int | None = Field(None, ge=1, description="Replicate number, if replicated.")
    well: str | None = Field(None, max_length=8, pattern=r"^[A-Pa-p]0*[0-9]{1,2}$",
                             description="The well (A1 .. P24), when the plate gave wells.")
    control: Literal["parent", "blank", "reference"] | None = Field(
        None, description="A control well: the parent, a blank, or a reference variant (not a measurement of "
        "a candidate; used to normalise and check the plate).")

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number (not NaN or infinity)")
        return v

    @field_validator("values")
    @classmethod
    def _finite_values(cls, v: dict[str, float]) -> dict[str, float]:
        for name, x in v.items():
            if not math.isfinite(x):
                raise ValueError(f"{name}: must be a finite number (not NaN or infinity)")
        return v

    @model_validator(mode="after")
    def _value_or_failed(self) -> Measurement:
        if self.failed and (self.value is not None or self.values):
            raise ValueError("a failed well has no value: drop value (and values) or failed")
        if not self.failed and self.value is None and not self.values:
            raise ValueError("value is required (or failed: true for a well that gave none)")
        if not self.variant and self.control not in ("blank", "parent"):
            raise ValueError("variant is required (only a blank or parent control may leave it empty)")
        return self


TASK_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._°-]{0,62}$"
"""A related assay's name (``AssayResult.spec.task``)."""


class AssayResultSpec(Model):
    """Measurements of one plate or batch. Immutable once accepted; correct by superseding."""

    campaign: str = Field(min_length=1, description="Name of the Campaign (same namespace).")
    round: int | None = Field(None, ge=1, description="Round whose proposals were assayed.")
    earlier: bool = Field(False, description="Measured before the campaign started (earlier data, trained on "
                                             "from the first round, never proposed again).")
    task: str | None = Field(None, pattern=TASK_PATTERN, description=(
        "A related assay's name (another temperature, another substrate): its values are a second task for "
        "the model, never the campaign's results. Absent: the campaign's own assay."))
    unit: str | None = Field(None, description="Unit of the values.")
    replicates: Literal["mean", "median"] = Field("mean", description="How replicates combine.")
    supersedes: list[str] = Field(
        default_factory=list, description="AssayResults (names) whose measurements this replaces."
    )
    measurements: list[Measurement] = Field(
        min_length=1,
        max_length=4096,
        description="The measured values (at most 4,096 per object: split larger batches).",
    )

    @model_validator(mode="after")
    def _no_duplicates(self) -> AssayResultSpec:
        seen: dict[tuple[str, int | None], int] = {}
        for i, m in enumerate(self.measurements):
            if m.control:
                continue  # a control repeats in several wells
            key = (m.variant, m.replicate)
            if key in seen:
                raise ValueError(
                    f"measurements[{i}]: variant {m.variant} (replicate {m.replicate}) duplicates "
                    f"measurements[{seen[key]}]; give replicate numbers or remove one"
                )
            seen[key] = i
        return self


class AssayResultStatus(Model):
    """Whether the measurements were accepted into the campaign."""

    phase: Literal["Pending", "Accepted", "Rejected", "Superseded"] = "Pending"
    accepted: int = Field(0, description="Measurements accepted (failed wells included).")
    failed: int = Field(0, description="Failed wells among them.")
    message: str | None = None
    sha256: str | None = Field(None, description="Hash of the accepted measurements.")
    accepted_at: str | None = None
    superseded_by: str | None = Field(None, description="The AssayResult that corrects this one.")
    observed_generation: int = 0
    conditions: list[Condition] = Field(default_factory=list)


# ----------------------------------------------------------------------------------- StudentModel


class StudentModelSpec(Model):
    """A request to distil a round's model into a compact student."""

    campaign: str = Field(min_length=1, description="Name of the Campaign (same namespace).")
    round: int = Field(ge=1, description="Round whose model is the teacher.")
    architecture: Literal["cnn", "mlp"] = Field("cnn", description="Student family.")
    channels: int = Field(32, ge=1, le=1024, description="Width of the student.")
    ensemble: int = Field(1, ge=1, le=32, description="Members of the student ensemble.")
    match_variance: bool = Field(
        True,
        description="Also learn the teacher's predictive variance (KL to its Gaussian) when it has one.",
    )


class StudentModelStatus(Model):
    """The distilled student and its figures."""

    phase: Literal["Pending", "Running", "Succeeded", "Failed"] = "Pending"
    job: str | None = None
    artifact_uri: str | None = None
    sha256: str | None = None
    parameters: int | None = None
    bytes: int | None = None
    latency_ms: float | None = None
    spearman_teacher: float | None = None
    spearman_measured: float | None = None
    spearman_std_teacher: float | None = None
    cost: StepCost | None = None
    message: str | None = None
    observed_generation: int = 0
    conditions: list[Condition] = Field(default_factory=list)
