"""The real operator (kopf) against an in-process Kubernetes API (kmock), Jobs run in-process.

Every test starts its own operator and its own campaign (no test relies on another's), and the
"lab" is a synthetic landscape (no data set needed).
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable

import kubernetes
import pandas as pd
import pytest

from activeloop.api.resources import GROUP, VERSION
from activeloop.landscapes import GB1_PARENT
from activeloop.testing.oracle import SyntheticLab

NS = "lab"
LAB = SyntheticLab(GB1_PARENT, (39, 40))
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def wait_for(what: str, check: Callable[[], object], timeout: float = 120.0) -> object:
    """Poll ``check`` until it returns something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from activeloop.testing.emulator import EmulatedCluster

    work = tmp_path_factory.mktemp("cluster")
    mp = pytest.MonkeyPatch()
    with EmulatedCluster(work) as c:
        mp.setenv("KUBECONFIG", str(c.kubeconfig))
        mp.setenv("ACTIVELOOP_STORE_URI", (work / "store").as_uri())
        mp.setenv("ACTIVELOOP_TIMER_INTERVAL", "5")
        mp.setenv("ACTIVELOOP_METRICS_PORT", str(METRICS_PORT))
        c.store_root = work / "store"
        yield c
    mp.undo()


@pytest.fixture(scope="module")
def api(cluster):
    return kubernetes.config.new_client_from_config(str(cluster.kubeconfig))


@pytest.fixture
def operator(cluster):
    from activeloop.controller import run_in_thread

    thread, stop = run_in_thread([NS])
    yield
    stop.set()
    thread.join(30)


class Hooks:
    """What the in-process Job runner does before a Job runs (set by a test, cleared after it)."""

    def __init__(self) -> None:
        self.before: dict[str, Callable[[], None]] = {}

    def __call__(self, job: str) -> None:
        if job in self.before:
            self.before.pop(job)()


@pytest.fixture(scope="module")
def runner(api):
    from activeloop.testing.jobs import InProcessJobRunner

    hooks = Hooks()
    with InProcessJobRunner(api, NS, fail=lambda name: name.startswith("doomed"), before=hooks,
                            fail_index=lambda name, index: name.startswith("shardfail") and index == 1) as r:
        r.hooks = hooks
        yield r


@pytest.fixture
def jobs(runner):
    runner.hooks.before.clear()
    runner.paused.clear()
    yield runner
    runner.hooks.before.clear()
    runner.paused.clear()


def co(api):
    return kubernetes.client.CustomObjectsApi(api)


KINDS = {"campaigns": "Campaign", "assayresults": "AssayResult", "looprounds": "LoopRound",
         "studentmodels": "StudentModel"}


def create(api, plural, name, spec):
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KINDS[plural], "metadata": {"name": name}, "spec": spec}
    return co(api).create_namespaced_custom_object(GROUP, VERSION, NS, plural, body)


def get(api, plural, name):
    try:
        return co(api).get_namespaced_custom_object(GROUP, VERSION, NS, plural, name)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def status(api, plural, name):
    return (get(api, plural, name) or {}).get("status") or {}


def job_names(api, prefix=""):
    names = [j.metadata.name for j in kubernetes.client.BatchV1Api(api).list_namespaced_job(NS).items]
    return sorted(n for n in names if n.startswith(prefix))


def campaign(**overrides) -> dict:
    spec = {
        "parentSequence": GB1_PARENT,
        "library": {"sites": [39, 40]},  # GB1 subset: V39x D40x
        "surrogate": {"kind": "gp_epistasis", "encoding": "onehot"},
        "acquisition": {"strategy": "thompson", "batchSize": 8},
        "initialBatchSize": 16,
        "rounds": 2,
        "trigger": {"minFractionMeasured": 1.0, "debounceSeconds": 0},
        "jobs": {"cpu": "1", "memory": "2Gi"},
    }
    spec.update(overrides)
    return spec


