"""The web interface's backend on a workstation: campaigns in run directories.

``root`` holds one campaign (it is named after the directory) or is a folder of campaign
directories. Everything goes through ``activeloop.local.campaign``, exactly as the command line
does. Starting a round (tuning and proposing can take minutes) runs in a background thread per
campaign; the campaign shows ``Running`` meanwhile and ``Failed`` with the reason if it failed.
"""

from __future__ import annotations

import json
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from typing_extensions import override

from activeloop.api.views import (
    CampaignDetail,
    CampaignSummary,
    HistoryPoint,
    NextRoundResult,
    ProposalRow,
    RecordResult,
    RoundDetail,
    RoundHashes,
    RoundSummary,
    StepView,
    StudentView,
)
from activeloop.errors import ActiveLoopError, ConflictError, NotFoundError
from activeloop.local import campaign as lc
from activeloop.steps import rounds as round_rules
from activeloop.steps.data import SPEC_KEY, build_library, latest_round, read_proposals, round_prefix
from activeloop.steps.snapshot import read_inputs
from activeloop.store.local import LocalStore
from activeloop.web.backend import (
    Backend,
    Plate,
    RecordOptions,
    User,
    best_by_round,
    check_artifact_key,
    check_plate,
    number_or_none,
    plate_name,
    require_name,
)


