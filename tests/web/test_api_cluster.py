"""The REST API on a cluster (the emulator, the real operator in-process, Jobs run in-process):
each request acts with its caller's token, RBAC decides with the chart's own ClusterRoles, an
upload becomes AssayResults and the next round follows."""

from __future__ import annotations

import time
from types import SimpleNamespace

import kubernetes
import pytest
import yaml
from fastapi.testclient import TestClient

from activeloop.api.resources import GROUP, VERSION
from activeloop.landscapes import GB1_PARENT
from activeloop.testing.oracle import SyntheticLab

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NS = "lab"
LAB = SyntheticLab(GB1_PARENT, (39, 40))


def chart_roles() -> dict[str, set[tuple[str, str]]]:
    """The chart's ClusterRoles for people, as (verb, resource) pairs."""
    from pathlib import Path

    import helm_python as helm

    chart = helm.Chart.load(str(Path(__file__).resolve().parents[2] / "helm" / "activeloop"))
    roles = {}
    for path, text in chart.render({}, name="al", namespace="activeloop", is_install=True).items():
        for doc in yaml.safe_load_all(text) if path.endswith(".yaml") else []:
            if doc and doc["kind"] == "ClusterRole" and doc["metadata"]["name"].startswith("activeloop-"):
                roles[doc["metadata"]["name"]] = {(v, r) for rule in doc["rules"] for r in rule["resources"]
                                                  for v in rule["verbs"]}
    return roles


def wait_for(what, check, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from activeloop.controller import run_in_thread
    from activeloop.service.cluster import ClusterService
    from activeloop.testing.emulator import EmulatedCluster, StampingEmulator
    from activeloop.testing.jobs import InProcessJobRunner
    from activeloop.web.app import create_app
    from activeloop.web.auth import PassThrough

    roles = chart_roles()

    def emulator():
        e = StampingEmulator()
        e.policy = {"test": None, "viewer": roles["activeloop-viewer"], "scientist": roles["activeloop-scientist"]}
        return e

    work = tmp_path_factory.mktemp("webcluster")
    mp = pytest.MonkeyPatch()
    with EmulatedCluster(work, emulator=emulator) as cluster:
        mp.setenv("KUBECONFIG", str(cluster.kubeconfig))
        mp.setenv("ACTIVELOOP_STORE_URI", (work / "store").as_uri())
        mp.setenv("ACTIVELOOP_TIMER_INTERVAL", "5")
        mp.setenv("ACTIVELOOP_METRICS_PORT", "-1")
        admin = kubernetes.config.new_client_from_config(str(cluster.kubeconfig))
        thread, stop = run_in_thread([NS])
        with InProcessJobRunner(admin, NS) as runner:
            service = ClusterService([NS], (work / "store").as_uri())
            app = create_app(service, PassThrough())
            yield SimpleNamespace(admin=kubernetes.client.CustomObjectsApi(admin), app=app, runner=runner)
        stop.set()
        thread.join(30)
    mp.undo()


def as_user(world, token: str | None) -> TestClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(world.app, headers=headers)


def status(world, plural, name):
    try:
        return world.admin.get_namespaced_custom_object(GROUP, VERSION, NS, plural, name).get("status") or {}
    except kubernetes.client.ApiException:
        return {}


def start_campaign(world, name: str) -> dict:
    world.admin.create_namespaced_custom_object(GROUP, VERSION, NS, "campaigns", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Campaign", "metadata": {"name": name},
        "spec": {"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]}, "initialBatchSize": 10,
                 "acquisition": {"batchSize": 6}, "rounds": 3, "trigger": {"debounceSeconds": 0}}})
    return wait_for("round 1", lambda: status(world, "looprounds", f"{name}-r1").get("phase") == "WaitingForAssays"
                    and status(world, "looprounds", f"{name}-r1"))


def test_no_token_or_an_unknown_token_is_401(world):
    with as_user(world, None) as anon:
        assert anon.get("/api/v1/campaigns").status_code == 401
    with as_user(world, "nobody") as stranger:
        res = stranger.get("/api/v1/campaigns")
        assert res.status_code == 401 and "sign in again" in res.json()["detail"]


