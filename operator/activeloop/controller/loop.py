"""One reconcile pass over a campaign: observe, decide (``machine``), act, write statuses.

The operator keeps one loop per Campaign (a kopf daemon, see ``handlers``); a pass looks at
everything that belongs to the campaign, as kopf's indexes hold it (its LoopRounds,
AssayResults, StudentModels and Jobs), decides with the pure functions of
:mod:`activeloop.controller.machine`, executes the actions (idempotent: deterministic names,
create-if-absent, content-addressed artifacts) and writes each status that changed. Passes of one
campaign never overlap, so every status field has one writer: this loop.

Store reads happen only when something changed: a round's snapshot and step records are read
once and remembered, and the campaign's measurements are recomputed only when the set of
accepted AssayResults changes (a fingerprint of the index).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from pydantic import ValidationError

from activeloop.api import naming
from activeloop.api.names import ROUND_STEPS, Step
from activeloop.api.resources import (
    API_VERSION,
    AssayResultSpec,
    AssayResultStatus,
    CampaignResourceSpec,
    CampaignStatus,
    LoopRoundSpec,
    LoopRoundStatus,
    RoundInputsStatus,
    RoundPhase,
    StudentModelSpec,
    StudentModelStatus,
)
from activeloop.controller import builders, policy
from activeloop.controller.config import OperatorConfig
from activeloop.controller.kube import Kube
from activeloop.controller.metrics import Metrics
from activeloop.controller.tenancy import StoreCredentials, StoreCredentialsMissing
from activeloop.errors import ActiveLoopError, RecordError, format_validation_error
from activeloop.lifecycle import machine, notify, observe
from activeloop.lifecycle.rounds import progress
from activeloop.ml.library import Library
from activeloop.steps import controls, ingest
from activeloop.steps.data import build_library, dump_spec
from activeloop.steps.snapshot import read_inputs, take_snapshot
from activeloop.store import ArtifactStore, keys, store_from_uri

log = logging.getLogger(__name__)
MAX_ITERATIONS = 6
"""Decide-act rounds per object and pass (a round goes Pending -> Tuning with a Job in three)."""


# -------------------------------------------------------------------------------- observation


@dataclass(frozen=True)
class Observed:
    """What kopf's indexes held for one campaign when the pass began (plain copies)."""

    namespace: str
    name: str
    campaign: Mapping[str, Any]
    rounds: Sequence[Mapping[str, Any]] = ()
    assays: Sequence[Mapping[str, Any]] = ()
    students: Sequence[Mapping[str, Any]] = ()
    jobs: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class Ref:
    """Which object an Event is about."""

    kind: str
    name: str
    uid: str | None


@dataclass
class PassResult:
    """What a pass asks of its caller: when to run again, and the Events to post."""

    requeue_after: float | None = None
    events: list[tuple[Ref, machine.Event]] = field(default_factory=list)
    writes: int = 0
    pending: list[tuple[str, str, Mapping[str, Any] | None, Any]] = field(default_factory=list)
    """Status writes decided in the pass, made at its end: ``(plural, name, current, new)``."""


@dataclass
class CampaignData:
    """The campaign's measurements, recomputed when the accepted AssayResults change."""

    fingerprint: str
    summary: machine.DataSummary
    measured: frozenset[str]
    failed: frozenset[str]


@dataclass
class CampaignMemory:
    """What one campaign's loop remembers between passes (so quiet passes read nothing)."""

    spec_generation: int | None = None
    spec: CampaignResourceSpec | None = None
    spec_error: str | None = None
    library: Library | None = None
    spec_stored: bytes | None = None
    data: CampaignData | None = None
    inputs: dict[tuple[int, str], RoundInputsStatus] = field(default_factory=dict)
    outputs: dict[tuple[int, str], machine.StepOutput] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    notified: set[str] = field(default_factory=set)