def waiting(api, rname):
    st = status(api, "looprounds", rname)
    return st.get("phase") == "WaitingForAssays" and st


def test_campaign_runs_its_rounds_from_assay_results_alone(api, operator, jobs, cluster):
    create(api, "campaigns", "c1", campaign())
    r1 = wait_for("round 1 proposals", lambda: waiting(api, "c1-r1"))
    assert len(r1["proposals"]) == 16 and len(set(r1["proposals"])) == 16
    assert r1["tune"]["state"] == "Succeeded" and r1["acquire"]["state"] == "Succeeded"
    assert r1["proposalsSha256"] and r1["proposalsUri"].endswith("rounds/round-001/proposals.csv")
    assert r1["inputs"]["measured"] == 0 and r1["pending"] == 16
    assert r1["acquire"]["cost"]["wallSeconds"] >= 0 and r1["acquire"]["cost"]["cpuSeconds"] >= 0
    assert {c["type"] for c in r1["conditions"]} >= {"Tuned", "Proposed"}
    assert job_names(api, "c1-") == ["c1-r1-acquire", "c1-r1-tune"]
    camp = status(api, "campaigns", "c1")
    assert camp["phase"] == "WaitingForAssays" and camp["currentRound"] == 1 and camp["roundsPlanned"] == 3

    # the plate comes back in two objects: one round starts, not two
    rows = LAB.plate(r1["proposals"])
    create(api, "assayresults", "c1-plate1-a", {"campaign": "c1", "round": 1, "measurements": rows[:8]})
    create(api, "assayresults", "c1-plate1-b", {"campaign": "c1", "round": 1, "measurements": rows[8:]})
    r2 = wait_for("round 2 proposals", lambda: waiting(api, "c1-r2"))
    assert all(status(api, "assayresults", n)["phase"] == "Accepted" for n in ("c1-plate1-a", "c1-plate1-b"))
    assert len(r2["proposals"]) == 8 and not set(r2["proposals"]) & set(r1["proposals"])
    r1 = status(api, "looprounds", "c1-r1")
    assert r1["phase"] == "Completed" and r1["measured"] == 16 and r1["pending"] == 0
    # each round pinned the data it trained on: round 2's snapshot holds both plates
    assert r2["inputs"]["measured"] == 16 and r2["inputs"]["assays"] == 2
    assert r2["measurementsSha256"] == r2["inputs"]["measurementsSha256"] != r1["measurementsSha256"]
    assert job_names(api, "c1-") == ["c1-r1-acquire", "c1-r1-tune", "c1-r2-acquire", "c1-r2-tune"]
    camp = wait_for("summary", lambda: status(api, "campaigns", "c1").get("proposalsPending") == 8
                    and status(api, "campaigns", "c1"))
    assert camp["currentRound"] == 2 and camp["measured"] == 16
    assert camp["bestValue"] == max(r["value"] for r in rows)
    store = cluster.store_root / NS / "c1"
    acquire = pd.read_json(store / "rounds/round-002/acquire.json", typ="series")
    assert acquire["measurements_sha256"] == r2["inputs"]["measurementsSha256"]

    # the last round (rounds: 2 -> three in all): once its results are in, the campaign completes
    create(api, "assayresults", "c1-plate2", {"campaign": "c1", "measurements": LAB.plate(r2["proposals"])})
    r3 = wait_for("round 3 proposals", lambda: waiting(api, "c1-r3"))
    create(api, "assayresults", "c1-plate3", {"campaign": "c1", "measurements": LAB.plate(r3["proposals"])})
    wait_for("campaign completed", lambda: status(api, "campaigns", "c1").get("phase") == "Completed")
    assert get(api, "looprounds", "c1-r4") is None
    assert len(job_names(api, "c1-")) == 6


