"""A campaign's run directory on a workstation: its files, its locks, and its state as the one
state machine (``lifecycle.machine``) decides it.

The run directory is the workstation's cluster: where the operator keeps a Campaign, LoopRounds,
AssayResults and Jobs, it keeps files (their keys are in ``store.keys``)::

    campaign.yaml, status.json             the spec and the campaign's status
    assays/<name>.csv, <name>.json         recorded plates (the .json, written last, commits a plate)
    assays/originals/<name>.<ext>          each plate's file as the lab sent it
    activity/<time>-<kind>.json            who created the campaign or raised its rounds
    measurements.csv                       derived from the assays (a copy for people to read)
    rounds/round-NNN/status.json           a round's status
    rounds/round-NNN/jobs/<step>.json      a step run in-process: started, finished, outcome
    rounds/round-NNN/closed.json           the lab closed the round (when, by whom)
    rounds/round-NNN/started.json          who started the round (and started it again), when
    rounds/round-NNN/...                   what the steps wrote (inputs, records, proposals, model)

**Writers are serialised**: every change (a plate, a close, a round's step, an extension) happens
while holding an exclusive lock on the directory (``filelock``: ``flock`` on a lock file, so two
processes, two threads, or the CLI beside the web server wait for each other). Every file is
written atomically (a temporary file, ``fsync``, rename), and each change has one commit point
(the last file it writes); what is derived (the measurements, the statuses) is recomputed from
what is committed, so a command killed at any instant leaves either its whole effect or none.

A round's steps run outside the writer lock (they take minutes) but under a second lock, the
*runner* lock, so one process at a time prepares rounds; plates recorded meanwhile go to the next
round (each round reads the inputs pinned when it started).

**State is observed and decided**, as the operator does: the statuses on disk are the last
decisions written; reading a campaign observes the files, runs the deciders from those statuses
and returns what they decide (nothing is written on a read).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock, Timeout

from activeloop.api.campaign import CampaignSpec
from activeloop.api.names import ROUND_STEPS
from activeloop.api.resources import CampaignStatus, LoopRoundStatus, RoundPhase, StepStatus
from activeloop.errors import ConflictError, InputError, StateError
from activeloop.lifecycle import machine, observe
from activeloop.lifecycle.rounds import progress
from activeloop.local import failpoints
from activeloop.ml.library import Library
from activeloop.steps import ingest
from activeloop.steps.data import build_library, dump_spec, load_spec, read_proposals
from activeloop.store import keys
from activeloop.store.base import sha256_bytes
from activeloop.store.local import LocalStore

LOCK_FILE = ".activeloop.lock"
RUNNER_LOCK_FILE = ".activeloop.runner.lock"
WRITE_TIMEOUT = 120.0
"""Seconds a writer waits for another writer before giving up with a clear error."""


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RunState:
    """A campaign's state as decided from its files: the campaign's and each round's decision."""

    spec: CampaignSpec
    campaign: machine.Decision[CampaignStatus]
    rounds: Mapping[int, machine.Decision[LoopRoundStatus]] = field(default_factory=dict)
    data: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def status(self) -> CampaignStatus:
        """The campaign's status."""
        return self.campaign.status

    @property
    def current(self) -> int:
        """The latest round (0: none)."""
        return max(self.rounds, default=0)

    def round_status(self, number: int) -> LoopRoundStatus | None:
        """Round ``number``'s status, or ``None`` if there is no such round."""
        d = self.rounds.get(number)
        return d.status if d is not None else None

    @property
    def last_phase(self) -> RoundPhase | None:
        """The latest round's phase (``None``: no round)."""
        st = self.round_status(self.current)
        return st.phase if st is not None else None