@dataclass
class _Work:
    """A round being started in the background, or the error of the last attempt."""

    round: int
    thread: threading.Thread | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class LocalBackend(Backend):
    """Campaigns in ``root`` (one run directory, or a folder of them)."""

    kind = "workstation"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotFoundError(f"{root} is not a directory")
        self.single = (self.root / SPEC_KEY).is_file()
        self._work: dict[str, _Work] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ lookups

    def _dirs(self) -> dict[str, Path]:
        if self.single:
            return {self.root.name: self.root}
        return {d.name: d for d in sorted(self.root.iterdir()) if (d / SPEC_KEY).is_file()}

    def _dir(self, name: str) -> Path:
        found = self._dirs().get(name)
        if found is None:
            raise NotFoundError(f"no campaign {name!r}")
        return found

    def _running(self, name: str) -> _Work | None:
        work = self._work.get(name)
        return work if work is not None and work.thread is not None and work.thread.is_alive() else None

    # ---------------------------------------------------------------------------- campaigns

    def _state(self, name: str, run: Path) -> tuple[str, str | None, dict]:
        """Phase, message and ``local.campaign.status`` of a campaign."""
        st = lc.status(run)
        work = self._work.get(name)
        running = self._running(name)
        if running is not None:
            return "Running", f"round {running.round} is being tuned and proposed", st
        if work is not None and work.error:
            return "Failed", f"round {work.round} could not start: {work.error}", st
        if not st["rounds"]:
            started = latest_round(LocalStore(run, create=False))
            if started:
                return "ReadyForNextRound", f"round {started} was interrupted; start it again", st
            return "Pending", "no round yet: start round 1", st
        last = st["rounds"][-1]
        if not last["complete"]:
            return "WaitingForAssays", f"round {last['round']}: {last['pending']} of {last['proposed']} pending", st
        if last["round"] >= st["rounds_planned"]:
            return "Completed", f"all {st['rounds_planned']} rounds done", st
        return "ReadyForNextRound", f"round {last['round']} is complete: start round {last['round'] + 1}", st

    def _summary(self, name: str, run: Path) -> tuple[CampaignSummary, dict]:
        phase, message, st = self._state(name, run)
        best = st["best"][0] if st["best"] else None
        last = st["rounds"][-1] if st["rounds"] else None
        summary = CampaignSummary(
            name=name, phase=phase, current_round=last["round"] if last else 0,
            rounds_planned=st["rounds_planned"], measured=st["measured"], failed=st["failed"],
            pending=last["pending"] if last else 0, best_variant=best["variant"] if best else None,
            best_value=best["value"] if best else None, last_change=_last_change(run), message=message)
        return summary, st

    @override
    def campaigns(self, user: User) -> list[CampaignSummary]:
        out = []
        for name, run in self._dirs().items():
            try:
                out.append(self._summary(name, run)[0])
            except ActiveLoopError as exc:  # a damaged run directory is listed, not fatal
                out.append(CampaignSummary(name=name, phase="Failed", message=str(exc)))
        return out

    @override
    def campaign(self, user: User, name: str, namespace: str | None = None) -> CampaignDetail:
        run = self._dir(name)
        summary, _ = self._summary(name, run)
        _, spec = lc.open_campaign(run)
        return CampaignDetail(**summary.model_dump(), spec=spec, direction=spec.objective.direction,
                              library_size=len(build_library(spec)),
                              can_start_next_round=summary.phase in ("Pending", "WaitingForAssays",
                                                                     "ReadyForNextRound", "Failed"))

    @override
    def create_campaign(self, user: User, name: str, spec: dict, namespace: str | None = None) -> CampaignDetail:
        if self.single:
            raise ConflictError(f"{self.root} holds one campaign; serve a folder of campaigns to create more")
        require_name(name)
        if name in self._dirs() or (self.root / name).exists():
            raise ConflictError(f"a campaign {name!r} exists already")
        lc.create_campaign(lc.parse_spec(spec, "spec"), self.root / name)
        return self.campaign(user, name)

    # ------------------------------------------------------------------------------- rounds

    @override
    def rounds(self, user: User, name: str, namespace: str | None = None) -> list[RoundSummary]:
        run = self._dir(name)
        store = LocalStore(run, create=False)
        _, spec = lc.open_campaign(run)
        measured, failed = _results(store)
        out = []
        running = self._running(name)
        for r in range(1, latest_round(store) + 1):
            out.append(self._round_summary(store, spec.trigger, r, measured, failed, running))
        if running is not None and running.round > latest_round(store):
            out.append(RoundSummary(round=running.round, phase="Running"))
        return out

    def _round_summary(self, store: LocalStore, trigger: object, r: int, measured: set[str],
                       failed: set[str], running: _Work | None) -> RoundSummary:
        props = read_proposals(store, r)
        inputs = read_inputs(store, r)
        closed = lc.is_closed(store, r)
        steps = {s: _step(store, r, s) for s in ("tune", "acquire")}
        if props is None:
            phase = "Running" if running is not None and running.round == r else "Interrupted"
            return RoundSummary(round=r, phase=phase, started_at=inputs.taken_at if inputs else None, steps=steps)
        p = round_rules.progress(props["variant"].tolist(), measured, failed)
        complete = round_rules.is_complete(p, trigger, closed)  # type: ignore[arg-type]
        closed_at = json.loads(store.get_bytes(f"{round_prefix(r)}/closed.json"))["closed_at"] if closed else None
        return RoundSummary(
            round=r, phase="Completed" if complete else "WaitingForAssays",
            started_at=inputs.taken_at if inputs else None, completed_at=closed_at,
            proposed=p.proposed, measured=p.measured, failed=p.failed, pending=p.pending,
            closed=closed and p.pending > 0, steps=steps)

    @override
    def round(self, user: User, name: str, number: int, namespace: str | None = None) -> RoundDetail:
        run = self._dir(name)
        store = LocalStore(run, create=False)
        _, spec = lc.open_campaign(run)
        if not 1 <= number <= max(latest_round(store), 0):
            raise NotFoundError(f"campaign {name} has no round {number}")
        data = lc.current_measurements(store)
        result = dict(zip(data["variant"].tolist(), zip(data["value"].tolist(), data["failed"].tolist(), strict=True),
                          strict=True))
        summary = self._round_summary(store, spec.trigger, number, *_results(store), self._running(name))
        props = read_proposals(store, number)
        rows = []
        if props is not None:
            for p in props.itertuples(index=False):
                value, failed = result.get(p.variant, (None, False))
                rows.append(ProposalRow(
                    rank=int(p.rank), variant=p.variant, mean=number_or_none(p.mean), std=number_or_none(p.std),
                    measured=None if failed else number_or_none(value), failed=bool(failed)))
        acquire = _record(store, number, "acquire")
        tune = _record(store, number, "tune")
        inputs = read_inputs(store, number)
        return RoundDetail(
            **summary.model_dump(), proposals=rows, prediction_scale=acquire.get("prediction_scale"),
            hashes=RoundHashes(
                spec_sha256=inputs.spec_sha256 if inputs else None,
                measurements_sha256=inputs.measurements_sha256 if inputs else None,
                model_sha256=(tune.get("model_sha256") or {}).get("adapter_model.safetensors"),
                proposals_sha256=acquire.get("proposals_sha256")))

    @override
    def history(self, user: User, name: str, namespace: str | None = None) -> list[HistoryPoint]:
        run = self._dir(name)
        store = LocalStore(run, create=False)
        _, spec = lc.open_campaign(run)
        round_of: dict[str, int] = {}
        for r in range(1, latest_round(store) + 1):
            props = read_proposals(store, r)
            if props is not None:
                round_of.update(dict.fromkeys(props["variant"].tolist(), r))
        return best_by_round(lc.current_measurements(store), round_of, list(range(1, latest_round(store) + 1)),
                             spec.objective.direction)

    # ------------------------------------------------------------------------------ actions

    @override
    def record(self, user: User, name: str, plate: Plate, options: RecordOptions,
               namespace: str | None = None) -> RecordResult:
        run = self._dir(name)
        store, spec = lc.open_campaign(run)
        checked = check_plate(plate, spec, build_library(spec), options)
        base = {"rows": int(len(checked.rows)), "failed": int(checked.rows["failed"].sum()),
                "preview": checked.preview, "supersedes": list(options.supersedes)}
        if options.dry_run:
            return RecordResult(recorded=False, dry_run=True, name=plate_name(options, checked), **base)
        key = None
        if options.idempotency_key:
            key = f"web/idempotency/{plate_name(options, checked)}.json"
            if store.exists(key):
                seen = json.loads(store.get_bytes(key))
                if seen["sha256"] != checked.sha256:
                    raise ConflictError("this Idempotency-Key was used for other results")
                return RecordResult(recorded=False, name=seen["name"], duplicate_of=seen["name"], **base)
        out = lc.record_rows(run, checked.rows, checked.source, name=options.name or plate_name(options, checked),
                             supersede=options.supersedes, replicates=options.replicates)
        if key is not None:
            store.put_bytes(key, json.dumps({"sha256": checked.sha256, "name": out.name}).encode())
        return RecordResult(recorded=out.new, name=out.name, duplicate_of=out.duplicate_of, **base)

    @override
    def next_round(self, user: User, name: str, namespace: str | None = None) -> NextRoundResult:
        run = self._dir(name)
        store, spec = lc.open_campaign(run)
        with self._lock:
            if self._running(name) is not None:
                raise ConflictError(f"round {self._work[name].round} of {name} is being prepared already")
            last = latest_round(store)
            closed = None
            if last and read_proposals(store, last) is not None:
                p = lc.round_progress(store, last)
                if not round_rules.is_complete(p, spec.trigger, lc.is_closed(store, last)):
                    closed = lc.close_round(run, "closed from the web interface")
                nxt = last + 1
            else:
                nxt = max(last, 1)
            if nxt > last and not round_rules.may_start(nxt, spec):
                raise ConflictError(f"the campaign has done its {spec.total_rounds} rounds; extend it with "
                                    f"`activeloop extend --rounds {spec.rounds + 1}`")
            work = _Work(nxt)
            work.thread = threading.Thread(target=self._propose, args=(run, work), name=f"propose-{name}",
                                           daemon=True)
            self._work[name] = work
            work.thread.start()
        return NextRoundResult(closed_round=closed, next_round=nxt,
                               message=f"round {nxt} is being tuned and proposed; the page updates when it is ready")

    @staticmethod
    def _propose(run: Path, work: _Work) -> None:
        try:
            lc.propose(run)
        except Exception as exc:  # shown on the campaign page; the round can be started again
            work.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ActiveLoopError) else str(exc)
            traceback.print_exc()
        finally:
            work.done.set()

    def wait(self, name: str, timeout: float = 600.0) -> None:
        """Wait for a round started in the background (tests, benchmarks)."""
        work = self._work.get(name)
        if work is not None:
            work.done.wait(timeout)

    @override
    def students(self, user: User, name: str, namespace: str | None = None) -> list[StudentView]:
        store = LocalStore(self._dir(name), create=False)
        out = []
        for key in store.list("students/"):
            if key.endswith("/metrics.json"):
                m = json.loads(store.get_bytes(key))
                out.append(StudentView(
                    name=m["student"], round=m["round"], phase="Succeeded", parameters=m.get("parameters"),
                    bytes=m.get("bytes"), latency_ms=m.get("latency_ms"), spearman_teacher=m.get("spearman_teacher"),
                    spearman_measured=m.get("spearman_measured"),
                    message=f"{len(m.get('members', []))} student(s), {m.get('architecture')}"))
        return out

    @override
    def artifact(self, user: User, name: str, key: str, namespace: str | None = None) -> bytes:
        store = LocalStore(self._dir(name), create=False)
        check_artifact_key(key)
        try:
            return store.get_bytes(key)
        except KeyError:
            raise NotFoundError(f"campaign {name} has no {key}") from None