def test_a_plate_arriving_between_tune_and_acquire_waits_for_the_next_round(api, operator, jobs, cluster):
    create(api, "campaigns", "c2", campaign())
    r1 = wait_for("round 1 proposals", lambda: waiting(api, "c2-r1"))
    extra = ["V39W:D40W", "V39Y:D40Y"]
    extra = [v for v in extra if v not in r1["proposals"]][:1]

    def late_plate() -> None:  # the lab sends more results while round 2's acquire Job is scheduled
        create(api, "assayresults", "c2-late", {"campaign": "c2", "measurements": LAB.plate(extra)})
        wait_for("late plate accepted", lambda: status(api, "assayresults", "c2-late").get("phase") == "Accepted")

    jobs.hooks.before["c2-r2-acquire"] = late_plate
    create(api, "assayresults", "c2-plate1", {"campaign": "c2", "measurements": LAB.plate(r1["proposals"])})
    r2 = wait_for("round 2 proposals", lambda: waiting(api, "c2-r2"))
    store = cluster.store_root / NS / "c2"
    tune = pd.read_json(store / "rounds/round-002/tune.json", typ="series")
    acquire = pd.read_json(store / "rounds/round-002/acquire.json", typ="series")
    # tune and acquire read the same pinned snapshot, which does not hold the late plate
    assert tune["measurements_sha256"] == acquire["measurements_sha256"] == r2["inputs"]["measurementsSha256"]
    assert acquire["measured"] == 16
    pinned = pd.read_csv(store / "rounds/round-002/inputs/measurements.csv")
    assert extra[0] not in set(pinned["variant"])
    live = pd.read_csv(store / "measurements.csv")
    assert extra[0] in set(live["variant"])
    # ... the next round's snapshot does
    create(api, "assayresults", "c2-plate2", {"campaign": "c2", "measurements": LAB.plate(r2["proposals"])})
    r3 = wait_for("round 3 proposals", lambda: waiting(api, "c2-r3"))
    assert r3["inputs"]["measured"] == 16 + 8 + 1


def test_restart_mid_round_duplicates_no_job(api, jobs):
    from activeloop.controller import run_in_thread

    thread, stop = run_in_thread([NS])
    try:
        create(api, "campaigns", "c3", campaign(rounds=1))
        r1 = wait_for("round 1 proposals", lambda: waiting(api, "c3-r1"))
        jobs.paused.set()  # the cluster is slow: round 2's tune Job will be left running
        create(api, "assayresults", "c3-plate1", {"campaign": "c3", "measurements": LAB.plate(r1["proposals"])})
        wait_for("round 2 tune Job", lambda: "c3-r2-tune" in job_names(api))
        uid = kubernetes.client.BatchV1Api(api).read_namespaced_job("c3-r2-tune", NS).metadata.uid
    finally:
        stop.set()
        thread.join(30)
    # a new operator process resumes where the old one was
    thread, stop = run_in_thread([NS])
    try:
        jobs.paused.clear()
        r2 = wait_for("round 2 proposals", lambda: waiting(api, "c3-r2"))
        assert len(r2["proposals"]) == 8
        assert job_names(api, "c3-r2") == ["c3-r2-acquire", "c3-r2-tune"]
        assert kubernetes.client.BatchV1Api(api).read_namespaced_job("c3-r2-tune", NS).metadata.uid == uid
        assert jobs.ran.count("c3-r2-tune") == 1
    finally:
        stop.set()
        thread.join(30)


def suspended(name: str, api) -> None:
    """A campaign that starts no round (cheap), for tests of AssayResults alone."""
    create(api, "campaigns", name, campaign(suspend=True))
    wait_for(f"{name} accepted", lambda: status(api, "campaigns", name).get("phase") == "Pending")