class RunDirectory:
    """One campaign's run directory: reads, locked writes, and its decided state.

    Args:
        path: the directory.
        create: create the directory if missing (for a new campaign); otherwise it must hold one.
    """

    def __init__(self, path: str | Path, create: bool = False) -> None:
        self.path = Path(path).resolve()
        if not create and not (self.path / keys.SPEC).is_file():
            what = "does not exist" if not self.path.exists() else "holds no campaign"
            raise InputError("run_dir", f"{path} {what}; start one with "
                                        f"`activeloop init CAMPAIGN.yaml --run-dir {path}`")
        self.store = LocalStore(self.path, create=create)
        self._lock = FileLock(self.path / LOCK_FILE, timeout=WRITE_TIMEOUT)
        self._runner = FileLock(self.path / RUNNER_LOCK_FILE, timeout=0)
        self._cache_lock = threading.Lock()
        self._measurements: tuple[str, pd.DataFrame] | None = None
        self._state: tuple[tuple, RunState] | None = None

    @property
    def name(self) -> str:
        """The campaign's name: the directory's."""
        return self.path.name

    # ----------------------------------------------------------------------------------- locks

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the directory's writer lock (waiting for another writer up to :data:`WRITE_TIMEOUT`)."""
        try:
            with self._lock:
                yield
        except Timeout:
            raise StateError(f"{self.path} is being changed by another command for over {WRITE_TIMEOUT:.0f} s; "
                             "try again when it is done") from None

    @contextmanager
    def running(self) -> Iterator[None]:
        """Hold the runner lock (one process at a time prepares rounds), or :class:`StateError`."""
        try:
            with self._runner:
                yield
        except Timeout:
            raise StateError("a round of this campaign is being prepared by another command; its "
                             "proposals come first") from None

    def runner_busy(self) -> bool:
        """Whether some command (this process included) holds the runner lock now."""
        probe = FileLock(self.path / RUNNER_LOCK_FILE, timeout=0, thread_local=False)
        try:
            probe.acquire()
        except Timeout:
            return True
        probe.release()
        return False

    # ----------------------------------------------------------------------------------- reads

    def spec(self) -> CampaignSpec:
        """The live campaign spec."""
        return load_spec(self.store)

    def library(self, spec: CampaignSpec | None = None) -> Library:
        """The campaign's candidate library."""
        return build_library(spec or self.spec(), self.store)

    def assays(self) -> list[ingest.StoredAssay]:
        """Every recorded plate (committed ones: their metadata exists)."""
        return ingest.list_assays(self.store)

    def measurements(self, assays: list[ingest.StoredAssay] | None = None) -> pd.DataFrame:
        """One row per variant from the recorded plates (``steps.ingest.measurements``), derived
        from the plates themselves and recomputed only when they change."""
        assays = self.assays() if assays is None else assays
        fingerprint = ingest.assay_fingerprint(assays)
        with self._cache_lock:
            cached = self._measurements
        if cached is not None and cached[0] == fingerprint:
            return cached[1].copy()
        data = self._derived_copy(fingerprint)
        if data is None:
            data = ingest.measurements(self.store, assays)
        with self._cache_lock:
            self._measurements = (fingerprint, data)
        return data.copy()

    def _derived_copy(self, fingerprint: str) -> pd.DataFrame | None:
        """``measurements.csv`` if it was derived from exactly these plates (else ``None``)."""
        try:
            source = json.loads(self.store.get_bytes(keys.MEASUREMENTS_SOURCE))
            if source.get("assays") != fingerprint:
                return None
            data = self.store.get_bytes(keys.MEASUREMENTS)
        except (KeyError, ValueError):
            return None
        if sha256_bytes(data) != source.get("sha256"):
            return None
        return ingest.read_measurements_csv(data)

    def rounds(self) -> list[int]:
        """Rounds that exist (created, or started by an earlier version: pinned inputs)."""
        found = {keys.round_of(k) for k in self.store.list(keys.ROUNDS)
                 if k in (keys.round_status(keys.round_of(k) or 0), keys.inputs(keys.round_of(k) or 0))}
        return sorted(n for n in found if n)

    def closed(self, number: int) -> dict | None:
        """How the lab closed round ``number`` (when, by whom), or ``None``."""
        key = keys.closed(number)
        return json.loads(self.store.get_bytes(key)) if self.store.exists(key) else None

    def started(self, number: int) -> dict | None:
        """Who started round ``number`` and when (and each time it was started again), or ``None``."""
        key = keys.round_started(number)
        return json.loads(self.store.get_bytes(key)) if self.store.exists(key) else None

    def activities(self) -> list[dict]:
        """The campaign-level changes people made (created, extended), oldest first."""
        out = []
        for key in sorted(self.store.list(keys.ACTIVITY)):
            try:
                out.append(json.loads(self.store.get_bytes(key)))
            except (KeyError, ValueError):
                continue  # a note being written: it is read next time
        return out

    def job(self, number: int, step: str) -> dict | None:
        """The record of a step run in-process, or ``None``."""
        key = keys.job(number, step)
        return json.loads(self.store.get_bytes(key)) if self.store.exists(key) else None

    def record(self, number: int, step: str) -> dict:
        """What a round's step recorded (empty if it has not run)."""
        key = keys.step_record(number, step)
        return json.loads(self.store.get_bytes(key)) if self.store.exists(key) else {}

    def _stored_round(self, number: int) -> LoopRoundStatus:
        key = keys.round_status(number)
        return LoopRoundStatus.lenient(json.loads(self.store.get_bytes(key))) if self.store.exists(key) \
            else LoopRoundStatus()

    def _stored_campaign(self) -> CampaignStatus:
        key = keys.CAMPAIGN_STATUS
        return CampaignStatus.lenient(json.loads(self.store.get_bytes(key))) if self.store.exists(key) \
            else CampaignStatus()

    # ---------------------------------------------------------------------- observe and decide

    def _fingerprint(self, busy: bool) -> tuple:
        """A cheap token of everything :meth:`state` reads (names, sizes and times of the files)."""
        entries = []
        for dirpath, _dirs, files in os.walk(self.path):
            rel = os.path.relpath(dirpath, self.path)
            if rel.startswith(("rounds", "assays", ".")) or rel == ".":
                for f in files:
                    if f.startswith(".") or f.endswith((".safetensors", ".bin", ".pkl")):
                        continue
                    try:
                        st = os.stat(os.path.join(dirpath, f))
                    except FileNotFoundError:
                        continue
                    entries.append((rel, f, st.st_ino, st.st_mtime_ns, st.st_size))
        return (busy, tuple(sorted(entries)))

    def state(self, at: datetime | None = None, *, start_requested: bool = False,
              runner_is_me: bool = False) -> RunState:
        """The campaign as the state machine decides it now (nothing is written).

        ``start_requested``: the lab asked for the next round (the decision then holds a
        ``CreateRound``). ``runner_is_me``: the caller holds the runner lock, so a step recorded as
        running belongs to a command that ended (it is observed as interrupted).
        """
        busy = False if runner_is_me else self.runner_busy()
        use_cache = at is None and not start_requested and not runner_is_me
        token = self._fingerprint(busy) if use_cache else ()
        if use_cache:
            with self._cache_lock:
                cached = self._state
            if cached is not None and cached[0] == token:
                return cached[1]
        at = at or now()
        spec = self.spec()
        data = self.measurements()
        measured = set(data.loc[~data["failed"], "variant"])
        failed = set(data.loc[data["failed"], "variant"])
        rounds: dict[int, machine.Decision[LoopRoundStatus]] = {}
        for n in self.rounds():
            view = self._round_view(n, measured, failed, busy, runner_is_me)
            rounds[n] = machine.decide_round(view, spec.trigger, at)
        cview = machine.CampaignView(
            name=self.name, generation=1, status=self._stored_campaign(), store_uri=self.path.as_uri(),
            spec=spec, rounds={n: d.status for n, d in rounds.items()},
            data=observe.data_summary(data, spec.all_objectives),
            automatic=False, start_requested=start_requested)
        state = RunState(spec, machine.decide_campaign(cview, at), rounds, data)
        if use_cache:
            with self._cache_lock:
                self._state = (token, state)
        return state

    def _round_view(self, n: int, measured: set[str], failed: set[str], busy: bool,
                    me: bool) -> machine.RoundView:
        """Round ``n`` as the deciders see it. ``busy``: another command prepares rounds now (a
        step recorded as running is running); ``me``: the caller does (a step recorded as running
        was left by a command that ended, and a step not begun is the caller's to run)."""
        status = self._stored_round(n)
        inputs = observe.inputs_status(self.store, n)
        if status.started_at is None and inputs is not None:
            status = status.model_copy(update={"started_at": inputs.taken_at})
        jobs: dict[str, machine.JobView] = {}
        outputs: dict[str, machine.StepOutput] = {}
        failures: dict[str, str] = {}
        for step in ROUND_STEPS:
            out = observe.step_output(self.store, n, step)
            rec = self.job(n, step) or {}
            times = (rec.get("started_at"), rec.get("finished_at"))
            if out is not None:
                outputs[step] = out
                jobs[step] = machine.JobView(step, True, int(rec.get("failures") or 0), *times)
            elif rec.get("state") == "failed" or (rec.get("state") == "running" and not busy):
                why = rec.get("message") if rec.get("state") == "failed" else (
                    "interrupted: the command running it ended before it finished")
                jobs[step] = machine.JobView(step, False, int(rec.get("failures") or 1), *times)
                failures[step] = f"{why}; start the round again to run it"
            elif rec.get("state") == "running":
                jobs[step] = machine.JobView(step, None, int(rec.get("failures") or 0), times[0])
            elif not (busy or me) and status.phase not in machine.TERMINAL_ROUND and _waits_for(status, step):
                # the round was left at this step before its job began: nothing runs it now
                jobs[step] = machine.JobView(step, False, 1)
                failures[step] = "interrupted before it began; start the round again to run it"
        props = outputs[ROUND_STEPS[-1]].proposals if ROUND_STEPS[-1] in outputs else tuple(status.proposals)
        closed = self.closed(n) is not None
        return machine.RoundView(
            name=f"round-{n}", number=n, generation=2 if closed else 1, status=status,
            job_names={s: s for s in ROUND_STEPS}, close=closed, inputs=inputs, jobs=jobs, outputs=outputs,
            failures=failures, progress=progress(props, measured, failed) if props else None)

    # ---------------------------------------------------------------------------------- writes
    # (the caller holds the writer lock)

    def write_statuses(self, state: RunState) -> None:
        """Write the statuses ``state`` decided (only those that changed)."""
        for n, d in state.rounds.items():
            self._put_json_if_changed(keys.round_status(n), d.status.dump())
        self._put_json_if_changed(keys.CAMPAIGN_STATUS, state.status.dump())
        body = ingest.measurements_csv(state.data)
        self._put_if_changed(keys.MEASUREMENTS, body)  # the copy first, then what it was derived from
        self._put_json_if_changed(keys.MEASUREMENTS_SOURCE, {
            "assays": ingest.assay_fingerprint(self.assays()), "sha256": sha256_bytes(body)})

    def reconcile(self) -> RunState:
        """Decide from what is on disk and write the statuses (and the derived measurements)."""
        state = self.state(runner_is_me=False)
        self.write_statuses(state)
        return state

    def put_spec(self, spec: CampaignSpec) -> None:
        """Replace the live spec."""
        self.store.put_bytes(keys.SPEC, dump_spec(spec))

    def create_round(self, number: int) -> None:
        """Create round ``number`` (Pending: its runner pins its inputs next)."""
        if not self.store.exists(keys.round_status(number)):
            self._put_json(keys.round_status(number), LoopRoundStatus().dump())

    def note_start(self, number: int, by: str, retry: bool, picks: Sequence[str] = ()) -> None:
        """Note who starts round ``number`` now (``retry``: starts it again), with the variants
        they picked for its batch (pinned with its inputs)."""
        rec = self.started(number)
        entry = {"at": machine.rfc3339(now()), "by": by}
        if rec is None or not self.store.exists(keys.round_status(number)):
            rec = {**entry, "retries": [], "picks": list(picks)}
        elif retry:
            rec = {**rec, "retries": [*rec.get("retries", []), entry]}
        else:
            return
        self._put_json(keys.round_started(number), rec)

    def note_activity(self, kind: str, by: str, **data: Any) -> None:
        """Note a campaign-level change by a person (``created``, ``extended``)."""
        at = now()
        stamp = at.strftime("%Y%m%dT%H%M%S%fZ")
        self._put_json(keys.activity(stamp, kind), {"at": machine.rfc3339(at), "kind": kind, "by": by, **data})

    def close_round(self, number: int, reason: str, by: str, pending: int) -> None:
        """Mark round ``number`` closed by the lab (the commit point of closing it)."""
        if self.closed(number) is None:
            self._put_json(keys.closed(number), {"closed_at": machine.rfc3339(now()), "reason": reason, "by": by,
                                                 "pending": pending})

    def start_job(self, number: int, step: str) -> None:
        """Record that a step of round ``number`` starts now in this process."""
        old = self.job(number, step) or {}
        self._put_json(keys.job(number, step), {
            "step": str(step), "state": "running", "started_at": machine.rfc3339(now()), "pid": os.getpid(),
            "host": socket.gethostname(), "failures": int(old.get("failures") or 0)})

    def finish_job(self, number: int, step: str, error: str | None = None) -> None:
        """Record how a step of round ``number`` ended (``error``: why it failed)."""
        rec = self.job(number, step) or {"step": str(step)}
        rec.update(state="failed" if error else "succeeded", finished_at=machine.rfc3339(now()))
        if error:
            rec.update(message=error[-2000:], failures=int(rec.get("failures") or 0) + 1)
        self._put_json(keys.job(number, step), rec)

    def reset_round(self, number: int) -> None:
        """Start a failed or interrupted round again: its failed steps are forgotten, its status
        goes back to the phase its outputs allow (what succeeded is not done again), and when no
        step has written its record its inputs are pinned again (a correction counts)."""
        for step in ROUND_STEPS:
            rec = self.job(number, step)
            if rec is not None and rec.get("state") != "succeeded":
                self.store.delete(keys.job(number, step))
        if not any(self.store.exists(keys.step_record(number, s)) for s in ROUND_STEPS):
            self.store.delete(keys.inputs(number))  # the pin's commit point: taken again next
        old = self._stored_round(number)
        self._put_json(keys.round_status(number), LoopRoundStatus(started_at=old.started_at).dump())

    def _put_json(self, key: str, body: Any) -> None:
        self.store.put_bytes(key, json.dumps(body, indent=2, sort_keys=True).encode())

    def _put_json_if_changed(self, key: str, body: Any) -> None:
        self._put_if_changed(key, json.dumps(body, indent=2, sort_keys=True).encode())

    def _put_if_changed(self, key: str, data: bytes) -> None:
        if not self.store.exists(key) or self.store.get_bytes(key) != data:
            self.store.put_bytes(key, data)


