"""The campaign service on a workstation: campaigns in run directories.

``root`` is one run directory (the campaign is named after it) or a folder of them. Every action
goes through :mod:`activeloop.local.rundir` (locked, atomic writes; the state decided by the one
state machine) and :mod:`activeloop.local.runner` (the machine's actions run in-process). Starting
a round from the web returns at once and runs in a thread of this process, which holds the run
directory's runner lock meanwhile, so the CLI and the web see the same "being prepared" state.
"""

from __future__ import annotations

import getpass
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import ValidationError
from typing_extensions import override

from activeloop.api.campaign import CampaignSpec
from activeloop.api.names import Step
from activeloop.api.resources import LoopRoundStatus, RoundPhase, StudentModelStatus
from activeloop.api.views import (
    ActivityEntry,
    CampaignDetail,
    CampaignSummary,
    HistoryPoint,
    NextRoundResult,
    PlateDetail,
    PlateView,
    RecordResult,
    RoundDetail,
    RoundSummary,
    StudentView,
)
from activeloop.errors import (
    ActiveLoopError,
    ConfigError,
    ConflictError,
    InputError,
    NotFoundError,
    format_validation_error,
)
from activeloop.lifecycle import machine, notify
from activeloop.local import rundir as rd
from activeloop.local.runner import OnProgress, advance
from activeloop.service import activity, plates, views
from activeloop.service.base import CampaignService, User, check_artifact_key, require_name
from activeloop.service.plates import Plate, RecordOptions, default_plate_name
from activeloop.steps import ingest
from activeloop.steps.data import read_proposals
from activeloop.steps.picks import check_next_picks
from activeloop.store import keys


def local_user() -> User:
    """The person at this workstation (the operating system's user name)."""
    try:
        return User(getpass.getuser())
    except (KeyError, OSError):  # no name for this uid (a container): say so rather than fail
        return User("unknown")


def parse_spec(data: object, source: str = "spec") -> CampaignSpec:
    """Validate a campaign spec (or a Campaign manifest's), every problem named by its field."""
    if isinstance(data, dict) and data.get("kind") == "Campaign":
        data = data.get("spec", {})
    if not isinstance(data, dict):
        raise ConfigError(source, "is not a mapping of campaign fields")
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc)) from None


@dataclass
class _Work:
    """A round being prepared in a thread of this process, and how its start went."""

    round: int | None = None
    thread: threading.Thread | None = None
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    result: NextRoundResult | None = None
    picks: tuple[str, ...] = ()