class StoreCache:
    """One artifact store client per campaign, made on first use."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self._stores: dict[tuple[str, str], ArtifactStore] = {}

    def get(self, namespace: str, campaign: str) -> ArtifactStore:
        """The store of ``namespace/campaign``."""
        key = (namespace, campaign)
        if key not in self._stores:
            self._stores[key] = store_from_uri(self.config.campaign_store(namespace, campaign))
        return self._stores[key]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def job_view(job: Mapping[str, Any]) -> machine.JobView:
    """A Job (as the index holds it) as the state machine sees it."""
    st = job.get("status") or {}
    finished = st.get("completionTime") or next(
        (c.get("lastTransitionTime") for c in st.get("conditions") or []
         if c.get("type") in ("Failed", "FailureTarget") and c.get("status") == "True"), None)
    return machine.JobView(job["name"], machine.job_outcome(st), int(st.get("failed") or 0),
                           st.get("startTime"), finished)


# ---------------------------------------------------------------------------------------- loop


class CampaignLoop:
    """Reconcile passes of every campaign of one operator (one :class:`CampaignMemory` each)."""

    def __init__(self, kube: Kube, config: OperatorConfig, metrics: Metrics,
                 stores: StoreCache | None = None, credentials: StoreCredentials | None = None,
                 notifier: notify.Notifier | None = None) -> None:
        self.kube = kube
        self.config = config
        self.metrics = metrics
        self.stores = stores or StoreCache(config)
        self.credentials = credentials
        self.missing_credentials: dict[str, str] = {}
        self.memory: dict[tuple[str, str], CampaignMemory] = {}
        self.notifier = notifier

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is remembered of a deleted campaign."""
        self.memory.pop((namespace, name), None)

    def run(self, obs: Observed, now: datetime | None = None) -> PassResult:
        """One pass over the campaign ``obs`` describes."""
        now = now or _now()
        mem = self.memory.setdefault((obs.namespace, obs.name), CampaignMemory())
        result = PassResult()
        meta = obs.campaign.get("metadata") or {}
        generation = int(meta.get("generation") or 0)
        store = self.stores.get(obs.namespace, obs.name)
        self._spec(mem, obs, generation, store)
        store_uri = self.config.campaign_store(obs.namespace, obs.name)
        campaign_ref = Ref("Campaign", obs.name, meta.get("uid"))
        round_statuses: dict[int, LoopRoundStatus] = {}
        data: CampaignData | None = mem.data
        quiet_for = float("inf")
        accepted_now: dict[str, AssayResultStatus] = {}
        if mem.spec is not None:
            self._store_spec(mem, store)
            accepted_now = self._assays(obs, mem, store, now, result)
            quiet_for = self._quiet_for(obs, accepted_now, now)
            data = self._data(obs, mem, store, accepted_now)
            round_statuses = self._rounds(obs, mem, store, data, quiet_for, now, result)
        view = machine.CampaignView(
            name=obs.name, generation=generation,
            status=CampaignStatus.lenient(obs.campaign.get("status")), store_uri=store_uri,
            spec=mem.spec, spec_error=mem.spec_error, rounds=round_statuses,
            suspend=mem.spec.suspend if mem.spec is not None else False,
            data=data.summary if data else machine.DataSummary(),
        )
        decision = machine.decide_campaign(view, now)
        for action in decision.actions:
            if isinstance(action, machine.CreateRound):
                body = builders.build_loopround(obs.name, action.round)
                builders.adopt(body, obs.campaign)
                created = self.kube.create_if_absent("looprounds", obs.namespace, body)
                if created is not None:
                    self.metrics.rounds_started.inc()
                    if data is not None:  # start it now rather than when its watch event arrives
                        entry = {"name": body["metadata"]["name"], "namespace": obs.namespace,
                                 "uid": (created.get("metadata") or {}).get("uid"), "generation": 1,
                                 "spec": body["spec"], "status": {}}
                        new = Observed(obs.namespace, obs.name, obs.campaign, [entry], jobs=obs.jobs)
                        round_statuses.update(self._rounds(new, mem, store, data, quiet_for, now, result))
        result.pending.append(("campaigns", obs.name, obs.campaign.get("status"), decision.status))
        result.events += [(campaign_ref, e) for e in decision.events]
        if mem.spec is not None:
            self._students(obs, mem, store, now, result)
        self._write_all(obs.namespace, result)  # every action first, then the statuses
        self.metrics.observe_rounds(obs.namespace, obs.name, round_statuses)
        if mem.spec is not None:
            self._notify(obs.name, mem, store, round_statuses, accepted_now)
        return result

    def _notify(self, name: str, mem: CampaignMemory, store: ArtifactStore, rounds: Mapping[int, LoopRoundStatus],
                accepted: Mapping[str, AssayResultStatus]) -> None:
        """Tell the lab what this pass decided (once per event: ``lifecycle.notify``), after the
        statuses that say it are written."""
        assert mem.spec is not None
        spec = mem.spec.core().notify
        if self.notifier is None or not (spec.webhook or spec.email):
            return
        events = notify.round_events(name, rounds)
        if any(st.phase == "Accepted" for st in accepted.values()):
            assays = ingest.list_assays(store)
            gone = ingest.superseded_names(assays)
            rows = {a.name: store.parsed(keys.assay_rows(a.name), ingest.parse_assay_rows)
                    for a in assays if a.name not in gone}
            drift = controls.plates_drift(rows, mem.spec.core().plates.control_tolerance)
            events += notify.drift_events(name, {n: d for n, d in drift.items() if n in accepted})
        fresh = [e for e in events if e.id not in mem.notified]
        if fresh:
            self.notifier.deliver(store, spec, fresh)
            mem.notified.update(e.id for e in fresh)

    # ------------------------------------------------------------------------------- the spec

    def _spec(self, mem: CampaignMemory, obs: Observed, generation: int, store: ArtifactStore) -> None:
        if mem.spec_generation == generation and (mem.spec is not None or mem.spec_error):
            return
        mem.spec_generation = generation
        try:
            spec = CampaignResourceSpec.model_validate(obs.campaign.get("spec") or {})
            library = build_library(spec.core(), store)
        except ValidationError as exc:
            mem.spec, mem.spec_error = None, f"Campaign {format_validation_error(exc, 'spec')}"
            return
        except ActiveLoopError as exc:  # a library that cannot be built (variantsUri unreadable ...)
            mem.spec, mem.spec_error = None, f"Campaign spec.{exc}"
            return
        mem.spec, mem.spec_error, mem.library = spec, None, library

    def _store_spec(self, mem: CampaignMemory, store: ArtifactStore) -> None:
        """Keep the live ``campaign.yaml`` (for people and the web interface) up to date."""
        assert mem.spec is not None
        text = dump_spec(mem.spec.core())
        if mem.spec_stored == text:
            return
        if not store.exists(keys.SPEC) or store.get_bytes(keys.SPEC) != text:
            store.put_bytes(keys.SPEC, text)
        mem.spec_stored = text

    # ----------------------------------------------------------------------------- assays

    def _assays(
        self, obs: Observed, mem: CampaignMemory, store: ArtifactStore, now: datetime, result: PassResult
    ) -> dict[str, AssayResultStatus]:
        """Check, store and decide every AssayResult that needs it; returns their new statuses."""
        assert mem.spec is not None and mem.library is not None
        accepted = {a["name"]: a for a in obs.assays
                    if (a.get("status") or {}).get("phase") in ("Accepted", "Superseded")}
        written: dict[str, AssayResultStatus] = {}
        for a in sorted(obs.assays, key=lambda a: a["name"]):
            status = AssayResultStatus.lenient(a.get("status"))
            generation = int(a.get("generation") or 0)
            needs_check = status.phase == "Pending" or status.observed_generation != generation
            superseder = self._superseder(a["name"], obs.assays, accepted, written)
            if not needs_check and (superseder is None or status.phase == "Superseded"):
                continue
            check, rows, parsed = None, None, None
            if needs_check:
                check, rows, parsed = self._check(a, mem)
            stored = self._stored(store, a["name"]) if needs_check or status.phase != "Superseded" else None
            view = machine.AssayView(a["name"], generation, status, check, stored.sha256 if stored else None,
                                     superseder)
            decision = machine.decide_assay(view, now)
            for action in decision.actions:
                if isinstance(action, machine.StoreAssay) and rows is not None and parsed is not None:
                    notes = a.get("annotations") or {}
                    original = notes.get(naming.ANNOTATION_ORIGINAL, "")
                    ingest.store_assay(store, ingest.StoredAssay(
                        name=a["name"], sha256="", rows=0, failed=0, supersedes=tuple(parsed.supersedes),
                        replicates=parsed.replicates, source=f"AssayResult/{a['name']}",
                        declared_round=parsed.round, arrived_round=self._current_round(obs),
                        accepted_at=decision.status.accepted_at or machine.rfc3339(now),
                        recorded_by=notes.get(naming.ANNOTATION_RECORDED_BY, ""),
                        original=original if keys.servable(original) else "",
                        normalize=mem.spec.core().plates.normalize, unit=parsed.unit or "",
                        earlier=parsed.earlier, task=parsed.task or ""), rows)
            if decision.status.phase != status.phase:
                self.metrics.assays.labels(outcome=decision.status.phase.lower()).inc()
                if decision.status.phase == "Accepted":
                    self.metrics.measurements.labels(outcome="accepted").inc(decision.status.accepted)
            result.pending.append(("assayresults", a["name"], a.get("status"), decision.status))
            written[a["name"]] = decision.status
            result.events += [(Ref("AssayResult", a["name"], a.get("uid")), e) for e in decision.events]
        return written

    def _superseder(self, name: str, assays: Sequence[Mapping[str, Any]], accepted: Mapping[str, Any],
                    written: Mapping[str, AssayResultStatus]) -> str | None:
        for other in assays:
            ok = other["name"] in accepted or (other["name"] in written and written[other["name"]].phase == "Accepted")
            if ok and name in ((other.get("spec") or {}).get("supersedes") or []):
                return other["name"]
        return None

    def _check(self, a: Mapping[str, Any], mem: CampaignMemory) -> tuple[
            machine.AssayCheck, pd.DataFrame | None, AssayResultSpec | None]:
        assert mem.spec is not None
        try:
            parsed = AssayResultSpec.model_validate(a.get("spec") or {})
        except ValidationError as exc:
            rejected = len((a.get("spec") or {}).get("measurements") or [])
            self.metrics.measurements.labels(outcome="rejected").inc(rejected)
            return machine.AssayCheck(False, problems=format_validation_error(exc, "spec")), None, None
        try:
            rows = ingest.check_rows(ingest.assay_spec_rows(parsed), mem.spec.core(), mem.library, a["name"])
            controls.check_normalizable(rows, mem.spec.core().plates.normalize, a["name"])
        except RecordError as exc:
            shown = "; ".join(f"{p.column}: {p.problem}" for p in exc.problems[:20])
            more = f" (and {len(exc.problems) - 20} more)" if len(exc.problems) > 20 else ""
            self.metrics.measurements.labels(outcome="rejected").inc(len(parsed.measurements))
            problems = f"{len(exc.problems)} invalid measurement(s): {shown}{more}"
            return machine.AssayCheck(False, problems=problems), None, None
        return (machine.AssayCheck(True, int(len(rows)), int(rows["failed"].sum()), ingest.content_hash(rows)),
                rows, parsed)

    @staticmethod
    def _stored(store: ArtifactStore, name: str) -> ingest.StoredAssay | None:
        key = keys.assay_meta(name)
        return ingest.StoredAssay.from_json(store.get_bytes(key)) if store.exists(key) else None

    @staticmethod
    def _current_round(obs: Observed) -> int:
        return max((int((r.get("spec") or {}).get("round") or 0) for r in obs.rounds), default=0)

    # ------------------------------------------------------------------------- measurements

    def _data(self, obs: Observed, mem: CampaignMemory, store: ArtifactStore,
              written: Mapping[str, AssayResultStatus]) -> CampaignData:
        """The measurements, recomputed from the store only when the accepted assays changed."""
        assert mem.spec is not None
        items = []
        for a in obs.assays:
            st = written.get(a["name"]) or AssayResultStatus.lenient(a.get("status"))
            if st.phase in ("Accepted", "Superseded") and st.sha256:
                items.append((a["name"], st.sha256, st.phase))
        fingerprint = json.dumps(sorted(items))
        if mem.data is not None and mem.data.fingerprint == fingerprint:
            return mem.data
        df = ingest.measurements(store)
        body = ingest.measurements_csv(df)
        if not store.exists(keys.MEASUREMENTS) or store.get_bytes(keys.MEASUREMENTS) != body:
            store.put_bytes(keys.MEASUREMENTS, body)
        mem.data = CampaignData(
            fingerprint=fingerprint, summary=observe.data_summary(df, mem.spec.all_objectives),
            measured=frozenset(df.loc[~df["failed"], "variant"]), failed=frozenset(df.loc[df["failed"], "variant"]),
        )
        return mem.data

    @staticmethod
    def _quiet_for(obs: Observed, written: Mapping[str, AssayResultStatus], now: datetime) -> float:
        times = [_parse_time((written.get(a["name"]) or AssayResultStatus.lenient(a.get("status"))).accepted_at)
                 for a in obs.assays]
        last = max((t for t in times if t is not None), default=None)
        return float("inf") if last is None else max(0.0, now.timestamp() - last)

    # ------------------------------------------------------------------------------- rounds

    def _rounds(self, obs: Observed, mem: CampaignMemory, store: ArtifactStore, data: CampaignData,
                quiet_for: float, now: datetime, result: PassResult) -> dict[int, LoopRoundStatus]:
        assert mem.spec is not None
        out: dict[int, LoopRoundStatus] = {}
        jobs = {j["name"]: j for j in obs.jobs}
        for r in sorted(obs.rounds, key=lambda r: int((r.get("spec") or {}).get("round") or 0)):
            try:
                spec = LoopRoundSpec.model_validate(r.get("spec") or {})
            except ValidationError:
                continue
            status = LoopRoundStatus.lenient(r.get("status"))
            if status.phase == RoundPhase.COMPLETED:  # late results still count as the round's
                late = machine.decide_round(machine.RoundView(
                    r["name"], spec.round, int(r.get("generation") or 0), status, {},
                    progress=progress(status.proposals, data.measured, data.failed)), mem.spec.trigger, now)
                result.pending.append(("looprounds", r["name"], r.get("status"), late.status))
                out[spec.round] = late.status
                continue
            if status.phase in machine.TERMINAL_ROUND and not (status.phase == RoundPhase.FAILED
                                                               and spec.retry > status.retries):
                out[spec.round] = status
                continue
            names = {str(s): naming.job_name(obs.name, spec.round, s, status.retries) for s in ROUND_STEPS}
            created: dict[str, machine.JobView] = {}
            decision = None
            for _ in range(MAX_ITERATIONS):
                view = self._round_view(r, spec, status, names, jobs, created, mem, store, data, quiet_for)
                decision = machine.decide_round(view, mem.spec.trigger, now)
                if not decision.actions:
                    break
                for action in decision.actions:
                    self._round_action(action, obs, r, mem, store, created, quiet_for, now, _owner(r, status))
            assert decision is not None
            if decision.requeue_after is not None:
                result.requeue_after = min(result.requeue_after or decision.requeue_after, decision.requeue_after)
            self._round_metrics(status, decision.status)
            result.pending.append(("looprounds", r["name"], r.get("status"), decision.status))
            result.events += [(Ref("LoopRound", r["name"], r.get("uid")), e) for e in decision.events]
            out[spec.round] = decision.status
        return out

    def _round_view(self, r: Mapping[str, Any], spec: LoopRoundSpec, status: LoopRoundStatus,
                    names: Mapping[str, str], jobs: Mapping[str, Mapping[str, Any]],
                    created: Mapping[str, machine.JobView], mem: CampaignMemory, store: ArtifactStore,
                    data: CampaignData, quiet_for: float) -> machine.RoundView:
        n = spec.round
        owner = _owner(r, status)
        inputs = status.inputs or mem.inputs.get((n, owner))
        if inputs is None and status.phase == RoundPhase.PENDING:
            pinned = observe.inputs_status(store, n)
            if pinned is not None and pinned.owner in (None, owner):  # an earlier attempt's pin is not this one's
                inputs = mem.inputs[(n, owner)] = pinned
        views, outputs, failures = {}, {}, {}
        for step, job_name in names.items():
            job = jobs.get(job_name)
            view = job_view(job) if job is not None else created.get(step)
            if view is None:
                continue
            views[step] = view
            known = getattr(status, step)
            if view.outcome is True and known.state != "Succeeded":
                output = self._output(mem, store, n, step)
                if output is not None:
                    outputs[step] = output
            if view.outcome is False and known.state != "Failed":
                key = job_name
                if key not in mem.failures:
                    mem.failures[key] = self.kube.job_failure_message(self._ns(r), job_name)
                failures[step] = mem.failures[key]
        prog = None
        props = status.proposals or (outputs[Step.ACQUIRE].proposals if Step.ACQUIRE in outputs else ())
        if props:
            prog = progress(props, data.measured, data.failed)
        assert mem.spec is not None
        refused = self._refusal(mem.spec, self._ns(r))
        return machine.RoundView(
            name=r["name"], number=n, generation=int(r.get("generation") or 0), status=status,
            job_names=names, close=spec.close, inputs=inputs, jobs=views, outputs=outputs,
            failures=failures, progress=prog, quiet_for=quiet_for,
            refused=dict.fromkeys(names, refused) if refused else {}, retry=spec.retry)

    def _refusal(self, spec: CampaignResourceSpec, namespace: str) -> str | None:
        """Why no step Job of this campaign may run (an image or placement the installation does
        not allow, or no store credentials in the namespace), or ``None``."""
        why = policy.refusal(spec.jobs, namespace, self.config.job_policy, self.config.worker_image)
        return why or self.missing_credentials.get(namespace)

    @staticmethod
    def _ns(obj: Mapping[str, Any]) -> str:
        return obj["namespace"]

    @staticmethod
    def _output(mem: CampaignMemory, store: ArtifactStore, n: int, step: str) -> machine.StepOutput | None:
        key = (n, step)
        if key not in mem.outputs:
            output = observe.step_output(store, n, step)
            if output is None:
                return None
            mem.outputs[key] = output
        return mem.outputs[key]

    def _round_action(self, action: machine.Action, obs: Observed, r: Mapping[str, Any], mem: CampaignMemory,
                      store: ArtifactStore, created: dict[str, machine.JobView], quiet_for: float,
                      now: datetime, owner: str) -> None:
        assert mem.spec is not None
        if isinstance(action, machine.TakeSnapshot):
            round_spec = LoopRoundSpec.model_validate(r.get("spec") or {})
            take_snapshot(store, action.round, mem.spec.core(), machine.rfc3339(now), owner=owner,
                          picks=round_spec.picks, picked_by=round_spec.picked_by)
        elif isinstance(action, machine.CreateStepJob):
            if not self._credentials(obs.namespace):
                return  # the next look refuses the step, saying why
            job = builders.build_step_job(obs.name, mem.spec, action.round, action.step, self.config,
                                          self.config.campaign_store(obs.namespace, obs.name), action.shards,
                                          namespace=obs.namespace, attempt=action.attempt)
            builders.adopt(job, {"apiVersion": API_VERSION, "kind": "LoopRound", "metadata": {
                "name": r["name"], "uid": r.get("uid"), "namespace": obs.namespace}})
            if self.kube.create_job_if_absent(obs.namespace, job):
                self.metrics.jobs_created.labels(step=action.step).inc()
                if action.step == Step.TUNE and action.round > 1 and quiet_for != float("inf"):
                    self.metrics.assay_to_job.observe(quiet_for)
            created[action.step] = machine.JobView(job["metadata"]["name"], None)

    def _credentials(self, namespace: str) -> bool:
        """Make sure the namespace's step pods have store credentials of their own (``False``, with
        the reason kept for the round's status, when it has none)."""
        if self.credentials is None or not self.config.uses_s3:
            return True
        try:
            self.credentials.ensure(namespace)
        except StoreCredentialsMissing as exc:
            self.missing_credentials[namespace] = str(exc)
            return False
        self.missing_credentials.pop(namespace, None)
        return True

    def _round_metrics(self, old: LoopRoundStatus, new: LoopRoundStatus) -> None:
        for step in ROUND_STEPS:
            before, after = getattr(old, step), getattr(new, step)
            if after.state in ("Succeeded", "Failed") and before.state != after.state:
                self.metrics.jobs_finished.labels(step=step, outcome=after.state.lower()).inc()
                start, end = _parse_time(after.started_at), _parse_time(after.finished_at)
                if start is not None and end is not None:
                    self.metrics.job_seconds.labels(step=step).observe(max(0.0, end - start))

    # ----------------------------------------------------------------------------- students

    def _students(self, obs: Observed, mem: CampaignMemory, store: ArtifactStore, now: datetime,
                  result: PassResult) -> None:
        assert mem.spec is not None
        jobs = {j["name"]: j for j in obs.jobs}
        for s in obs.students:
            status = StudentModelStatus.lenient(s.get("status"))
            if status.phase in ("Succeeded", "Failed"):
                continue
            try:
                spec, error = StudentModelSpec.model_validate(s.get("spec") or {}), None
            except ValidationError as exc:
                spec, error = None, f"StudentModel {format_validation_error(exc, 'spec')}"
            job_name = naming.distil_job_name(s["name"])
            job = jobs.get(job_name)
            jv = job_view(job) if job is not None else None
            metrics_doc, failure = None, None
            if jv is not None and jv.outcome is True:
                key = keys.student_metrics(s["name"])
                metrics_doc = json.loads(store.get_bytes(key)) if store.exists(key) else None
            if jv is not None and jv.outcome is False:
                failure = self.kube.job_failure_message(obs.namespace, job_name)
            ready = spec is not None and read_inputs(store, spec.round) is not None
            refused = self._refusal(mem.spec, obs.namespace) if jv is None else None
            if refused:  # the installation will not run its Job: the StudentModel fails, saying why
                spec, error = None, f"StudentModel {s['name']}: {refused}"
            view = machine.StudentView(s["name"], int(s.get("generation") or 0), status, job_name, spec, error,
                                       ready, jv, metrics_doc, failure)
            decision = machine.decide_student(view, now)
            for action in decision.actions:
                if isinstance(action, machine.CreateDistilJob) and spec is not None \
                        and self._credentials(obs.namespace):
                    body = builders.build_distil_job(s["name"], spec, mem.spec, self.config,
                                                     self.config.campaign_store(obs.namespace, obs.name),
                                                     namespace=obs.namespace)
                    builders.adopt(body, {"apiVersion": API_VERSION, "kind": "StudentModel", "metadata": {
                        "name": s["name"], "uid": s.get("uid"), "namespace": obs.namespace}})
                    if self.kube.create_job_if_absent(obs.namespace, body):
                        self.metrics.jobs_created.labels(step=Step.DISTIL.value).inc()
            result.pending.append(("studentmodels", s["name"], s.get("status"), decision.status))
            result.events += [(Ref("StudentModel", s["name"], s.get("uid")), e) for e in decision.events]

    # --------------------------------------------------------------------------------- writes

    def _write_all(self, namespace: str, result: PassResult) -> None:
        """Make the pass's status writes, several at once (they are to different objects)."""
        todo = [w for w in result.pending if _normal({k: v for k, v in dict(w[2] or {}).items()
                                                       if k in w[3].dump()}) != _normal(w[3].dump())]
        result.pending.clear()
        # the campaign's status last: it sums up its rounds', so it never runs ahead of theirs (an
        # operator killed between the writes leaves a campaign behind its rounds, never the reverse)
        parts = [[w for w in todo if w[0] != "campaigns"], [w for w in todo if w[0] == "campaigns"]]
        for part in parts:
            if len(part) <= 1:
                for plural, name, current, new in part:
                    self._write(plural, namespace, name, current, new, result)
                continue
            with ThreadPoolExecutor(max_workers=min(4, len(part))) as pool:
                futures = [pool.submit(self.kube.patch_status, plural, namespace, name, new.dump())
                           for plural, name, _, new in part]
                for f in futures:
                    f.result()  # the first failure fails the pass (it is retried)
            result.writes += len(part)

    def _write(self, plural: str, namespace: str, name: str, current: Mapping[str, Any] | None,
               new: Any, result: PassResult) -> bool:
        """Patch ``new`` (a status model) over the object's status if it differs; ``True`` if written."""
        body = new.dump()
        old = {k: v for k, v in dict(current or {}).items() if k in body}
        if _normal(old) == _normal(body):
            return False
        self.kube.patch_status(plural, namespace, name, body)
        result.writes += 1
        return True


def _owner(r: Mapping[str, Any], status: LoopRoundStatus) -> str:
    """Who pins a round's inputs: the LoopRound (its uid) and its attempt."""
    return f"{r.get('uid') or r['name']}:{status.retries}"


def _pruned(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _normal(d: Mapping[str, Any]) -> str:
    """A canonical text of a status: absent, null and empty fields are the same."""
    return json.dumps(_pruned(d), sort_keys=True, default=str)


__all__ = ["CampaignLoop", "CampaignMemory", "Observed", "PassResult", "Ref", "StoreCache", "job_view"]
