"""A command killed at any instant leaves the run directory with its whole effect or none, and
running it again gives what an uninterrupted run gives: ``record`` and ``propose`` killed at every
failpoint (each commit boundary) and at random moments."""

from __future__ import annotations

import multiprocessing
import random
import shutil
import time

import pandas as pd
import pytest

from activeloop.landscapes import GB1_PARENT
from activeloop.local import failpoints
from activeloop.testing import rundir as check
from activeloop.testing.workstation import Lab

SPEC = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKW"},
    "acquisition": {"batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 3,
}
RECORD_POINTS = [p for p in failpoints.POINTS if p.startswith("record:")]
PROPOSE_POINTS = [p for p in failpoints.POINTS if p.startswith("propose:")]


@pytest.fixture(scope="module")
def ctx():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["activeloop.testing.rundir"])
    return ctx


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """A campaign after round 1 was proposed (``proposed``), the plate for it, and what recording
    it then proposing round 2 leaves, uninterrupted (``recorded``, ``next``)."""
    root = tmp_path_factory.mktemp("stages")
    lab = Lab(root / "proposed")
    lab.init(SPEC)
    variants = list(pd.read_csv(lab.propose().path)["variant"])
    plate = "variant,value\n" + "".join(f"{v},{i / 3:.6f}\n" for i, v in enumerate(variants))
    shutil.copytree(lab.run_dir, root / "recorded")
    check.record_plate(str(root / "recorded"), "plate1.csv", plate)
    shutil.copytree(root / "recorded", root / "next")
    check.propose(str(root / "next"))
    return {"root": root, "plate": plate, **{k: check.content(root / k) for k in ("proposed", "recorded", "next")}}


def _copy(stages, stage: str, tmp_path, name: str):
    target = tmp_path / name
    shutil.copytree(stages["root"] / stage, target)
    return target


def _killed(ctx, target, args) -> int:
    proc = ctx.Process(target=check.at_failpoint, args=args)
    proc.start()
    proc.join(300)
    return proc.exitcode


@pytest.mark.parametrize("point", RECORD_POINTS)
def test_record_killed_at_each_commit_boundary_is_whole_or_absent(ctx, stages, tmp_path, point):
    run = _copy(stages, "proposed", tmp_path, "run")
    assert _killed(ctx, run, (point, "record", str(run), "plate1.csv", stages["plate"])) == failpoints.EXIT_CODE
    assert check.problems(run) == []
    assert check.content(run)["plates"] in ({}, stages["recorded"]["plates"])  # all of the plate, or none
    check.record_plate(str(run), "plate1.csv", stages["plate"])  # the re-run
    assert check.content(run) == stages["recorded"]


@pytest.mark.parametrize("point", PROPOSE_POINTS)
def test_propose_killed_at_each_step_boundary_is_finished_by_the_next(ctx, stages, tmp_path, point):
    run = _copy(stages, "recorded", tmp_path, "run")
    assert _killed(ctx, run, (point, "propose", str(run))) == failpoints.EXIT_CODE
    assert check.problems(run) == []
    out = check.propose(str(run))  # the re-run finishes round 2, or starts it again
    assert out.get("round") == 2, out
    assert check.content(run) == stages["next"]


def test_commands_killed_at_random_moments_leave_a_consistent_directory_and_the_rerun_is_identical(
        ctx, stages, tmp_path):
    rng = random.Random(17)
    for i in range(30):
        action = "record" if i % 2 == 0 else "propose"
        stage, done = ("proposed", "recorded") if action == "record" else ("recorded", "next")
        run = _copy(stages, stage, tmp_path, f"run-{i}")
        args = (str(run), "plate1.csv", stages["plate"]) if action == "record" else (str(run),)
        proc = ctx.Process(target=check.at_failpoint, args=("none", action, *args))
        proc.start()
        time.sleep(rng.uniform(0.0, 0.25 if action == "record" else 2.5))
        proc.kill()
        proc.join(60)
        assert check.problems(run) == [], (i, action)
        if action == "record":
            check.record_plate(*args)
        else:
            assert check.propose(str(run)).get("round") == 2
        assert check.content(run) == stages[done], (i, action)