@dataclass(frozen=True)
class Recorded:
    """What recording a plate did: its name, rows, and whether anything new was stored."""

    name: str
    rows: int
    failed: int
    new: bool
    duplicate_of: str | None = None
    supersedes: tuple[str, ...] = ()


def record_plate(
    run: RunDirectory, rows: pd.DataFrame, *, source: str, name: str | None, default_name: str,
    supersedes: tuple[str, ...] = (), replicates: str = "mean", idempotency_key: str | None = None,
    recorded_by: str = "", declared_round: int | None = None, original: tuple[bytes, str] | None = None,
    normalize: str = "none", unit: str = "", earlier: bool = False, task: str = "",
) -> Recorded:
    """Record checked rows as one plate, atomically, under the writer lock.

    The same content recorded before (and not superseded) records nothing; an ``Idempotency-Key``
    used before with other content is refused (:class:`ConflictError`), as is an explicit ``name``
    recorded before with other content; a name made from the file (``default_name``) gets a suffix
    when taken. ``supersedes`` must name recorded plates. ``original``: the file as sent and its
    suffix, kept with the plate (written before the plate's metadata, which commits it).
    ``earlier``: measured before the campaign; ``task``: a related assay's name (``StoredAssay``).
    """
    sha = ingest.content_hash(rows)
    key_hash = sha256_bytes(idempotency_key.encode()) if idempotency_key else None
    with run.writing():
        failpoints.reached("record:locked")
        assays = run.assays()
        known = {a.name: a for a in assays}
        for old in supersedes:
            if old not in known:
                raise InputError("supersedes", f"no recorded plate {old!r}; recorded: {sorted(known) or 'none'}")
        if key_hash is not None:
            sent = next((a for a in assays if a.idempotency_key == key_hash), None)
            if sent is not None:
                if sent.sha256 != sha:
                    raise ConflictError("this Idempotency-Key was used for other results")
                return Recorded(sent.name, sent.rows, sent.failed, False, duplicate_of=sent.name)
        gone = ingest.superseded_names(assays)
        same = next((a for a in assays if a.sha256 == sha and a.task == task and a.name not in gone), None)
        if same is not None and not supersedes:
            return Recorded(same.name, same.rows, same.failed, False, duplicate_of=same.name)
        if name is not None:
            plate = ingest.dns_label(name)
            if plate in known:
                raise ConflictError(f"a plate named {plate} was recorded with other results; give another "
                                    "name, and name it in supersedes to correct it")
        else:
            base, k = ingest.dns_label(default_name), 1
            plate = base
            while plate in known:
                k += 1
                plate = f"{base}-{k}"
        original_key = keys.assay_original(plate, original[1]) if original is not None and original[0] else ""
        meta = ingest.StoredAssay(
            name=plate, sha256=sha, rows=len(rows), failed=int(rows["failed"].sum()), supersedes=tuple(supersedes),
            replicates=replicates, source=source, declared_round=declared_round,
            arrived_round=max(run.rounds(), default=0), accepted_at=machine.rfc3339(now()),
            recorded_by=recorded_by, idempotency_key=key_hash, normalize=normalize, original=original_key,
            unit=unit, earlier=earlier, task=task)

        def after_rows() -> None:
            failpoints.reached("record:rows-written")
            if original_key and original is not None:
                run.store.put_bytes(original_key, original[0])

        stored = ingest.store_assay(run.store, meta, rows, after_rows=after_rows)
        failpoints.reached("record:committed")
        run.reconcile()
        failpoints.reached("record:measurements-written")
    return Recorded(stored.name, stored.rows, stored.failed, True, supersedes=tuple(supersedes))