def test_a_viewer_sees_but_may_not_record_or_start_rounds(world):
    r1 = start_campaign(world, "seen")
    with as_user(world, "viewer") as viewer:
        names = [c["name"] for c in viewer.get("/api/v1/campaigns").json()]
        assert "seen" in names
        assert len(viewer.get("/api/v1/campaigns/seen/rounds/1").json()["proposals"]) == 10
        plate = "variant,value\n" + "".join(f"{m['variant']},{m['value']}\n" for m in LAB.plate(r1["proposals"]))
        res = viewer.post("/api/v1/campaigns/seen/results", content=plate, headers={"Content-Type": "text/csv"})
        assert res.status_code == 403
        assert "may not create assayresults" in res.json()["detail"] and 'User "viewer" cannot create' in res.json()["detail"]
        res = viewer.post("/api/v1/campaigns/seen/rounds:next")
        assert res.status_code == 403 and "may not patch looprounds" in res.json()["detail"]
    assert world.admin.list_namespaced_custom_object(GROUP, VERSION, NS, "assayresults")["items"] == []
    assert status(world, "looprounds", "seen-r1")["phase"] == "WaitingForAssays"


def test_a_scientist_records_a_plate_and_starts_the_next_round(world):
    r1 = start_campaign(world, "work")
    with as_user(world, "scientist") as sci:
        detail = sci.get("/api/v1/campaigns/work").json()
        assert detail["phase"] == "WaitingForAssays" and detail["pending"] == 10 and detail["roundsPlanned"] == 4
        rows = LAB.plate(r1["proposals"])
        plate = "variant,value\n" + "".join(f"{m['variant']},{m['value']}\n" for m in rows)
        bad = plate + "V39Z,1.0\n"
        res = sci.post("/api/v1/campaigns/work/results", files={"file": ("plate1.csv", bad, "text/csv")})
        assert res.status_code == 422 and res.json()["problems"][0]["line"] == 12
        res = sci.post("/api/v1/campaigns/work/results", files={"file": ("plate1.csv", plate, "text/csv")})
        assert res.status_code == 200 and res.json()["recorded"], res.text
        (obj,) = world.admin.list_namespaced_custom_object(GROUP, VERSION, NS, "assayresults")["items"]
        assert obj["spec"]["campaign"] == "work" and len(obj["spec"]["measurements"]) == 10
        again = sci.post("/api/v1/campaigns/work/results", files={"file": ("again.csv", plate, "text/csv")}).json()
        assert not again["recorded"] and again["duplicateOf"] == obj["metadata"]["name"]
        # the operator accepts it, and round 2 follows
        wait_for("round 2", lambda: status(world, "looprounds", "work-r2").get("phase") == "WaitingForAssays")
        rounds = sci.get("/api/v1/campaigns/work/rounds").json()
        assert [r["phase"] for r in rounds] == ["Completed", "WaitingForAssays"]
        r2 = sci.get("/api/v1/campaigns/work/rounds/2").json()
        assert len(r2["proposals"]) == 6 and all(p["scoreSd"] is not None for p in r2["proposals"])
        assert sci.get("/api/v1/campaigns/work/history").json()[0]["best"] == max(m["value"] for m in rows)
        # "start the next round now" closes round 2 with its results pending
        res = sci.post("/api/v1/campaigns/work/rounds:next")
        assert res.status_code == 200 and res.json()["nextRound"] == 3
        wait_for("round 3", lambda: status(world, "looprounds", "work-r3").get("phase") == "WaitingForAssays")
        closed = next(c for c in status(world, "looprounds", "work-r2")["conditions"] if c["type"] == "Completed")
        assert closed["reason"] == "ClosedByLab"
        page = sci.get("/campaigns/work", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "Proposals of round 3" in page.text


def test_a_sharded_round_shows_its_score_step_and_a_failing_shard_says_which():
    from activeloop.api.resources import LoopRoundStatus
    from activeloop.service.views import round_summary

    plain = round_summary(1, LoopRoundStatus.lenient({"phase": "Acquiring"}))
    assert list(plain.steps) == ["tune", "acquire"]
    st = LoopRoundStatus.lenient({"phase": "Failed", "shards": 4, "score": {
        "state": "Failed", "job": "c-r2-score", "message": "shard 1: OOMKilled (exit 137): "}})
    summary = round_summary(2, st)
    assert list(summary.steps) == ["tune", "score", "acquire"]
    assert summary.steps["score"].state == "Failed" and summary.steps["score"].message.startswith("shard 1:")


def test_a_plate_on_a_cluster_records_who_sent_it_and_keeps_its_file(world):
    r1 = start_campaign(world, "record")
    with as_user(world, "scientist") as sci:
        rows = LAB.plate(r1["proposals"])
        plate = ("Plate reader export\n" + "variant,value\n" +
                 "".join(f"{m['variant']},{m['value']}\n" for m in rows)).encode()
        res = sci.post("/api/v1/campaigns/record/results", files={"file": ("day 1.csv", plate, "text/csv")})
        assert res.status_code == 200 and res.json()["recorded"], res.text
        name = res.json()["name"]
        obj = world.admin.get_namespaced_custom_object(GROUP, VERSION, NS, "assayresults", name)
        # the caller's own username, from a SelfSubjectReview made with their token
        assert obj["metadata"]["annotations"]["activeloop.dev/recorded-by"] == "alice@lab.example"
        wait_for("accepted", lambda: status(world, "assayresults", name).get("phase") == "Accepted")
        (view,) = [p for p in sci.get("/api/v1/campaigns/record/plates").json() if p["name"] == name]
        assert view["recordedBy"] == "alice@lab.example" and view["rows"] == 10 and view["original"]
        assert sci.get(f"/api/v1/campaigns/record/plates/{name}/file").content == plate
        feed = sci.get("/api/v1/campaigns/record/activity").json()
        assert any(e["kind"] == "plate" and e["who"] == "alice@lab.example" for e in feed)
        page = sci.get(f"/campaigns/record/plates/{name}", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "alice@lab.example" in page.text
    with as_user(world, "viewer") as viewer:  # a viewer reads the record, and is named as who they are
        assert viewer.get("/api/v1/campaigns/record/plates").status_code == 200
        assert "bob@lab.example" in viewer.get("/campaigns/record", headers={"Accept": "text/html"}).text


def test_picks_on_a_cluster_go_in_the_next_looprounds_spec_and_lead_its_batch(world):
    r1 = start_campaign(world, "picked")
    taken = set(r1["proposals"])
    free = [v for v in (f"V39{a}" for a in "ACDEFGHIKLMNPQRSTWY") if v not in taken][:2]
    with as_user(world, "viewer") as viewer:
        res = viewer.post("/api/v1/campaigns/picked/rounds:next", json={"picks": free})
        assert res.status_code == 403 and "may not create looprounds" in res.json()["detail"]
    with as_user(world, "scientist") as sci:
        bad = sci.post("/api/v1/campaigns/picked/rounds:next", json={"picks": [free[0], r1["proposals"][0]]})
        assert bad.status_code == 422 and bad.json()["problems"][0]["column"] == "picks[1]"
        assert "was proposed in an earlier round" in bad.text
        assert status(world, "looprounds", "picked-r1")["phase"] == "WaitingForAssays"
        res = sci.post("/api/v1/campaigns/picked/rounds:next", json={"picks": free})
        assert res.status_code == 200, res.text
        obj = world.admin.get_namespaced_custom_object(GROUP, VERSION, NS, "looprounds", "picked-r2")
        assert obj["spec"]["picks"] == free and obj["spec"]["pickedBy"] == "alice@lab.example"  # the Kubernetes username
        wait_for("round 2", lambda: status(world, "looprounds", "picked-r2").get("phase") == "WaitingForAssays")
        props = sci.get("/api/v1/campaigns/picked/rounds/2").json()["proposals"]
        assert [p["variant"] for p in props[:2]] == free and len(props) == 6
        assert [p["pickedBy"] for p in props] == ["alice@lab.example"] * 2 + [None] * 4
        assert not set(p["variant"] for p in props) & taken
        closed = next(c for c in status(world, "looprounds", "picked-r1")["conditions"] if c["type"] == "Completed")
        assert closed["reason"] == "ClosedByLab"


def test_earlier_and_related_plates_on_a_cluster_keep_their_marks(world):
    start_campaign(world, "marked")
    with as_user(world, "scientist") as sci:
        before = "variant,value\nV39A,1.5\nV39C,2.5\n"
        res = sci.post("/api/v1/campaigns/marked/results?earlier=true",
                       files={"file": ("before.csv", before, "text/csv")})
        assert res.status_code == 200 and res.json()["recorded"], res.text
        res = sci.post("/api/v1/campaigns/marked/results", params={"task": "37 °C"},
                       files={"file": ("warm.csv", before, "text/csv")})
        assert res.status_code == 200 and res.json()["recorded"] and not res.json().get("duplicateOf"), res.text
        specs = {o["metadata"]["name"]: o["spec"] for o in
                 world.admin.list_namespaced_custom_object(GROUP, VERSION, NS, "assayresults")["items"]
                 if o["spec"]["campaign"] == "marked"}
        assert specs["marked-before"]["earlier"] is True and specs["marked-warm"]["task"] == "37 °C"
        wait_for("both accepted", lambda: all(status(world, "assayresults", n).get("phase") == "Accepted"
                                              for n in specs))
        views = {p["name"]: p for p in sci.get("/api/v1/campaigns/marked/plates").json()}
        assert views["marked-before"]["earlier"] and views["marked-warm"]["task"] == "37 °C"
        detail = sci.get("/api/v1/campaigns/marked").json()
        assert detail["measured"] == 2 and detail["bestValue"] == 2.5  # the related plate is not a result


def test_several_objectives_on_a_cluster_reach_the_status_the_front_and_the_next_round(world):
    world.admin.create_namespaced_custom_object(GROUP, VERSION, NS, "campaigns", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Campaign", "metadata": {"name": "two"},
        "spec": {"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]}, "initialBatchSize": 10,
                 "objectives": [{"name": "activity"}, {"name": "expression", "threshold": 0.3}],
                 "acquisition": {"batchSize": 6, "multiObjective": "pareto"}, "rounds": 3,
                 "trigger": {"debounceSeconds": 0}}})
    first = wait_for("round 1", lambda: status(world, "looprounds", "two-r1").get("phase") == "WaitingForAssays"
                     and status(world, "looprounds", "two-r1"))
    variants = first["proposals"]
    lines = ["variant,activity,expression"] + [f"{v},{LAB.fitness(v):.4f},{'' if i == 0 else (i % 5) / 4}"
                                               for i, v in enumerate(variants)]
    with as_user(world, "scientist") as sci:
        res = sci.post("/api/v1/campaigns/two/results", files={"file": ("p1.csv", "\n".join(lines) + "\n", "text/csv")})
        assert res.status_code == 200 and res.json()["recorded"], res.text
        (obj,) = [o for o in world.admin.list_namespaced_custom_object(GROUP, VERSION, NS, "assayresults")["items"]
                  if o["spec"]["campaign"] == "two"]
        values = {m["variant"]: m.get("values", {}).get("expression") for m in obj["spec"]["measurements"]}
        assert values[variants[0]] is None and values[variants[1]] == 0.25  # a well may miss an objective
        wait_for("round 2", lambda: status(world, "looprounds", "two-r2").get("phase") == "WaitingForAssays")
        assert wait_for("hypervolume in status", lambda: status(world, "campaigns", "two").get("hypervolume"))
        front = sci.get("/api/v1/campaigns/two/pareto").json()
        assert front["objectives"] == ["activity", "expression"] and front["complete"] == 9 and front["points"]
        assert sci.get("/api/v1/campaigns/two").json()["hypervolume"] == pytest.approx(front["hypervolume"])
        r2 = sci.get("/api/v1/campaigns/two/rounds/2").json()
        assert len(r2["proposals"]) == 6 and not {p["variant"] for p in r2["proposals"]} & set(variants)
