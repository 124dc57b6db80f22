"""The state machine of campaigns: every Campaign, LoopRound, AssayResult and StudentModel
transition, and the rules of the lab's own actions (close a round, start the next), as pure
functions. The operator and the workstation both run it: the operator executes the actions with
Kubernetes objects (:mod:`activeloop.controller.loop`), the workstation in-process over a run
directory (:mod:`activeloop.local.runner`).

Each ``decide_*`` takes what the operator observed of one object (a ``*View``: its status, its
Jobs, what its steps wrote to the store) and the time, and returns a :class:`Decision`: the status
the object should have (built from the ``api`` status models), the actions that bring the world
there (create a Job, take a snapshot ...), and when to look again. Deciders do no I/O; a runner
observes, calls them, executes the actions (each idempotent, Jobs by deterministic names) and
writes the statuses. Since a decision depends
only on what is observed, a restarted or retried loop decides the same again: nothing is done
twice and nothing is lost.

LoopRound::

    Pending --snapshot--> Tuning --tune Job ok--> [Scoring --score Indexed Job ok-->] Acquiring
    Acquiring --acquire Job ok--> WaitingForAssays   (Scoring: sharded rounds only, ``shards`` > 1)
    WaitingForAssays --enough results (+ quiet time) or a close--> Completed
    (a close made before the proposals landed is refused: that batch is still to be assayed)
    Tuning | Scoring | Acquiring --Job failed after its retries (a shard: its own)--> Failed

Campaign::

    Pending (no round yet: suspended, or waiting to be asked) | Running (a round's steps run)
    | WaitingForAssays | ReadyForNextRound (the last round completed, the next not started:
    suspended, or waiting to be asked) -> Completed (round rounds + 1 completed)
    ; Failed (invalid spec, or a round failed)

    On a cluster a completed round starts the next at once (``automatic``); on a workstation the
    next round starts when the lab asks (``start_requested``).

AssayResult: ``Pending -> Accepted | Rejected``; ``Accepted -> Superseded`` when a correction
naming it is accepted. An edit of an accepted object is refused (it stays ``Accepted``).
StudentModel: ``Pending -> Running -> Succeeded | Failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from activeloop.api.campaign import CampaignSpec, RoundTrigger
from activeloop.api.names import ROUND_STEPS, Step
from activeloop.api.resources import (
    AssayResultStatus,
    CampaignPhase,
    CampaignStatus,
    Condition,
    LoopRoundStatus,
    RoundInputsStatus,
    RoundPhase,
    StepCost,
    StepStatus,
    StudentModelSpec,
    StudentModelStatus,
)
from activeloop.errors import ConfigError, StateError
from activeloop.lifecycle.rounds import RoundProgress, is_complete

S = TypeVar("S")
STEP_OF_PHASE = dict(zip((RoundPhase.TUNING, RoundPhase.SCORING, RoundPhase.ACQUIRING), ROUND_STEPS, strict=True))
"""The step each working phase of a round runs."""
TERMINAL_ROUND = (RoundPhase.COMPLETED, RoundPhase.FAILED)


def rfc3339(t: datetime) -> str:
    """``2026-11-23T07:00:00Z``."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_condition(
    conditions: list[Condition], type_: str, status: str, reason: str, message: str,
    generation: int, now: datetime,
) -> list[Condition]:
    """``conditions`` with ``type_`` set; its transition time changes only when ``status`` does."""
    old = next((c for c in conditions if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == status else rfc3339(now)
    new = Condition.model_validate({"type": type_, "status": status, "reason": reason, "message": message[:2000],
                                    "last_transition_time": since, "observed_generation": generation})
    return sorted([c for c in conditions if c.type != type_] + [new], key=lambda c: c.type)


def job_outcome(job_status: Mapping[str, Any] | None) -> bool | None:
    """``True`` if a Job completed, ``False`` if it failed for good, ``None`` while it runs."""
    status = job_status or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return True
        if cond.get("status") == "True" and cond.get("type") in ("Failed", "FailureTarget"):
            return False
    if status.get("succeeded"):
        return True
    return None


# ------------------------------------------------------------------------------------ actions


@dataclass(frozen=True)
class TakeSnapshot:
    """Pin a round's inputs (spec and measurements) in the store."""

    round: int


@dataclass(frozen=True)
class CreateStepJob:
    """Create the Job of a round's step (a no-op if it exists); ``shards``: the score step's
    Indexed Job completions; ``attempt``: how many times the round was started again."""

    round: int
    step: str
    shards: int = 1
    attempt: int = 0


@dataclass(frozen=True)
class CreateRound:
    """Create the LoopRound of a campaign's round (a no-op if it exists)."""

    round: int


@dataclass(frozen=True)
class StoreAssay:
    """Store an AssayResult's checked measurements (idempotent by content)."""

    name: str


@dataclass(frozen=True)
class CreateDistilJob:
    """Create a StudentModel's distil Job (a no-op if it exists)."""

    student: str


Action = TakeSnapshot | CreateStepJob | CreateRound | StoreAssay | CreateDistilJob


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the decided object (``type``: Normal or Warning)."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Decision(Generic[S]):
    """The status an object should have, what to do to get there, and when to look again."""

    status: S
    actions: tuple[Action, ...] = ()
    requeue_after: float | None = None
    events: tuple[Event, ...] = ()


# -------------------------------------------------------------------------------------- rounds


@dataclass(frozen=True)
class JobView:
    """A step Job as observed: ``outcome`` True (complete), False (failed for good), None (running)."""

    name: str
    outcome: bool | None
    failures: int = 0
    started_at: str | None = None
    finished_at: str | None = None


@dataclass(frozen=True)
class StepOutput:
    """What a step wrote to the store: its record (and, for acquire, the proposals)."""

    uri: str
    record: Mapping[str, Any]
    proposals: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoundView:
    """Everything :func:`decide_round` needs about one LoopRound."""

    name: str
    number: int
    generation: int
    status: LoopRoundStatus
    job_names: Mapping[str, str]
    close: bool = False
    inputs: RoundInputsStatus | None = None
    jobs: Mapping[str, JobView] = field(default_factory=dict)
    outputs: Mapping[str, StepOutput] = field(default_factory=dict)
    failures: Mapping[str, str] = field(default_factory=dict)
    progress: RoundProgress | None = None
    quiet_for: float = float("inf")
    refused: Mapping[str, str] = field(default_factory=dict)
    """Steps whose Job the installation will not run, and why (an image off its list, a placement
    it does not offer, no store credentials for the namespace)."""
    retry: int = 0
    """The lab's count of starts (``spec.retry``): above ``status.retries``, a failed round starts again."""


def _cost(record: Mapping[str, Any]) -> StepCost | None:
    cost = record.get("cost")
    if not cost:
        return None
    return StepCost.model_validate({k: cost.get(k) for k in StepCost.model_fields})


def decide_round(v: RoundView, trigger: RoundTrigger, now: datetime) -> Decision[LoopRoundStatus]:
    """The next status of a LoopRound and the actions that lead there (see the module docstring)."""
    st = v.status
    if st.phase == RoundPhase.COMPLETED and v.progress is not None:
        # results that arrive after a round completed (closed early) still count as its own
        p = v.progress
        return Decision(st.model_copy(update={"measured": p.measured, "failed": p.failed, "pending": p.pending}))
    if st.phase == RoundPhase.FAILED and v.retry > st.retries:
        # started again: Pending, with the new attempt's Jobs (what succeeded is read back, not redone)
        again = LoopRoundStatus(started_at=st.started_at, retries=v.retry,
                                conditions=[c for c in st.conditions if c.type != "Failed"])
        return Decision(again, (), 0.0, (Event("Normal", "RoundRestarted", f"round {v.number} started again "
                                                                         f"(attempt {v.retry + 1})"),))
    if st.phase in TERMINAL_ROUND:
        return Decision(st)
    ts, gen = rfc3339(now), v.generation
    upd: dict[str, Any] = {"observed_generation": gen}
    conditions = list(st.conditions)
    actions: list[Action] = []
    events: list[Event] = []
    requeue: float | None = None
    phase = st.phase
    if phase == RoundPhase.PENDING:
        if v.inputs is None:
            return Decision(st, (TakeSnapshot(v.number),))
        phase = RoundPhase.TUNING
        upd.update(started_at=st.started_at or ts, inputs=v.inputs,
                   measurements_sha256=v.inputs.measurements_sha256)
        events.append(Event("Normal", "RoundStarted", (
            f"round {v.number}: inputs pinned ({v.inputs.measured} measured variants from "
            f"{v.inputs.assays} AssayResults)")))
    while phase in STEP_OF_PHASE:
        step = STEP_OF_PHASE[phase]
        job = v.jobs.get(step)
        if job is None and step in v.refused:
            message = v.refused[step]
            upd[step] = StepStatus(state="Failed", message=message)
            phase = RoundPhase.FAILED
            upd["completed_at"] = ts
            conditions = with_condition(conditions, "Failed", "True", "JobRefused", message, gen, now)
            events.append(Event("Warning", "JobRefused", f"{step}: {message}"))
            break
        if job is None:
            actions.append(CreateStepJob(v.number, step, upd.get("shards", st.shards), st.retries))
            upd[step] = StepStatus(job=v.job_names[step], state="Pending")
            break
        base: dict[str, Any] = {"job": job.name, "started_at": job.started_at, "finished_at": job.finished_at}
        if job.outcome is None:
            upd[step] = StepStatus(**base, state="Running", attempts=job.failures + 1)
            break
        output = v.outputs.get(step)
        if job.outcome is False or output is None:
            message = (v.failures.get(step) or f"the {step} Job failed after {job.failures} attempt(s)"
                       if job.outcome is False else
                       f"the {step} Job succeeded but wrote no record to the store")
            upd[step] = StepStatus(**base, state="Failed", attempts=job.failures, message=message)
            phase = RoundPhase.FAILED
            upd["completed_at"] = ts
            conditions = with_condition(conditions, "Failed", "True", f"{step.capitalize()}JobFailed",
                                        message, gen, now)
            events.append(Event("Warning", "StepFailed", f"{step}: {message}"))
            break
        upd[step] = StepStatus(**base, state="Succeeded", attempts=job.failures + 1,
                               record_uri=output.uri, cost=_cost(output.record))
        if step == Step.TUNE:
            upd["model_sha256"] = (output.record.get("model_sha256") or {}).get("adapter_model.safetensors")
            conditions = with_condition(conditions, "Tuned", "True", "TuneJobSucceeded",
                                        _tuned_message(output.record), gen, now)
            upd["shards"] = int(output.record.get("shards") or 1)
            phase = RoundPhase.SCORING if upd["shards"] > 1 else RoundPhase.ACQUIRING
        elif step == Step.SCORE:
            conditions = with_condition(conditions, "Scored", "True", "ScoreJobSucceeded",
                                        f"{output.record.get('ranked', 0):,} candidates ranked in "
                                        f"{output.record.get('shards', 0)} shards", gen, now)
            phase = RoundPhase.ACQUIRING
        else:
            upd.update(proposals=list(output.proposals), proposals_uri=output.record.get("proposals_uri"),
                       proposals_sha256=output.record.get("proposals_sha256"))
            conditions = with_condition(conditions, "Proposed", "True", "AcquireJobSucceeded",
                                        f"{len(output.proposals)} variants proposed", gen, now)
            events.append(Event("Normal", "Proposed", f"round {v.number}: {len(output.proposals)} variants "
                                                      "proposed; waiting for assay results"))
            phase = RoundPhase.WAITING_FOR_ASSAYS
            upd["waiting_generation"] = gen
    if phase == RoundPhase.WAITING_FOR_ASSAYS:
        proposed = len(upd.get("proposals", st.proposals))
        p = v.progress or RoundProgress(proposed, 0, 0)
        upd.update(measured=p.measured, failed=p.failed, pending=p.pending)
        # a close counts only when made after the proposals landed: closing a round that is still
        # being prepared would complete it the moment its batch appears, and lose that batch
        waiting_since = upd.get("waiting_generation", st.waiting_generation)
        close = v.close and (waiting_since is None or gen > waiting_since)
        if v.close and not close:
            conditions = with_condition(
                conditions, "CloseRefused", "True", "ClosedBeforeProposals",
                f"round {v.number} was closed before its proposals were made; its batch is still to be "
                "assayed. To close it now, set spec.close to false and then to true again", gen, now)
        else:
            conditions = [c for c in conditions if c.type != "CloseRefused"]
        if is_complete(p, trigger, close):
            wait = 0.0 if close else trigger.debounce_seconds - v.quiet_for
            if wait > 0:
                requeue = wait
            else:
                phase = RoundPhase.COMPLETED
                upd["completed_at"] = ts
                reason = "ClosedByLab" if close and p.done < p.needed(trigger) else "AssaysRecorded"
                message = f"{p.done} of {p.proposed} proposals have a result ({p.failed} failed wells)"
                conditions = with_condition(conditions, "Completed", "True", reason, message, gen, now)
                events.append(Event("Normal", "RoundCompleted", f"round {v.number}: {message}"))
    upd.update(phase=phase, conditions=conditions)
    return Decision(st.model_copy(update=upd), tuple(actions), requeue, tuple(events))


def _tuned_message(record: Mapping[str, Any]) -> str:
    if not record.get("tuned"):
        return f"nothing to tune ({record.get('reason', 'fixed encoding')})"
    return (f"LoRA adapters tuned: {record.get('trainable_parameters', 0):,} of "
            f"{record.get('total_parameters', 0):,} parameters")


# ------------------------------------------------------------------------------------ campaign


@dataclass(frozen=True)
class DataSummary:
    """The campaign's measurements as the lab sees them."""

    measured: int = 0
    failed: int = 0
    best_variant: str | None = None
    best_value: float | None = None
    hypervolume: float | None = None
    """Several objectives: the hypervolume of the measured variants' Pareto front."""


@dataclass(frozen=True)
class CampaignView:
    """Everything :func:`decide_campaign` needs: the spec (or why it is invalid), the rounds'
    statuses as just decided, and the data summary.

    ``automatic``: a round starts as soon as the last one completes (a cluster); otherwise only when
    ``start_requested`` (a workstation, where the lab starts each round). ``suspend``: no round starts.
    """

    name: str
    generation: int
    status: CampaignStatus
    store_uri: str
    spec: CampaignSpec | None = None
    spec_error: str | None = None
    rounds: Mapping[int, LoopRoundStatus] = field(default_factory=dict)
    data: DataSummary = field(default_factory=DataSummary)
    suspend: bool = False
    automatic: bool = True
    start_requested: bool = False

    @property
    def may_start(self) -> bool:
        """Whether a due round may be created now."""
        return not self.suspend and (self.automatic or self.start_requested)


def decide_campaign(v: CampaignView, now: datetime) -> Decision[CampaignStatus]:
    """The next status of a Campaign and the round to create, if one is due."""
    st, gen = v.status, v.generation
    conditions = list(st.conditions)
    actions: list[Action] = []
    events: list[Event] = []
    upd: dict[str, Any] = {"observed_generation": gen, "store_uri": v.store_uri}
    if v.spec is None:
        conditions = with_condition(conditions, "Ready", "False", "InvalidSpec", v.spec_error or "", gen, now)
        phase = CampaignPhase.FAILED
        if st.phase != CampaignPhase.FAILED or st.observed_generation != gen:
            events.append(Event("Warning", "InvalidSpec", v.spec_error or "invalid spec"))
    else:
        spec = v.spec
        conditions = with_condition(conditions, "Ready", "True", "SpecAccepted", "", gen, now)
        current = max(v.rounds, default=0)
        last = v.rounds.get(current)
        if last is None:
            if not v.may_start:
                phase = CampaignPhase.PENDING
            else:
                actions.append(CreateRound(1))
                current, phase = 1, CampaignPhase.RUNNING
        elif last.phase == RoundPhase.FAILED:
            phase = CampaignPhase.FAILED
            why = next((c.message for c in last.conditions if c.type == "Failed"), "a step failed")
            conditions = with_condition(conditions, "RoundFailed", "True", "StepFailed",
                                        f"round {current}: {why}", gen, now)
        elif last.phase == RoundPhase.COMPLETED:
            if current >= spec.total_rounds:
                phase = CampaignPhase.COMPLETED
            elif not v.may_start:
                phase = CampaignPhase.READY_FOR_NEXT_ROUND
            else:
                actions.append(CreateRound(current + 1))
                current, phase = current + 1, CampaignPhase.RUNNING
                events.append(Event("Normal", "RoundStarted", f"round {current} started"))
        elif last.phase == RoundPhase.WAITING_FOR_ASSAYS:
            phase = CampaignPhase.WAITING_FOR_ASSAYS
        else:
            phase = CampaignPhase.RUNNING
        if phase != CampaignPhase.FAILED:
            conditions = [c for c in conditions if c.type != "RoundFailed"]
        if phase == CampaignPhase.COMPLETED and st.phase != CampaignPhase.COMPLETED:
            events.append(Event("Normal", "Completed", f"all {spec.total_rounds} rounds done"))
        upd.update(current_round=current, rounds_planned=spec.total_rounds,
                   proposals_pending=last.pending if last is not None else 0)
    upd.update(phase=phase, conditions=conditions,
               phase_since=st.phase_since if phase == st.phase and st.phase_since else rfc3339(now),
               measured=v.data.measured, failed=v.data.failed,
               best_variant=v.data.best_variant, best_value=v.data.best_value,
               hypervolume=v.data.hypervolume)
    return Decision(st.model_copy(update=upd), tuple(actions), None, tuple(events))


# ---------------------------------------------------------------------------- the lab's actions


def check_close(number: int, phase: RoundPhase) -> None:
    """Refuse to close a round that is not waiting for assay results (:class:`StateError`).

    Closing a round that is still being prepared would complete it the moment its proposals land,
    so that batch would never be assayed; a completed or failed round has nothing to close.
    """
    if phase != RoundPhase.WAITING_FOR_ASSAYS:
        raise StateError(f"round {number} is {phase.value}: only a round waiting for assay results can be closed")


@dataclass(frozen=True)
class NextRound:
    """What "start the next round" does: close the current round first (``close``), then start
    round ``start``; ``retry``: start a failed round's steps again; ``resume``: finish a round
    that a command which ended left half-prepared."""

    start: int
    close: int | None = None
    retry: bool = False
    resume: bool = False


def plan_next_round(current: int, phase: RoundPhase | None, total_rounds: int, extend_hint: str,
                    nobody_prepares: bool = False) -> NextRound:
    """The plan of "start the next round" for a campaign whose latest round is ``current`` (0: none)
    in ``phase``, or :class:`StateError` saying why not (``extend_hint``: how to allow more rounds).

    A round waiting for results is closed first, whatever is pending; a failed round is started
    again; a round being prepared is left alone, unless ``nobody_prepares`` (the caller holds the
    workstation's runner lock: the round was left by a command that ended), then it is finished;
    past ``total_rounds`` nothing starts.
    """
    if current == 0 or phase is None:
        return NextRound(start=1)
    if phase == RoundPhase.FAILED:
        return NextRound(start=current, retry=True)
    if phase not in (RoundPhase.WAITING_FOR_ASSAYS, RoundPhase.COMPLETED):
        if nobody_prepares:
            return NextRound(start=current, resume=True)
        raise StateError(f"round {current} is being prepared ({phase.value}); its proposals come first")
    if current >= total_rounds:
        raise StateError(f"the campaign has done its {total_rounds} rounds (the first batch and "
                         f"rounds: {total_rounds - 1}); to go on, {extend_hint}")
    return NextRound(start=current + 1, close=current if phase == RoundPhase.WAITING_FOR_ASSAYS else None)


def check_extend(new_rounds: int, old_rounds: int) -> None:
    """Refuse to lower a campaign's ``rounds`` (rounds are never taken back)."""
    if new_rounds < old_rounds:
        raise ConfigError("rounds", f"{new_rounds} is below the campaign's {old_rounds}; rounds are never taken back")


# -------------------------------------------------------------------------------------- assays


@dataclass(frozen=True)
class AssayCheck:
    """The outcome of checking an AssayResult's measurements against its campaign."""

    ok: bool
    rows: int = 0
    failed: int = 0
    sha256: str | None = None
    problems: str = ""


@dataclass(frozen=True)
class AssayView:
    """Everything :func:`decide_assay` needs about one AssayResult."""

    name: str
    generation: int
    status: AssayResultStatus
    check: AssayCheck | None = None
    stored_sha256: str | None = None
    superseded_by: str | None = None


def decide_assay(v: AssayView, now: datetime) -> Decision[AssayResultStatus]:
    """Accept or reject an AssayResult; refuse edits of accepted ones; mark superseded ones."""
    st, gen, ts = v.status, v.generation, rfc3339(now)
    conditions = list(st.conditions)
    if v.stored_sha256 is not None and (st.phase in ("Accepted", "Superseded") or st.sha256 is None
                                         or st.sha256 == v.stored_sha256):
        upd: dict[str, Any] = {"observed_generation": gen, "sha256": v.stored_sha256}
        events: list[Event] = []
        if st.phase not in ("Accepted", "Superseded"):  # stored, but the status was not written
            upd.update(phase="Accepted", accepted=v.check.rows if v.check else st.accepted,
                       failed=v.check.failed if v.check else st.failed, accepted_at=st.accepted_at or ts,
                       message=_accepted_message(v.check))
            conditions = with_condition(conditions, "Accepted", "True", "Validated", "", gen, now)
        if v.check is not None and (not v.check.ok or v.check.sha256 != v.stored_sha256):
            message = (f"AssayResult {v.name} was accepted and its measurements are immutable; "
                       f"create a new AssayResult with spec.supersedes: [{v.name}]")
            upd["message"] = message
            conditions = with_condition(conditions, "Accepted", "True", "EditRefused", message, gen, now)
            events.append(Event("Warning", "EditRefused", message))
        if v.superseded_by is not None:
            upd.update(phase="Superseded", superseded_by=v.superseded_by)
            conditions = with_condition(conditions, "Superseded", "True", "Corrected",
                                        f"superseded by {v.superseded_by}", gen, now)
        upd["conditions"] = conditions
        return Decision(st.model_copy(update=upd), (), None, tuple(events))
    if v.check is None:
        return Decision(st)
    if not v.check.ok:
        message = f"AssayResult {v.name}: {v.check.problems}"
        conditions = with_condition(conditions, "Accepted", "False", "Invalid", message, gen, now)
        return Decision(st.model_copy(update={"phase": "Rejected", "message": message,
                                              "observed_generation": gen, "conditions": conditions}),
                        (), None, (Event("Warning", "Rejected", message[:1000]),))
    conditions = with_condition(conditions, "Accepted", "True", "Validated", "", gen, now)
    upd = {"phase": "Accepted", "accepted": v.check.rows, "failed": v.check.failed,
           "sha256": v.check.sha256, "accepted_at": ts, "message": _accepted_message(v.check),
           "observed_generation": gen, "conditions": conditions}
    return Decision(st.model_copy(update=upd), (StoreAssay(v.name),), None,
                    (Event("Normal", "Accepted", _accepted_message(v.check) or ""),))


def _accepted_message(check: AssayCheck | None) -> str | None:
    if check is None:
        return None
    failed = f" ({check.failed} failed wells)" if check.failed else ""
    return f"{check.rows} measurement(s) accepted{failed}"


# ------------------------------------------------------------------------------------ students


@dataclass(frozen=True)
class StudentView:
    """Everything :func:`decide_student` needs about one StudentModel."""

    name: str
    generation: int
    status: StudentModelStatus
    job_name: str
    spec: StudentModelSpec | None = None
    spec_error: str | None = None
    round_ready: bool = False
    job: JobView | None = None
    metrics: Mapping[str, Any] | None = None
    failure: str | None = None


def decide_student(v: StudentView, now: datetime) -> Decision[StudentModelStatus]:
    """Start, follow and report a StudentModel's distil Job."""
    st, gen = v.status, v.generation
    if st.phase in ("Succeeded", "Failed"):
        return Decision(st)
    conditions = list(st.conditions)
    upd: dict[str, Any] = {"observed_generation": gen}
    actions: list[Action] = []
    events: list[Event] = []
    if v.spec is None:
        conditions = with_condition(conditions, "Ready", "False", "InvalidSpec", v.spec_error or "", gen, now)
        upd.update(phase="Failed", message=v.spec_error)
    elif v.job is None and not v.round_ready:
        upd.update(phase="Pending", message=f"waiting for round {v.spec.round} of {v.spec.campaign} to be tuned")
    elif v.job is None:
        actions.append(CreateDistilJob(v.name))
        upd.update(phase="Running", job=v.job_name, message=None)
    elif v.job.outcome is None:
        upd.update(phase="Running", job=v.job.name)
    elif v.job.outcome is False or v.metrics is None:
        message = (v.failure or "the distil Job failed") if v.job.outcome is False else \
            "the distil Job succeeded but wrote no metrics"
        conditions = with_condition(conditions, "Ready", "False", "DistilJobFailed", message, gen, now)
        upd.update(phase="Failed", message=message)
        events.append(Event("Warning", "DistilFailed", message))
    else:
        m, first = v.metrics, v.metrics["members"][0]
        conditions = with_condition(conditions, "Ready", "True", "Distilled", "", gen, now)
        upd.update(
            phase="Succeeded",
            artifact_uri=first["uri"] if len(m["members"]) == 1 else first["uri"].rsplit("/", 1)[0],
            sha256=first["sha256"], parameters=m["parameters"], bytes=m["bytes"],
            latency_ms=m["latency_ms"], spearman_teacher=m["spearman_teacher"],
            spearman_measured=m["spearman_measured"], spearman_std_teacher=m.get("spearman_std_teacher"),
            cost=_cost(m), message=f"{len(m['members'])} student(s) distilled from round {v.spec.round}",
        )
        events.append(Event("Normal", "Distilled", str(upd["message"])))
    upd["conditions"] = conditions
    return Decision(st.model_copy(update=upd), tuple(actions), None, tuple(events))


__all__ = [
    "STEP_OF_PHASE",
    "TERMINAL_ROUND",
    "Action",
    "AssayCheck",
    "AssayView",
    "CampaignView",
    "CreateDistilJob",
    "CreateRound",
    "CreateStepJob",
    "DataSummary",
    "Decision",
    "Event",
    "JobView",
    "NextRound",
    "RoundView",
    "StepOutput",
    "StoreAssay",
    "StudentView",
    "TakeSnapshot",
    "check_close",
    "check_extend",
    "decide_assay",
    "decide_campaign",
    "decide_round",
    "decide_student",
    "job_outcome",
    "plan_next_round",
    "rfc3339",
    "with_condition",
]