def close(run: RunDirectory, number: int | None, reason: str, by: str) -> int:
    """Close round ``number`` (the latest by default) now, whatever is pending; it must be
    waiting for assay results (``machine.check_close``). Returns the round closed."""
    with run.writing():
        failpoints.reached("close:locked")
        state = run.state()
        number = number or state.current
        st = state.round_status(number)
        if st is None:
            raise StateError(f"round {number} does not exist" if number else "no round has started yet")
        machine.check_close(number, st.phase)
        run.close_round(number, reason, by, st.pending)
        run.reconcile()
    return number


def extend(run: RunDirectory, rounds: int, by: str = "") -> CampaignSpec:
    """Raise the campaign's ``rounds`` (rounds of proposals after the first batch) to ``rounds``.
    The note of who did it is written first: a note whose rounds the spec does not reach is one
    whose change never happened (the feed leaves it out)."""
    with run.writing():
        spec = run.spec()
        machine.check_extend(rounds, spec.rounds)
        new = CampaignSpec.model_validate(spec.model_copy(update={"rounds": rounds}).model_dump())
        run.note_activity("extended", by, rounds=rounds, before=spec.rounds)
        run.put_spec(new)
        run.reconcile()
    return new


def _waits_for(status: LoopRoundStatus, step: str) -> bool:
    """Whether a round's status shows ``step`` as the step it is about to run."""
    st: StepStatus = getattr(status, str(step))
    return st.state == "Pending" and st.job is not None


