"""The workstation's runner: the state machine's actions, executed in-process.

Where the operator creates a LoopRound, a Job per step and an Indexed Job of shards, the runner
writes a round's status, calls the step function, and runs the shards in processes; it decides
nothing itself. Each pass takes the writer lock, observes the run directory, asks the deciders
(:func:`RunDirectory.state`), writes the statuses and executes the first action; a step runs
outside the writer lock (plates may be recorded meanwhile: they go to the next round) but inside
the runner lock, which the caller holds. Every action is idempotent (a snapshot taken twice is the
first one; a step whose output exists is not run again), so a command killed at any point is
finished by the next.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from activeloop.api.names import Step
from activeloop.errors import ActiveLoopError, ConfigError
from activeloop.lifecycle import machine
from activeloop.local import failpoints
from activeloop.local.rundir import RunDirectory, RunState, now
from activeloop.steps import get_step
from activeloop.steps.snapshot import take_snapshot
from activeloop.store.local import LocalStore

log = logging.getLogger(__name__)
MAX_ACTIONS = 100
"""Actions per call at most (a round takes five: create, snapshot, tune, [score,] acquire)."""


@dataclass(frozen=True)
class Progress:
    """What the runner reports as it goes: a step starting or ending, or a shard done."""

    round: int
    step: str
    state: str
    detail: dict | None = None


OnProgress = Callable[[Progress], None]


def advance(run: RunDirectory, *, start: bool, jobs: int = 1, on_progress: OnProgress | None = None) -> RunState:
    """Execute the deciders' actions until none is left (the round waits for assays, or the
    campaign is done); ``start``: the lab asked for the next round. The caller holds
    ``run.running()``. A step that raises fails its round (the reason in its status) and the
    error is raised again here.
    """
    requested = start
    for _ in range(MAX_ACTIONS):
        with run.writing():
            state = run.state(now(), start_requested=requested, runner_is_me=True)
            run.write_statuses(state)
            failpoints.reached("propose:statuses-written")
            action = _first_action(state)
            if action is None:
                return state
            if isinstance(action, machine.CreateRound):
                run.create_round(action.round)
                requested = False
                failpoints.reached("propose:round-created")
                continue
            if isinstance(action, machine.TakeSnapshot):
                started = run.started(action.round) or {}
                take_snapshot(run.store, action.round, state.spec, machine.rfc3339(now()),
                              picks=started.get("picks") or (), picked_by=started.get("by"))
                failpoints.reached("propose:snapshot-taken")
                continue
            if not isinstance(action, machine.CreateStepJob):
                raise ActiveLoopError(f"the workstation cannot run {type(action).__name__}")
            run.start_job(action.round, action.step)
            failpoints.reached("propose:job-started")
        error = _run_step(run, action, jobs, on_progress)
        failpoints.reached("propose:step-done")
        with run.writing():
            run.finish_job(action.round, action.step, None if error is None else _describe(error))
            failpoints.reached("propose:job-finished")
            if error is not None:
                run.write_statuses(run.state(now(), runner_is_me=True))
                raise error
    raise ActiveLoopError(f"{run.path}: the runner did {MAX_ACTIONS} actions without the round settling")


def _first_action(state: RunState) -> machine.Action | None:
    for action in state.campaign.actions:
        return action
    for number in sorted(state.rounds):
        for action in state.rounds[number].actions:
            return action
    return None


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ActiveLoopError) else f"{type(exc).__name__}: {exc}"


def _run_step(run: RunDirectory, action: machine.CreateStepJob, jobs: int,
              on_progress: OnProgress | None) -> BaseException | None:
    """Run one step in this process (the score step: its shards in ``jobs`` processes)."""
    def report(state: str, detail: dict | None = None) -> None:
        if on_progress is not None:
            on_progress(Progress(action.round, str(action.step), state, detail))

    report("started")
    try:
        if action.step == Step.SCORE:
            run_shards(run.path, action.round, action.shards, jobs,
                       lambda rec: report("shard", rec))
        else:
            record = get_step(action.step)(run.store, action.round)
            report("succeeded", record)
    except Exception as exc:  # the round fails with the reason; the caller sees the error
        log.warning("round %d: %s failed: %s", action.round, action.step, exc)
        report("failed", {"message": _describe(exc)})
        return exc
    return None


def _score_shard(run_dir: str, round_number: int, index: int) -> dict:
    return get_step(Step.SCORE)(LocalStore(run_dir, create=False), round_number, index)


def run_shards(run_dir: str | object, round_number: int, shards: int, jobs: int = 1,
               on_shard: Callable[[dict], None] | None = None) -> list[dict]:
    """Run a round's score shards, ``jobs`` at a time in separate processes (in this process when
    ``jobs`` is 1); shards already written are not run again. Returns their records by index."""
    if jobs < 1:
        raise ConfigError("jobs", f"must be at least 1, got {jobs}")
    records: dict[int, dict] = {}
    if jobs == 1:
        for i in range(shards):
            records[i] = _score_shard(str(run_dir), round_number, i)
            if on_shard:
                on_shard(records[i])
    else:
        # spawn: a fresh interpreter per worker (forking a process that holds torch's threads can hang)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_score_shard, str(run_dir), round_number, i): i for i in range(shards)}
            for future in as_completed(futures):
                records[futures[future]] = future.result()
                if on_shard:
                    on_shard(records[futures[future]])
    return [records[i] for i in range(shards)]


__all__ = ["Progress", "advance", "run_shards"]
