"""The scientist's command line against a cluster: plate CSV -> AssayResult manifests (GitOps) or
objects (--apply), proposals export, campaign status; and the GitOps examples validate."""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest
import yaml
from typer.testing import CliRunner

from activeloop.api.resources import GROUP, VERSION
from activeloop.cli import app
from activeloop.testing.schemas import validate_resource

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples" / "gitops"
CAMPAIGN_FILE = EXAMPLES / "lab-gb1" / "campaign.yaml"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_gitops_examples_validate_against_the_crds_including_cel():
    docs = [d for f in sorted(EXAMPLES.rglob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    ours = [d for d in docs if d.get("apiVersion", "").startswith(GROUP)]
    assert {d["kind"] for d in ours} == {"Campaign", "AssayResult", "StudentModel"}
    for doc in ours:
        validate_resource(doc)
    # the correction may not be made by editing the original
    original = next(d for d in ours if d["metadata"]["name"] == "gb1-plate-r1")
    edited = {**original, "spec": {**original["spec"], "measurements": original["spec"]["measurements"][:1]}}
    with pytest.raises(ValueError, match="immutable"):
        validate_resource(edited, original)
    kustomization = yaml.safe_load((EXAMPLES / "lab-gb1" / "kustomization.yaml").read_text())
    for res in kustomization["resources"]:
        assert (EXAMPLES / "lab-gb1" / res).is_file()


def test_record_turns_a_plate_into_valid_manifests(tmp_path):
    plate = tmp_path / "plate-r1.csv"
    plate.write_text("variant,value,replicate,status\nFWAA,8.76,,\nV39A,0.06,1,\nV39A,0.07,2,\nVDGV,1.0,,\n"
                     "V39C,,,failed\n")
    res = run("record", str(plate), "--campaign", "gb1", "--campaign-file", str(CAMPAIGN_FILE),
              "--round", "1", "--unit", "enrichment", "-o", "yaml")
    assert res.exit_code == 0, res.output
    (doc,) = list(yaml.safe_load_all(res.stdout))
    validate_resource(doc)
    assert doc["metadata"]["name"] == "gb1-plate-r1" and doc["spec"]["round"] == 1
    assert len(doc["metadata"]["annotations"]["activeloop.dev/content-sha256"]) == 64
    assert doc["spec"]["measurements"] == [
        {"variant": "V39A", "value": 0.06, "replicate": 1},
        {"variant": "V39A", "value": 0.07, "replicate": 2},
        {"variant": "V39C", "failed": True},
        {"variant": "V39F:D40W:G41A:V54A", "value": 8.76},
        {"variant": "WT", "value": 1.0},
    ]


def test_a_repeated_variant_needs_replicate_numbers(tmp_path):
    plate = tmp_path / "dup.csv"
    plate.write_text("variant,value\nV39A,0.06\nA,0.07\n".replace("A,0.07", "ADGV,0.07"))
    res = run("record", str(plate), "--campaign", "gb1", "--campaign-file", str(CAMPAIGN_FILE), "-o", "yaml")
    assert res.exit_code == 2 and "apiVersion" not in res.stdout
    assert "line 3: variant: V39A repeats line 2; number replicates in a 'replicate' column" in res.output


def test_record_splits_large_plates(tmp_path):
    import itertools

    plate = tmp_path / "big.csv"
    combos = ["".join(c) for c in itertools.islice(itertools.product("ACDEFGHIKL", repeat=4), 5000)]
    plate.write_text("variant,value\n" + "\n".join(f"{c},1.0" for c in combos) + "\n")
    res = run("record", str(plate), "--campaign", "gb1", "--campaign-file", str(CAMPAIGN_FILE), "-o", "yaml")
    assert res.exit_code == 0, res.output
    docs = list(yaml.safe_load_all(res.stdout))
    assert [len(d["spec"]["measurements"]) for d in docs] == [4096, 904]
    assert [d["metadata"]["name"] for d in docs] == ["gb1-big-1", "gb1-big-2"]


def test_record_refuses_a_malformed_plate_with_line_numbers(tmp_path):
    plate = tmp_path / "bad.csv"
    plate.write_text("variant,value,replicate\nFWAA,1.0,1\nV39Z,2.0,\nFWAA,abc,2\nV39A,1.0,zero\nFWAA,3.0,1\n")
    res = run("record", str(plate), "--campaign", "gb1", "--campaign-file", str(CAMPAIGN_FILE), "-o", "yaml")
    assert res.exit_code == 2
    assert res.stdout == "" or "apiVersion" not in res.stdout
    out = res.output
    assert "line 3: variant: V39Z: 'Z' is not one of the 20 amino acids" in out
    assert "line 4: value: 'abc' is not a number" in out
    assert "line 5: replicate: 'zero' is not a whole number from 1" in out


def test_record_needs_exactly_one_output(tmp_path):
    plate = tmp_path / "p.csv"
    plate.write_text("variant,value\nFWAA,1\n")
    res = run("record", str(plate), "--campaign", "gb1", "--campaign-file", str(CAMPAIGN_FILE))
    assert res.exit_code == 2 and "exactly one of -o yaml or --apply" in res.output


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    from activeloop.testing.emulator import EmulatedCluster

    with EmulatedCluster(tmp_path) as c:
        monkeypatch.setenv("KUBECONFIG", str(c.kubeconfig))
        api = kubernetes.config.new_client_from_config(str(c.kubeconfig))
        co = kubernetes.client.CustomObjectsApi(api)
        camp = yaml.safe_load(CAMPAIGN_FILE.read_text())
        camp["metadata"]["namespace"] = "lab"
        co.create_namespaced_custom_object(GROUP, VERSION, "lab", "campaigns", camp)
        co.patch_namespaced_custom_object_status(GROUP, VERSION, "lab", "campaigns", "gb1", {"status": {
            "phase": "WaitingForAssays", "currentRound": 1, "measured": 0, "proposalsPending": 2}})
        rnd = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "LoopRound",
               "metadata": {"name": "gb1-r1", "labels": {"activeloop.dev/campaign": "gb1"}},
               "spec": {"campaign": "gb1", "round": 1}}
        co.create_namespaced_custom_object(GROUP, VERSION, "lab", "looprounds", rnd)
        co.patch_namespaced_custom_object_status(GROUP, VERSION, "lab", "looprounds", "gb1-r1", {"status": {
            "phase": "WaitingForAssays", "proposals": ["V39F:D40W", "V39A"],
            "tune": {"state": "Succeeded"}, "acquire": {"state": "Succeeded"}}})
        yield co


def test_proposals_status_and_apply_against_a_cluster(cluster, tmp_path):
    res = run("proposals", "gb1", "--round", "1", "-n", "lab", "-o", "csv")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        "variant,rank,predicted,predicted_low,predicted_high,score,score_sd,picked_by,fitness",
        "V39F:D40W,1,,,,,,,", "V39A,2,,,,,,,"]
    res = run("status", "gb1", "-n", "lab")
    assert res.exit_code == 0, res.output
    assert "WaitingForAssays" in res.output and "2 proposals pending" in res.output
    plate = tmp_path / "r1.csv"
    plate.write_text("variant,value\nV39F:D40W,3.5\nV39A,0.1\n")
    res = run("record", str(plate), "--campaign", "gb1", "--round", "1", "-n", "lab", "--apply")
    assert res.exit_code == 0, res.output
    obj = cluster.get_namespaced_custom_object(GROUP, VERSION, "lab", "assayresults", "gb1-r1")
    assert {"variant": "V39F:D40W", "value": 3.5} in obj["spec"]["measurements"]
    # the same plate again creates nothing; other results under the same name are refused
    res = run("record", str(plate), "--campaign", "gb1", "--round", "1", "-n", "lab", "--apply")
    assert res.exit_code == 0 and "recorded before (as gb1-r1); nothing recorded" in res.output
    # other results from a file of the same name are another plate; a name given twice is refused
    plate.write_text("variant,value\nV39F:D40W,3.6\nV39A,0.1\n")
    res = run("record", str(plate), "--campaign", "gb1", "--round", "1", "-n", "lab", "--apply")
    assert res.exit_code == 0 and "as gb1-r1-2" in res.output
    plate.write_text("variant,value\nV39F:D40W,3.7\nV39A,0.1\n")
    res = run("record", str(plate), "--campaign", "gb1", "-n", "lab", "--apply", "--name", "gb1-r1")
    assert res.exit_code == 2 and "a plate named gb1-r1 was recorded with other results" in res.output
    res = run("proposals", "gb1", "--round", "2", "-n", "lab")
    assert res.exit_code == 2 and "not found" in res.output


