"""The committed CRDs are generated from the pydantic models, and their schemas accept what the
models accept (and refuse what they refuse)."""

from pathlib import Path

import pytest

from activeloop.api.crds import RESOURCES, crd, render
from activeloop.api.resources import CampaignResourceSpec
from activeloop.landscapes import GB1_PARENT
from activeloop.testing.schemas import validate_resource

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.kind)
def test_committed_crds_match_the_models(res):
    path = ROOT / "crds" / f"{res.name}.yaml"
    assert path.read_text() == render(res), f"{path} drifted: run `python -m activeloop.api.crds crds`"


def _schema(kind):
    res = next(r for r in RESOURCES if r.kind == kind)
    return crd(res)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _is_structural(node, path="schema"):
    if isinstance(node, dict):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        if "properties" in node or "items" in node:
            assert node.get("type") in ("object", "array"), path
        for k, v in node.items():
            _is_structural(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _is_structural(v, f"{path}[{i}]")


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.kind)
def test_schemas_are_structural_with_status_subresource_and_columns(res):
    c = crd(res)
    version = c["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert any(col["jsonPath"] == ".metadata.creationTimestamp" for col in version["additionalPrinterColumns"])
    assert c["spec"]["names"]["shortNames"]
    _is_structural(version["schema"]["openAPIV3Schema"])
    assert version["schema"]["openAPIV3Schema"]["properties"]["spec"]["description"]


def _validate(kind, spec):
    validate_resource({"apiVersion": "activeloop.dev/v1alpha1", "kind": kind, "metadata": {"name": "x"},
                       "spec": spec})


def test_example_resources_validate_and_bad_ones_do_not():
    _validate("Campaign", {"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]},
                           "acquisition": {"batchSize": 96}, "jobs": {"gpu": 1}})
    _validate("AssayResult", {"campaign": "gb1", "round": 1,
                              "measurements": [{"variant": "V39A", "value": 1.5, "replicate": 1}]})
    with pytest.raises(ValueError, match="spec.measurements: .* should be non-empty"):
        _validate("AssayResult", {"campaign": "gb1", "measurements": []})
    with pytest.raises(ValueError, match="spec.acquisition.batchSize"):
        _validate("Campaign", {"parentSequence": GB1_PARENT, "library": {"sites": [39]},
                               "acquisition": {"batchSize": 0}})
    with pytest.raises(ValueError, match="spec.library: give exactly one of library.sites or library.variantsUri"):
        _validate("Campaign", {"parentSequence": GB1_PARENT, "library": {"sites": [39], "variantsUri": "s3://x"}})


def test_cel_rule_refuses_edits_of_recorded_measurements():
    old = {"apiVersion": "activeloop.dev/v1alpha1", "kind": "AssayResult", "metadata": {"name": "p"},
           "spec": {"campaign": "gb1", "measurements": [{"variant": "V39A", "value": 1.0}]}}
    validate_resource(old, old)  # unchanged: fine
    status_only = dict(old, status={"phase": "Accepted"})
    validate_resource(status_only, old)
    edited = {**old, "spec": {**old["spec"], "measurements": [{"variant": "V39A", "value": 9.0}]}}
    with pytest.raises(ValueError, match="spec: recorded measurements are immutable"):
        validate_resource(edited, old)


def test_assay_results_carry_an_immutability_rule():
    rules = _schema("AssayResult")["properties"]["spec"]["x-kubernetes-validations"]
    assert any("oldSelf.measurements" in r["rule"] for r in rules)
    lib_rules = _schema("Campaign")["properties"]["spec"]["properties"]["library"]["x-kubernetes-validations"]
    assert "variantsUri" in lib_rules[0]["rule"]


def test_a_measurement_has_a_value_or_is_a_failed_well():
    _validate("AssayResult", {"campaign": "gb1", "measurements": [{"variant": "V39A", "failed": True},
                                                                  {"variant": "V39C", "value": 0.5}]})
    for bad in ({"variant": "V39A"}, {"variant": "V39A", "value": 1.0, "failed": True}):
        with pytest.raises(ValueError, match=r"spec.measurements\[0\]: each measurement has a value, or failed"):
            _validate("AssayResult", {"campaign": "gb1", "measurements": [bad]})


def test_a_round_may_be_closed_but_not_reopened_nor_moved():
    old = {"apiVersion": "activeloop.dev/v1alpha1", "kind": "LoopRound", "metadata": {"name": "gb1-r2"},
           "spec": {"campaign": "gb1", "round": 2}}
    closed = {**old, "spec": {**old["spec"], "close": True}}
    validate_resource(closed, old)
    with pytest.raises(ValueError, match="a closed round cannot be reopened"):
        validate_resource({**old, "spec": {**old["spec"], "close": False}}, closed)
    with pytest.raises(ValueError, match="campaign and round are immutable"):
        validate_resource({**old, "spec": {"campaign": "gb1", "round": 3}}, old)


def test_a_rounds_picks_are_fixed_once_it_exists():
    old = {"apiVersion": "activeloop.dev/v1alpha1", "kind": "LoopRound", "metadata": {"name": "gb1-r2"},
           "spec": {"campaign": "gb1", "round": 2, "picks": ["V39W"], "pickedBy": "ana"}}
    validate_resource({**old, "spec": {**old["spec"], "close": True}}, old)  # closing keeps them
    with pytest.raises(ValueError, match="a round's picks are fixed when it is created"):
        validate_resource({**old, "spec": {**old["spec"], "picks": ["V39W", "V39A"]}}, old)
    bare = {**old, "spec": {"campaign": "gb1", "round": 2}}
    with pytest.raises(ValueError, match="a round's picks are fixed when it is created"):
        validate_resource(old, bare)


def test_sites_may_be_positions_or_positions_with_residues_and_constraints_are_named():
    spec = {"parentSequence": GB1_PARENT, "initialBatchSize": 8, "acquisition": {"batchSize": 8},
            "library": {"sites": [39, {"position": 40, "residues": "AVILMFWY"}, 41], "maxSubstitutions": 2,
                        "forbidden": ["C", "N[^P][ST]"]}}
    _validate("Campaign", spec)
    with pytest.raises(ValueError, match="spec.library.maxSubstitutions"):
        _validate("Campaign", {**spec, "library": {**spec["library"], "maxSubstitutions": 0}})
    # a motif's grammar is the operator's to check (the Campaign is marked InvalidSpec, naming it)
    bad = {**spec, "library": {**spec["library"], "forbidden": ["N[^P"]}}
    _validate("Campaign", bad)
    with pytest.raises(ValueError, match="(?s)library.forbidden.*item 1: 'N\\[\\^P': the '\\[' at column 2"):
        CampaignResourceSpec.model_validate(bad)