class RunDirService(CampaignService):
    """Campaigns in ``root``: one run directory, or a folder of them (``single`` says which;
    by default, whether ``root`` holds a campaign itself)."""

    kind = "workstation"

    def __init__(self, root: str | Path, single: bool | None = None, notifier: notify.Notifier | None = None) -> None:
        self.root = Path(root).resolve()
        self.notifier = notifier or notify.Notifier()
        self.single = (self.root / keys.SPEC).is_file() if single is None else single
        if not self.single and not self.root.is_dir():
            raise NotFoundError(f"{root} is not a directory")
        self._runs: dict[str, rd.RunDirectory] = {}
        self._work: dict[str, _Work] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_run_dir(cls, path: str | Path) -> tuple[RunDirService, str]:
        """The service of one run directory (which may not exist yet: ``create_campaign`` makes
        it) and the campaign's name."""
        service = cls(path, single=True)
        return service, service.root.name

    # ------------------------------------------------------------------------------ lookups

    def _dirs(self) -> dict[str, Path]:
        if self.single:
            return {self.root.name: self.root} if (self.root / keys.SPEC).is_file() else {}
        return {d.name: d for d in sorted(self.root.iterdir()) if (d / keys.SPEC).is_file()}

    def run(self, name: str) -> rd.RunDirectory:
        """The run directory of campaign ``name`` (kept, with its caches)."""
        with self._lock:
            run = self._runs.get(name)
        if run is not None and (run.path / keys.SPEC).is_file():
            return run
        path = self._dirs().get(name)
        if path is None:
            raise NotFoundError(f"no campaign {name!r}" + (f" in {self.root}" if not self.single else
                                                            f": {self.root} holds none"))
        run = rd.RunDirectory(path)
        with self._lock:
            self._runs[name] = run
        return run

    # ------------------------------------------------------------------------------ reading

    def _summary(self, name: str, state: rd.RunState) -> CampaignSummary:
        return views.campaign_summary(name, None, state.status, state.round_status(state.current), automatic=False)

    @override
    def campaigns(self, user: User) -> list[CampaignSummary]:
        out = []
        for name in self._dirs():
            try:
                out.append(self._summary(name, self.run(name).state()))
            except ActiveLoopError as exc:  # a damaged run directory is listed, not fatal
                out.append(CampaignSummary(name=name, phase=machine.CampaignPhase.FAILED, message=str(exc)))
        return out

    @override
    def campaign(self, user: User, name: str, namespace: str | None = None) -> CampaignDetail:
        run = self.run(name)
        state = run.state()
        return views.campaign_detail(self._summary(name, state), state.spec, state.status,
                                     run.library(state.spec).size, self._can_start(state, run))

    @staticmethod
    def _can_start(state: rd.RunState, run: rd.RunDirectory) -> bool:
        try:
            machine.plan_next_round(state.current, state.last_phase, state.spec.total_rounds, "",
                                    nobody_prepares=not run.runner_busy())
        except ActiveLoopError:
            return False
        return True

    @override
    def rounds(self, user: User, name: str, namespace: str | None = None) -> list[RoundSummary]:
        state = self.run(name).state()
        return [views.round_summary(n, d.status) for n, d in sorted(state.rounds.items())]

    @override
    def round(self, user: User, name: str, number: int, namespace: str | None = None) -> RoundDetail:
        run = self.run(name)
        state = run.state()
        st = state.round_status(number)
        if st is None:
            raise NotFoundError(f"campaign {name} has no round {number}")
        rows = views.proposal_rows(read_proposals(run.store, number), state.data)
        return views.round_detail(number, st, rows, run.record(number, Step.ACQUIRE))

    @override
    def history(self, user: User, name: str, namespace: str | None = None) -> list[HistoryPoint]:
        state = self.run(name).state()
        round_of = {v: n for n, d in sorted(state.rounds.items(), reverse=True) for v in d.status.proposals}
        return views.best_by_round(state.data, round_of, sorted(state.rounds), state.spec.all_objectives)

    @override
    def students(self, user: User, name: str, namespace: str | None = None) -> list[StudentView]:
        run = self.run(name)
        out = []
        for key in run.store.list(keys.STUDENTS):
            if key.endswith("/metrics.json") and key == keys.student_metrics(key.split("/")[1]):
                m = run.store.parsed(key, _json)
                st = StudentModelStatus.model_validate({
                    "phase": "Succeeded", "parameters": m.get("parameters"), "bytes": m.get("bytes"),
                    "latency_ms": m.get("latency_ms"), "spearman_teacher": m.get("spearman_teacher"),
                    "spearman_measured": m.get("spearman_measured"),
                    "message": f"{len(m.get('members', []))} student(s), {m.get('architecture')}"})
                out.append(views.student_view(m["student"], m["round"], st))
        return out

    @override
    def artifact(self, user: User, name: str, key: str, namespace: str | None = None) -> bytes:
        run = self.run(name)
        check_artifact_key(key)
        try:
            return run.store.get_bytes(key)
        except KeyError:
            raise NotFoundError(f"campaign {name} has no {key}") from None

    # ------------------------------------------------------------------------------- acting

    @override
    def create_campaign(self, user: User, name: str, spec: dict, namespace: str | None = None,
                        files: Mapping[str, bytes] | None = None) -> CampaignDetail:
        require_name(name)
        parsed = parse_spec(spec, "spec")
        if self.single:
            if name != self.root.name:
                raise ConflictError(f"{self.root} holds one campaign, {self.root.name}; serve a folder of "
                                    "campaigns to create more")
            target = self.root
        else:
            target = self.root / name
        if (target / keys.SPEC).exists():
            raise ConflictError(f"a campaign {name!r} exists already")
        rd.create(target, parsed, files or {}, by=user.name)
        return self.campaign(user, name)

    def _proposals_of(self, run: rd.RunDirectory, name: str) -> plates.ProposalsOf:
        def proposals(number: int | None) -> tuple[int, pd.DataFrame]:
            with_props = [n for n in run.rounds() if run.store.exists(keys.proposals(n))]
            n = number if number is not None else (with_props[-1] if with_props else None)
            table = read_proposals(run.store, n) if n is not None else None
            if n is None or table is None:
                raise NotFoundError(f"{name} has no proposals" + (f" in round {n}" if n else " yet") +
                                    f": no plate map to read a plate by well with (rounds with proposals: "
                                    f"{with_props or 'none'})")
            return n, table
        return proposals

    @override
    def record(self, user: User, name: str, plate: Plate, options: RecordOptions,
               namespace: str | None = None) -> RecordResult:
        run = self.run(name)
        spec = run.spec()
        plate_map = plates.resolve_map(options, spec, self._proposals_of(run, name))
        checked = plates.check_plate(plate, spec, run.library(spec), options, plate_map)
        assays = {a.name: a for a in run.assays()}
        plates.check_supersedes(options.supersedes, assays)
        before = [self._values(run, assays[s]) for s in options.supersedes]
        result = self._checked_result(checked, options, spec, before, self._drift(run, spec, checked))
        if options.dry_run:
            return result.model_copy(update={"name": options.name or default_plate_name(options, checked)})
        original = (checked.raw, plates.original_suffix(checked.source)) if checked.raw else None
        out = rd.record_plate(run, checked.rows, source=checked.source, name=options.name,
                              default_name=default_plate_name(options, checked), supersedes=options.supersedes,
                              replicates=options.replicates, idempotency_key=options.idempotency_key,
                              recorded_by=user.name, declared_round=options.round, original=original,
                              normalize=spec.plates.normalize, unit=checked.unit, earlier=checked.earlier,
                              task=checked.task)
        if out.new and result.drift:
            self._notify(run, spec, notify.drift_events(name, {out.name: result.drift}))
        return result.model_copy(update={"recorded": out.new, "dry_run": False, "name": out.name,
                                         "duplicate_of": out.duplicate_of})

    def _notify(self, run: rd.RunDirectory, spec: CampaignSpec, events: list[notify.Event]) -> None:
        """Send what the lab should hear of (once per event, under the writer lock: ``lifecycle.notify``)."""
        if events and (spec.notify.webhook or spec.notify.email):
            with run.writing():
                self.notifier.deliver(run.store, spec.notify, events)

    @staticmethod
    def _values(run: rd.RunDirectory, meta: ingest.StoredAssay) -> pd.DataFrame:
        return ingest.variant_values(ingest.read_assay_rows(run.store, meta.name), meta.replicates, meta.normalize)

    def _drift(self, run: rd.RunDirectory, spec: CampaignSpec, checked: plates.CheckedPlate) -> list[str]:
        """Why the new plate's controls are out of line with the campaign's plates in force."""
        if not checked.controls:
            return []
        rows = self._rows_in_force(run)
        rows["(this plate)"] = checked.rows
        return plates.plate_drift(spec, rows)["(this plate)"]

    @staticmethod
    def _rows_in_force(run: rd.RunDirectory) -> dict[str, pd.DataFrame]:
        assays = run.assays()
        gone = ingest.superseded_names(assays)
        return {a.name: run.store.parsed(keys.assay_rows(a.name), ingest.parse_assay_rows)
                for a in assays if a.name not in gone}

    # ------------------------------------------------------------------------------- plates

    @override
    def plates(self, user: User, name: str, namespace: str | None = None) -> list[PlateView]:
        run = self.run(name)
        spec = run.spec()
        assays = run.assays()
        by = {s: a.name for a in assays for s in a.supersedes}
        rows = {a.name: run.store.parsed(keys.assay_rows(a.name), ingest.parse_assay_rows) for a in assays}
        drift = plates.plate_drift(spec, {n: r for n, r in rows.items() if n not in by})
        return sorted((plates.plate_view(a, rows[a.name], by.get(a.name), drift.get(a.name, ())) for a in assays),
                      key=lambda v: (v.recorded_at or "", v.name), reverse=True)

    @override
    def plate(self, user: User, name: str, plate: str, namespace: str | None = None) -> PlateDetail:
        views_by_name = {v.name: v for v in self.plates(user, name, namespace)}
        view = views_by_name[plates.find_plate(plate, views_by_name)]
        run = self.run(name)
        return plates.plate_detail(view, ingest.read_assay_rows(run.store, plate), view.normalize)

    @override
    def plate_file(self, user: User, name: str, plate: str, namespace: str | None = None) -> tuple[bytes, str]:
        run = self.run(name)
        assays = {a.name: a for a in run.assays()}
        meta = assays[plates.find_plate(plate, assays)]
        if not meta.original or not run.store.exists(meta.original):
            raise NotFoundError(f"plate {plate} came as {meta.source or 'rows'}, not as a file: download its rows")
        return run.store.get_bytes(meta.original), f"{plate}{meta.original[meta.original.rfind('.'):]}"

    @override
    def activity(self, user: User, name: str, namespace: str | None = None) -> list[ActivityEntry]:
        run = self.run(name)
        state = run.state()
        entries = activity.plate_entries(run.assays())
        for n, d in state.rounds.items():
            started = run.started(n) or {}
            closed = run.closed(n)
            entries += activity.round_entries(
                n, d.status, activity.Note(started["at"], started.get("by")) if started else None,
                [activity.Note(r["at"], r.get("by")) for r in started.get("retries", [])],
                activity.Note(closed["closed_at"], closed.get("by")) if closed else None)
        notes = run.activities()
        created = next((activity.Note(a["at"], a.get("by")) for a in notes if a.get("kind") == "created"), None)
        extended = {int(a["rounds"]): activity.Note(a["at"], a.get("by")) for a in notes
                    if a.get("kind") == "extended" and int(a.get("rounds", 0)) <= state.spec.rounds}
        return activity.feed(entries + activity.campaign_entries(created, extended))

    @override
    def measurements(self, user: User, name: str, namespace: str | None = None) -> pd.DataFrame:
        return self.run(name).measurements()

    @override
    def archive_files(self, user: User, name: str, namespace: str | None = None) -> dict[str, bytes]:
        run = self.run(name)
        with run.writing():  # a consistent copy: no plate or round lands while it is read
            run.reconcile()
            return {k: run.store.get_bytes(k) for k in run.store.list("") if keys.archived(k)}

    @override
    def close_round(self, user: User, name: str, number: int | None = None,
                    namespace: str | None = None) -> NextRoundResult:
        closed = rd.close(self.run(name), number, "closed by the lab", user.name)
        return NextRoundResult(closed_round=closed, message=f"round {closed} closed; starting the next round "
                                                            f"starts round {closed + 1}")

    @override
    def extend(self, user: User, name: str, rounds: int, namespace: str | None = None) -> CampaignDetail:
        rd.extend(self.run(name), rounds, by=user.name)
        return self.campaign(user, name)

    @override
    def next_round(self, user: User, name: str, namespace: str | None = None, *, wait: bool = False,
                   jobs: int = 1, on_progress: OnProgress | None = None,
                   picks: Sequence[str] = ()) -> NextRoundResult:
        run = self.run(name)
        work = _Work(picks=tuple(picks))
        if wait:
            self._prepare(run, user, work, jobs, on_progress)
            if work.error is not None:
                raise work.error
            assert work.result is not None
            return work.result
        with self._lock:
            running = self._work.get(name)
            if running is not None and running.thread is not None and running.thread.is_alive():
                raise ConflictError(f"round {running.round} of {name} is being prepared already")
            work.thread = threading.Thread(target=self._prepare, args=(run, user, work, jobs, on_progress),
                                           name=f"round-{name}", daemon=True)
            self._work[name] = work
            work.thread.start()
        work.started.wait()
        if work.error is not None and work.result is None:
            raise work.error  # refused before anything started
        assert work.result is not None
        return work.result

    def _prepare(self, run: rd.RunDirectory, user: User, work: _Work, jobs: int,
                 on_progress: OnProgress | None) -> None:
        """Plan the next round, close or reset what the plan says, then run the round's steps
        (holding the runner lock throughout)."""
        try:
            with run.running():
                with run.writing():
                    state = run.state(runner_is_me=True)
                    plan = machine.plan_next_round(
                        state.current, state.last_phase, state.spec.total_rounds,
                        f"raise them with `activeloop extend --rounds {state.spec.rounds + 1}`", nobody_prepares=True)
                    picks = self._picks(run, state, plan, work.picks)
                    if plan.close is not None:
                        closed = state.round_status(plan.close) or LoopRoundStatus()
                        run.close_round(plan.close, "closed to start the next round", user.name, closed.pending)
                    if plan.retry:
                        run.reset_round(plan.start)
                    if not plan.resume:
                        run.note_start(plan.start, user.name, retry=plan.retry, picks=picks)
                    run.write_statuses(run.state(runner_is_me=True))
                work.round = plan.start
                verb = "started again" if plan.retry else "finished" if plan.resume else "started"
                work.result = NextRoundResult(
                    closed_round=plan.close, next_round=plan.start,
                    message=f"round {plan.start} is being {'tuned and proposed' if verb == 'started' else verb}")
                work.started.set()
                final = advance(run, start=not (plan.retry or plan.resume), jobs=jobs, on_progress=on_progress)
                st = final.round_status(plan.start)
                if st is not None and st.phase == RoundPhase.WAITING_FOR_ASSAYS:
                    work.result = work.result.model_copy(update={
                        "message": f"round {plan.start}: {len(st.proposals)} variants proposed"})
        except BaseException as exc:  # reported to the caller, or shown on the campaign page
            work.error = exc
        finally:
            try:
                state = run.state()
                self._notify(run, state.spec, notify.round_events(run.name, {n: d.status for n, d in
                                                                              state.rounds.items()}))
            except ActiveLoopError:
                pass  # a campaign that cannot be read has said why already
            work.started.set()
            work.done.set()

    @staticmethod
    def _picks(run: rd.RunDirectory, state: rd.RunState, plan: machine.NextRound, picks: Sequence[str]) -> list[str]:
        """The picks for the round ``plan`` starts, checked (canonical names); none for a round
        started again or resumed (it keeps the picks it started with)."""
        if not picks:
            return []
        if plan.retry or plan.resume:
            raise InputError("picks", f"round {plan.start} is {'started again' if plan.retry else 'being finished'} "
                                      "with the picks it started with; picks go with a new round")
        return check_next_picks(run.store, state.spec, run.library(state.spec), picks, plan.start)

    def wait(self, name: str, timeout: float = 600.0) -> None:
        """Wait for a round started in the background (tests, benchmarks); its error, if any,
        is raised here."""
        work = self._work.get(name)
        if work is not None:
            work.done.wait(timeout)
            if work.error is not None:
                raise work.error


def _json(data: bytes) -> dict:
    import json

    return json.loads(data)


__all__ = ["RunDirService", "local_user", "parse_spec"]