def test_close_round_on_a_cluster_refuses_a_round_that_is_not_waiting_for_results(cluster):
    """Closing a round still being prepared would complete it when its proposals land and lose that
    batch: the command line refuses, as the web interface does, and changes nothing."""
    rnd = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "LoopRound",
           "metadata": {"name": "gb1-r2", "labels": {"activeloop.dev/campaign": "gb1"}},
           "spec": {"campaign": "gb1", "round": 2}}
    cluster.create_namespaced_custom_object(GROUP, VERSION, "lab", "looprounds", rnd)
    cluster.patch_namespaced_custom_object_status(GROUP, VERSION, "lab", "looprounds", "gb1-r2",
                                                  {"status": {"phase": "Tuning"}})
    res = run("close-round", "gb1", "--round", "2", "-n", "lab")
    assert res.exit_code == 2
    assert "round 2 is Tuning: only a round waiting for assay results can be closed" in res.output
    assert not (cluster.get_namespaced_custom_object(GROUP, VERSION, "lab", "looprounds", "gb1-r2")
                .get("spec") or {}).get("close")
    res = run("close-round", "gb1", "--round", "1", "-n", "lab")
    assert res.exit_code == 0, res.output
    assert cluster.get_namespaced_custom_object(GROUP, VERSION, "lab", "looprounds", "gb1-r1")["spec"]["close"]