@pytest.mark.parametrize(
    ("name", "spec", "expected"),
    [
        ("unknown-field", {"measurments": [], "measurements": [{"variant": "V39A", "value": 1}]},
         "spec.measurments: Extra inputs are not permitted"),
        ("bad-sequence", {"measurements": [{"variant": "V39A", "value": 1}, {"variant": "V39Z", "value": 2}]},
         "spec.measurements[1].variant: V39Z: 'Z' is not one of the 20 amino acids"),
        ("nan-value", {"measurements": [{"variant": "V39A", "value": float("nan")}]},
         "spec.measurements.0.value: Value error, must be a finite number"),
        ("no-value", {"measurements": [{"variant": "V39A"}]},
         "value is required (or failed: true for a well that gave none)"),
        ("duplicate", {"measurements": [{"variant": "V39A", "value": 1}, {"variant": "V39A", "value": 2}]},
         "measurements[1]: variant V39A (replicate None) duplicates measurements[0]"),
        ("same-variant-two-spellings", {"measurements": [{"variant": "V39A", "value": 1}, {"variant": "AD", "value": 2}]},
         "spec.measurements[1].variant: V39A repeats spec.measurements[0]"),
        ("outside-library", {"measurements": [{"variant": "G41A", "value": 1}]},
         "spec.measurements[0].variant: G41A is not in the campaign's library"),
    ],
)
def test_invalid_assay_results_are_refused_naming_the_field(api, operator, cluster, name, spec, expected):
    camp = f"c-{name}"
    suspended(camp, api)
    create(api, "assayresults", name, {"campaign": camp, **spec})
    st = wait_for(f"{name} rejected", lambda: status(api, "assayresults", name).get("phase") == "Rejected"
                  and status(api, "assayresults", name))
    assert expected in st["message"], st["message"]
    assert not (cluster.store_root / NS / camp / "assays" / f"{name}.csv").exists()


def test_edit_of_an_accepted_result_is_refused_and_a_correction_supersedes_it(api, operator, cluster):
    suspended("c5", api)
    create(api, "assayresults", "locked", {"campaign": "c5", "measurements": [{"variant": "V39C", "value": 0.5}]})
    wait_for("accepted", lambda: status(api, "assayresults", "locked").get("phase") == "Accepted")
    stored = cluster.store_root / NS / "c5" / "assays" / "locked.csv"
    before = stored.read_bytes()
    co(api).patch_namespaced_custom_object(
        GROUP, VERSION, NS, "assayresults", "locked", {"spec": {"measurements": [{"variant": "V39C", "value": 9.0}]}}
    )
    st = wait_for("edit refused", lambda: "immutable" in (status(api, "assayresults", "locked").get("message") or "")
                  and status(api, "assayresults", "locked"))
    assert st["phase"] == "Accepted" and stored.read_bytes() == before
    # a correction is a new object that supersedes the old one
    create(api, "assayresults", "locked-fix",
           {"campaign": "c5", "supersedes": ["locked"], "measurements": [{"variant": "V39C", "value": 0.7}]})
    st = wait_for("superseded", lambda: status(api, "assayresults", "locked").get("phase") == "Superseded"
                  and status(api, "assayresults", "locked"))
    assert st["supersededBy"] == "locked-fix"
    measurements = cluster.store_root / NS / "c5" / "measurements.csv"
    wait_for("correction merged", lambda: "locked-fix" in measurements.read_text())
    df = pd.read_csv(measurements)
    assert df.set_index("variant").loc["V39C", "value"] == 0.7 and len(df) == 1
    assert status(api, "campaigns", "c5")["measured"] == 1


def test_invalid_campaign_is_refused_naming_the_field(api, operator):
    create(api, "campaigns", "broken", campaign(parentSequence="MQYKLILNGKTLKBGE"))
    st = wait_for("campaign failed", lambda: status(api, "campaigns", "broken").get("phase") == "Failed"
                  and status(api, "campaigns", "broken"))
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "spec.parentSequence" in ready["message"]
    assert "residue 14 is 'B'" in ready["message"]
    assert get(api, "looprounds", "broken-r1") is None


