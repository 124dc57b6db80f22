"""The campaign loop against an in-memory Kubernetes API: one pass decides, acts, writes; a quiet
pass reads nothing; a pass that dies half-way is repaired by the next without duplicates."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from activeloop.controller.config import OperatorConfig
from activeloop.controller.loop import CampaignLoop, StoreCache
from activeloop.controller.metrics import Metrics
from activeloop.landscapes import GB1_PARENT
from activeloop.steps import get_step
from activeloop.store import LocalStore
from activeloop.testing.fakes import FakeKube
from activeloop.testing.oracle import SyntheticLab

NS = "lab"
LAB = SyntheticLab(GB1_PARENT, (39, 40))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


class CountingStore(LocalStore):
    """A local store that counts reads."""

    reads = 0

    def get_bytes(self, key: str) -> bytes:
        CountingStore.reads += 1
        return super().get_bytes(key)

    def exists(self, key: str) -> bool:
        CountingStore.reads += 1
        return super().exists(key)

    def list(self, prefix: str = "") -> list[str]:
        CountingStore.reads += 1
        return super().list(prefix)


class OneStore(StoreCache):
    def __init__(self, store: LocalStore) -> None:
        self.store = store

    def get(self, namespace: str, campaign: str) -> LocalStore:
        return self.store


@pytest.fixture
def world(tmp_path):
    kube = FakeKube()
    store = CountingStore(tmp_path / "store")
    config = OperatorConfig(store_uri=(tmp_path / "store").as_uri())
    loop = CampaignLoop(kube, config, Metrics(), OneStore(store))
    kube.create_if_absent("campaigns", NS, {"apiVersion": "activeloop.dev/v1alpha1", "kind": "Campaign",
                                            "metadata": {"name": "c", "namespace": NS}, "spec": {
        "parentSequence": GB1_PARENT, "library": {"sites": [39, 40]}, "initialBatchSize": 10,
        "acquisition": {"batchSize": 4}, "rounds": 1, "trigger": {"debounceSeconds": 0}}})

    def run():
        return loop.run(kube.observe(NS, "c"), NOW)

    def run_job(name: str) -> None:
        step, round_number = name.rsplit("-", 1)[1], int(name.split("-r")[1].split("-")[0])
        get_step(step)(store, round_number)
        kube.finish_job(name)

    return SimpleNamespace(kube=kube, store=store, loop=loop, run=run, run_job=run_job)


def status(kube, plural, name):
    return kube.objects[(plural, name)].get("status") or {}


def test_a_round_runs_through_passes_and_a_quiet_pass_reads_nothing(world):
    kube, run, run_job = world.kube, world.run, world.run_job
    run()  # the campaign starts round 1 and, in the same pass, pins its inputs and creates its tune Job
    assert ("looprounds", "c-r1") in kube.objects and status(kube, "campaigns", "c")["currentRound"] == 1
    assert status(kube, "looprounds", "c-r1")["phase"] == "Tuning" and list(kube.jobs) == ["c-r1-tune"]
    run()  # nothing new: the same again
    assert status(kube, "looprounds", "c-r1")["phase"] == "Tuning" and list(kube.jobs) == ["c-r1-tune"]
    run_job("c-r1-tune")
    run()
    assert status(kube, "looprounds", "c-r1")["phase"] == "Acquiring" and "c-r1-acquire" in kube.jobs
    run_job("c-r1-acquire")
    run()
    r1 = status(kube, "looprounds", "c-r1")
    assert r1["phase"] == "WaitingForAssays" and len(r1["proposals"]) == 10
    # nothing changed: a pass reads no store and writes no status
    CountingStore.reads, calls = 0, len(kube.calls)
    result = run()
    assert CountingStore.reads == 0 and result.writes == 0
    assert [c for c in kube.calls[calls:] if c[0] != "get"] == []
    # an AssayResult arrives: it is checked, stored, and round 2 starts in the same pass
    kube.create_if_absent("assayresults", NS, {"metadata": {"name": "p1"}, "spec": {
        "campaign": "c", "measurements": LAB.plate(r1["proposals"])}})
    run()
    assert status(kube, "assayresults", "p1")["phase"] == "Accepted"
    assert status(kube, "looprounds", "c-r1")["phase"] == "Completed"
    assert ("looprounds", "c-r2") in kube.objects and status(kube, "campaigns", "c")["measured"] == 10


def test_a_pass_that_dies_after_creating_a_job_is_repaired_without_a_duplicate(world):
    kube, store, run = world.kube, world.store, world.run
    real = kube.patch_status
    died = []

    def dying(plural, namespace, name, body):
        if plural == "looprounds" and not died:
            died.append(name)
            raise ConnectionError("the operator was killed")
        return real(plural, namespace, name, body)

    kube.patch_status = dying
    with pytest.raises(ConnectionError):
        run()  # round 1 and its tune Job were created, the round's status was not written
    assert list(kube.jobs) == ["c-r1-tune"] and status(kube, "looprounds", "c-r1") == {}
    run()  # the next pass sees the round and the Job (in the index) and records them
    assert list(kube.jobs) == ["c-r1-tune"] and kube.calls.count(("create", "jobs", "c-r1-tune")) == 1
    st = status(kube, "looprounds", "c-r1")
    assert st["phase"] == "Tuning" and st["tune"]["job"] == "c-r1-tune"
    assert st["inputs"]["measurementsSha256"] == store.content_hash("rounds/round-001/inputs/measurements.csv")


def test_a_stale_index_decides_the_same_again(world):
    kube, run = world.kube, world.run
    stale = kube.observe(NS, "c")
    run()  # round 1 created, pinned, its tune Job created
    first = status(kube, "looprounds", "c-r1")
    # a pass that still sees the old state (no round yet) repeats nothing harmful
    world.loop.run(stale, NOW)
    assert list(kube.jobs) == ["c-r1-tune"] and status(kube, "looprounds", "c-r1") == first


def test_a_failed_round_started_again_runs_new_jobs_and_pins_corrected_inputs(world):
    kube, store, run, run_job = world.kube, world.store, world.run, world.run_job
    run()
    kube.finish_job("c-r1-tune", succeeded=False)
    kube.failures["c-r1-tune"] = "Error (exit 1): the node went away"
    run()
    st = status(kube, "looprounds", "c-r1")
    assert st["phase"] == "Failed" and status(kube, "campaigns", "c")["phase"] == "Failed"
    first_pin = store.get_bytes("rounds/round-001/inputs.json")
    # the lab records a plate meanwhile, then starts the round again (spec.retry goes up)
    kube.create_if_absent("assayresults", NS, {"metadata": {"name": "early"}, "spec": {
        "campaign": "c", "measurements": [{"variant": "V39A", "value": 1.0}]}})
    kube.objects[("looprounds", "c-r1")]["spec"]["retry"] = 1
    run()
    run()
    st = status(kube, "looprounds", "c-r1")
    assert st["phase"] == "Tuning" and st["retries"] == 1 and "c-r1-tune-a1" in kube.jobs
    assert st["tune"]["job"] == "c-r1-tune-a1"
    # no step had run: the inputs were pinned again, with the plate recorded meanwhile
    assert store.get_bytes("rounds/round-001/inputs.json") != first_pin and st["inputs"]["measured"] == 1
    run_job("c-r1-tune-a1".removesuffix("-a1"))
    kube.finish_job("c-r1-tune-a1")
    run()
    assert status(kube, "looprounds", "c-r1")["phase"] == "Acquiring" and "c-r1-acquire-a1" in kube.jobs
    assert status(kube, "campaigns", "c")["phase"] == "Running"
