"""Two writers at once on one run directory lose and duplicate nothing: plates recorded by two
processes at the same instant (the same file name or not), a plate beside a round being prepared,
an upload to the web server beside the command line, and one Idempotency-Key with two contents."""

from __future__ import annotations

import itertools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from activeloop.landscapes import GB1_PARENT
from activeloop.testing import rundir as check
from activeloop.testing.workstation import Lab

SPEC = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKW"},
    "acquisition": {"batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 3,
}
VARIANTS = ["".join(c) for c in itertools.product("ACDEFGHIKW", repeat=3)]


def plate_text(variants: list[str], offset: float = 0.0) -> str:
    return "variant,value\n" + "".join(f"{v},{(i + offset) / 7:.6f}\n" for i, v in enumerate(variants))


@pytest.fixture(scope="module")
def workers():
    """Two processes that fork from a server with ActiveLoop imported (no start-up per task)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["activeloop.testing.rundir", "activeloop.testing.workstation"])
    with ctx.Manager() as manager, ProcessPoolExecutor(2, mp_context=ctx) as pool:
        yield pool, manager


def together(pool, manager, *calls):
    """Run the calls in the two workers so that they start at the same moment (a barrier)."""
    barrier = manager.Barrier(len(calls))
    futures = [pool.submit(fn, *args, barrier=barrier, **kw) for fn, args, kw in calls]
    return [f.result(timeout=300) for f in futures]


def test_a_hundred_pairs_of_plates_recorded_at_once_keep_every_row_once(tmp_path, workers):
    pool, manager = workers
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    run = str(lab.run_dir)
    expected: dict[str, float] = {}
    for pair in range(100):
        a, b = VARIANTS[pair * 6: pair * 6 + 3], VARIANTS[pair * 6 + 3: pair * 6 + 6]
        same_name = pair % 2 == 0  # half the pairs: both files are called plate.csv
        names = ("plate.csv", "plate.csv") if same_name else (f"a{pair}.csv", f"b{pair}.csv")
        texts = (plate_text(a, pair), plate_text(b, pair + 0.5))
        out = together(pool, manager, *[(check.record_plate, (run, n, t), {}) for n, t in zip(names, texts)])
        assert all(o.get("recorded") for o in out), out
        for t in texts:
            for line in t.splitlines()[1:]:
                v, y = line.split(",")
                expected[v] = float(y)
    data = lab.measurements().set_index("variant")
    name = lab.service.run(lab.name).library().parser.name
    assert len(data) == len(expected) == 600 and (data["n"] == 1).all()
    assert all(abs(data.loc[name(v), "value"] - y) < 1e-9 for v, y in expected.items())
    plates = list((lab.run_dir / "assays").glob("*.json"))
    assert len(plates) == 200 and check.problems(run) == []
    # the file names are kept, with a number where two plates share one
    names = sorted(p.stem for p in plates)
    assert "plate" in names and "plate-2" in names and "plate-100" in names and "a1" in names


def test_the_same_plate_sent_twice_at_once_is_recorded_once(tmp_path, workers):
    pool, manager = workers
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    for i in range(10):
        text = plate_text(VARIANTS[i * 4: i * 4 + 4])
        out = together(pool, manager, (check.record_plate, (str(lab.run_dir), f"x{i}.csv", text), {}),
                       (check.record_plate, (str(lab.run_dir), f"y{i}.csv", text), {}))
        assert sorted(o["recorded"] for o in out) == [False, True]
        assert {o["name"] for o in out} == {o["duplicateOf"] or o["name"] for o in out}
    assert len(list((lab.run_dir / "assays").glob("*.json"))) == 10 and (lab.measurements()["n"] == 1).all()


def test_an_idempotency_key_used_at_once_for_two_contents_records_one_and_refuses_the_other(tmp_path, workers):
    pool, manager = workers
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    for i in range(5):
        calls = [(check.record_plate, (str(lab.run_dir), "p.csv", plate_text(VARIANTS[i * 8 + k * 4: i * 8 + k * 4 + 4])),
                  {"idempotency_key": f"upload-{i}"}) for k in range(2)]
        out = together(pool, manager, *calls)
        assert sorted(o.get("error", "recorded") for o in out) == ["ConflictError", "recorded"], out
    assert len(list((lab.run_dir / "assays").glob("*.json"))) == 5 and len(lab.measurements()) == 20


def test_a_plate_recorded_while_a_round_is_prepared_goes_to_the_next_round(tmp_path, workers):
    pool, manager = workers
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    first = list(pd.read_csv(lab.propose().path)["variant"])
    lab.record(_write(tmp_path / "r1.csv", plate_text(first)))
    extra = [v for v in VARIANTS if v not in first][:5]
    proposed, recorded = together(pool, manager, (check.propose, (str(lab.run_dir),), {}),
                                  (check.record_plate, (str(lab.run_dir), "extra.csv", plate_text(extra, 3)), {}))
    assert proposed == {"round": 2, "new": True} and recorded["recorded"]
    data = lab.measurements()
    assert len(data) == 17 and (data["n"] == 1).all() and check.problems(lab.run_dir) == []
    # round 2 trained on what was pinned when it started: with the extra plate or without it, whole
    r2 = lab.rounds()[1]
    pinned = pd.read_csv(lab.run_dir / "rounds/round-002/inputs/measurements.csv")
    assert len(pinned) in (12, 17) and r2.proposed == 8
    assert not set(pd.read_csv(lab.run_dir / "rounds/round-002/proposals.csv")["variant"]) & set(pinned["variant"])


def test_two_rounds_started_at_once_start_one(tmp_path, workers):
    pool, manager = workers
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    out = together(pool, manager, (check.propose, (str(lab.run_dir),), {}), (check.propose, (str(lab.run_dir),), {}))
    ok = [o for o in out if "error" not in o]
    refused = [o for o in out if "error" in o]
    # one prepares round 1; the other either waited and found it proposed, or was told it is being prepared
    assert ok[0] == {"round": 1, "new": True}
    assert not refused or (refused[0]["error"] == "StateError" and "being prepared" in refused[0]["message"])
    assert [r.round for r in lab.rounds()] == [1] and check.problems(lab.run_dir) == []


def test_an_upload_to_the_web_server_beside_the_command_line_keeps_both(tmp_path, workers):
    import threading

    from fastapi.testclient import TestClient

    from activeloop.service.rundir import RunDirService
    from activeloop.testing.web import TOKEN
    from activeloop.web.app import create_app
    from activeloop.web.auth import SharedToken

    pool, manager = workers
    lab = Lab(tmp_path / "runs" / "gb1")
    lab.init(SPEC)
    app = create_app(RunDirService(tmp_path / "runs"), SharedToken(TOKEN))
    for i in range(10):
        barrier = manager.Barrier(2)
        cli = pool.submit(check.record_plate, str(lab.run_dir), "cli.csv", plate_text(VARIANTS[i * 8: i * 8 + 4]),
                          barrier=barrier)
        answers = []

        def upload(i=i, barrier=barrier, answers=answers):
            with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                barrier.wait()
                answers.append(client.post("/api/v1/campaigns/gb1/results", files={
                    "file": ("web.csv", plate_text(VARIANTS[i * 8 + 4: i * 8 + 8]), "text/csv")}))

        thread = threading.Thread(target=upload)
        thread.start()
        assert cli.result(timeout=120)["recorded"]
        thread.join(120)
        assert answers[0].status_code == 200 and answers[0].json()["recorded"]
    assert len(lab.measurements()) == 80 and len(list((lab.run_dir / "assays").glob("*.json"))) == 20


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