def test_failed_step_job_fails_the_round_and_the_campaign_with_the_pod_reason(api, operator, jobs):
    create(api, "campaigns", "doomed", campaign(jobs={"backoffLimit": 0}))
    st = wait_for("round failed", lambda: status(api, "looprounds", "doomed-r1").get("phase") == "Failed"
                  and status(api, "looprounds", "doomed-r1"))
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "TuneJobFailed" and "CUDA out of memory (simulated)" in failed["message"]
    assert st["tune"]["state"] == "Failed"
    assert "doomed-r1-acquire" not in job_names(api)
    camp = wait_for("campaign failed", lambda: status(api, "campaigns", "doomed").get("phase") == "Failed"
                    and status(api, "campaigns", "doomed"))
    assert "round 1: Error (exit 1): RuntimeError: CUDA out of memory" in next(
        c["message"] for c in camp["conditions"] if c["type"] == "RoundFailed")


def test_a_sharded_round_scores_its_library_in_an_indexed_job_then_merges(api, operator, jobs, cluster):
    spec = campaign(acquisition={"strategy": "ucb", "batchSize": 8, "shards": 3, "parallelism": 2})
    create(api, "campaigns", "sharded", spec)
    r1 = wait_for("round 1 proposals", lambda: waiting(api, "sharded-r1"))
    assert r1.get("shards", 1) == 1 and not (r1.get("score") or {}).get("state")  # a random first batch
    create(api, "assayresults", "sharded-plate1", {"campaign": "sharded", "measurements": LAB.plate(r1["proposals"])})
    r2 = wait_for("round 2 proposals", lambda: waiting(api, "sharded-r2"))
    assert r2["shards"] == 3 and r2["score"]["state"] == "Succeeded" and len(r2["proposals"]) == 8
    scored = next(c for c in r2["conditions"] if c["type"] == "Scored")
    assert scored["message"] == f"{400 - 16:,} candidates ranked in 3 shards"
    job = kubernetes.client.BatchV1Api(api).read_namespaced_job("sharded-r2-score", NS)
    assert job.spec.completion_mode == "Indexed" and job.spec.completions == 3 and job.spec.parallelism == 2
    store = cluster.store_root / NS / "sharded" / "rounds" / "round-002"
    assert sorted(p.name for p in (store / "shards").iterdir()) == [f"shard-000{i}.json" for i in range(3)]
    acquire = pd.read_json(store / "acquire.json", typ="series")
    assert acquire["shards"]["shards"] == 3 and acquire["shards"]["ranked"] == 400 - 16
    assert job_names(api, "sharded-") == ["sharded-r1-acquire", "sharded-r1-tune", "sharded-r2-acquire",
                                          "sharded-r2-score", "sharded-r2-tune"]


def test_a_failing_shard_fails_the_round_with_its_reason(api, operator, jobs):
    spec = campaign(acquisition={"strategy": "ucb", "batchSize": 8, "shards": 3}, jobs={"backoffLimit": 0})
    create(api, "campaigns", "shardfail", spec)
    r1 = wait_for("round 1 proposals", lambda: waiting(api, "shardfail-r1"))
    create(api, "assayresults", "shardfail-plate1", {"campaign": "shardfail", "measurements": LAB.plate(r1["proposals"])})
    st = wait_for("round 2 failed", lambda: status(api, "looprounds", "shardfail-r2").get("phase") == "Failed"
                  and status(api, "looprounds", "shardfail-r2"))
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "ScoreJobFailed"
    assert "shard 1: Error (exit 1): RuntimeError: shard ran out of memory (simulated)" in failed["message"]
    assert st["score"]["state"] == "Failed" and "shardfail-r2-acquire" not in job_names(api)