# ---------------------------------------------------------------------------------- helpers


def _results(store: LocalStore) -> tuple[set[str], set[str]]:
    data = lc.current_measurements(store)
    return set(data.loc[~data["failed"], "variant"].tolist()), set(data.loc[data["failed"], "variant"].tolist())


def _record(store: LocalStore, r: int, step: str) -> dict:
    key = f"{round_prefix(r)}/{step}.json"
    return json.loads(store.get_bytes(key)) if store.exists(key) else {}


def _step(store: LocalStore, r: int, step: str) -> StepView:
    rec = _record(store, r, step)
    if not rec:
        return StepView()
    cost = rec.get("cost")
    message = None if rec.get("tuned", True) else f"nothing to tune ({rec.get('reason')})"
    return StepView(state="Succeeded", message=message,
                    cost={k: cost.get(k) for k in ("wall_seconds", "cpu_seconds", "energy_kwh", "co2e_kg",
                                                   "energy_method")} if cost else None)


def _last_change(run: Path) -> str | None:
    from datetime import datetime, timezone

    stamps = [p.stat().st_mtime for p in (run / SPEC_KEY, run / "measurements.csv") if p.exists()]
    rounds = run / "rounds"
    if rounds.is_dir():
        stamps += [p.stat().st_mtime for p in rounds.iterdir()]
    if not stamps:
        return None
    return datetime.fromtimestamp(max(stamps), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["LocalBackend"]