def create(path: str | Path, spec: CampaignSpec, files: Mapping[str, bytes] | None = None,
           by: str = "") -> RunDirectory:
    """A new campaign in ``path`` (which must not hold one), with ``files`` (keys -> bytes: a
    variant list the spec names, or a whole archived campaign); the spec is written last, once the
    library builds."""
    target = Path(path)
    if (target / keys.SPEC).exists():
        raise InputError("run_dir", f"{path} already holds a campaign; choose another directory")
    if target.exists() and not target.is_dir():
        raise InputError("run_dir", f"{path} is a file, not a directory")
    run = RunDirectory(target, create=True)
    with run.writing():
        if (target / keys.SPEC).exists():  # made by another command meanwhile
            raise InputError("run_dir", f"{path} already holds a campaign; choose another directory")
        for key, data in (files or {}).items():
            run.store.put_bytes(key, data)
        build_library(spec, run.store)  # fail now, not at the first round
        if not run.activities():
            run.note_activity("created", by)
        run.put_spec(spec)
    return run


def proposals_of(run: RunDirectory, number: int) -> pd.DataFrame | None:
    """Round ``number``'s proposals (``None`` until its acquire step wrote them)."""
    return read_proposals(run.store, number)


__all__ = ["LOCK_FILE", "RUNNER_LOCK_FILE", "Recorded", "RunDirectory", "RunState", "close", "create", "extend", "now",
           "proposals_of", "record_plate"]