def test_a_minimize_campaign_with_failed_wells_and_a_closed_round(api, operator, jobs, cluster):
    from activeloop.service.base import User
    from activeloop.service.cluster import ClusterService
    from activeloop.service.kube import KubeAccess

    create(api, "campaigns", "c7", campaign(objective={"name": "kd", "direction": "minimize"},
                                            trigger={"minFractionMeasured": 1.0, "debounceSeconds": 0}))
    r1 = wait_for("round 1 proposals", lambda: waiting(api, "c7-r1"))
    failed = r1["proposals"][:2]
    rows = LAB.plate(r1["proposals"][:12], failed=failed)  # 4 wells still pending
    create(api, "assayresults", "c7-plate1", {"campaign": "c7", "measurements": rows})
    st = wait_for("results counted", lambda: status(api, "looprounds", "c7-r1").get("failed") == 2
                  and status(api, "looprounds", "c7-r1"))
    assert (st["measured"], st["pending"], st["phase"]) == (10, 4, "WaitingForAssays")
    camp = status(api, "campaigns", "c7")
    valued = [r["value"] for r in rows if "value" in r]
    assert camp["bestValue"] == min(valued) and camp["failed"] == 2  # the direction is respected
    # the lab closes the round with 4 wells pending: the next round starts
    service = ClusterService([NS], None, KubeAccess(kubeconfig=True))
    assert service.close_round(User("lab"), "c7").closed_round == 1
    r2 = wait_for("round 2 proposals", lambda: waiting(api, "c7-r2"))
    done = next(c for c in status(api, "looprounds", "c7-r1")["conditions"] if c["type"] == "Completed")
    assert done["reason"] == "ClosedByLab"
    # failed wells are never proposed again; the 4 pending ones are not proposed while pending
    assert not set(r2["proposals"]) & set(r1["proposals"])
    acquire = pd.read_json(cluster.store_root / NS / "c7" / "rounds/round-002/acquire.json", typ="series")
    assert acquire["best_measured"] == min(valued) and acquire["direction"] == "minimize"
    assert acquire["measured"] == 10 and acquire["failed_excluded"] == 2 and acquire["pending_excluded"] == 4


def test_student_model_is_distilled_exported_and_reported(api, operator, jobs, cluster):
    create(api, "campaigns", "c8", campaign(rounds=1))
    r1 = wait_for("round 1 proposals", lambda: waiting(api, "c8-r1"))
    create(api, "assayresults", "c8-plate1", {"campaign": "c8", "measurements": LAB.plate(r1["proposals"])})
    wait_for("round 2 pinned", lambda: status(api, "looprounds", "c8-r2").get("inputs"))
    create(api, "studentmodels", "c8-small", {"campaign": "c8", "round": 2, "channels": 8, "ensemble": 2})
    st = wait_for("student distilled", lambda: status(api, "studentmodels", "c8-small").get("phase") == "Succeeded"
                  and status(api, "studentmodels", "c8-small"), timeout=180)
    assert st["job"] == "c8-small-distil" and "c8-small-distil" in job_names(api)
    assert 0 < st["parameters"] < 20_000 and st["bytes"] > 1000
    assert st["latencyMs"] > 0 and -1 <= st["spearmanMeasured"] <= 1
    assert st["spearmanTeacher"] > 0.5 and -1 <= st["spearmanStdTeacher"] <= 1
    assert st["cost"]["wallSeconds"] > 0
    onnx = cluster.store_root / NS / "c8" / "students" / "c8-small" / "member-1.onnx"
    assert onnx.stat().st_size > 1000
    assert len(st["sha256"]) == 64 and st["artifactUri"].endswith("students/c8-small")


def test_the_operator_serves_prometheus_metrics(api, operator, jobs):
    create(api, "campaigns", "c9", campaign())
    wait_for("round 1 proposals", lambda: waiting(api, "c9-r1"))
    text = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).read().decode()
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("activeloop_")}
    assert samples['activeloop_step_jobs_created_total{step="tune"}'] >= 1
    assert samples['activeloop_step_jobs_finished_total{outcome="succeeded",step="acquire"}'] >= 1
    assert samples['activeloop_reconcile_total{outcome="ok"}'] >= 1
    assert samples['activeloop_rounds{phase="WaitingForAssays"}'] >= 1
    assert 'activeloop_step_job_seconds_count{step="tune"}' in samples
    assert "activeloop_assays_total" in text and "activeloop_assay_to_job_seconds" in text
