"""The committed CRDs are generated from the pydantic models, and their schemas accept what the
models accept (and refuse what they refuse)."""

from pathlib import Path

import jsonschema
import pytest
import yaml

from activeloop.api.crds import RESOURCES, crd, render
from activeloop.landscapes import GB1_PARENT

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
    schema = dict(_schema(kind))
    jsonschema.validate({"spec": spec}, _to_jsonschema(schema))


def _to_jsonschema(node):
    """OpenAPI v3.0 ``nullable`` -> JSON Schema, enough for jsonschema to check examples."""
    if isinstance(node, dict):
        out = {k: _to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        for bound, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if out.get(bound) is True:
                out[bound] = out.pop(base)
        return out
    if isinstance(node, list):
        return [_to_jsonschema(v) for v in node]
    return node


def test_example_resources_validate_and_bad_ones_do_not():
    _validate("Campaign", {"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]},
                           "acquisition": {"batchSize": 96}, "jobs": {"gpu": 1}})
    _validate("AssayResult", {"campaign": "gb1", "round": 1,
                              "measurements": [{"variant": "V39A", "value": 1.5, "replicate": 1}]})
    with pytest.raises(jsonschema.ValidationError):
        _validate("AssayResult", {"campaign": "gb1", "measurements": []})
    with pytest.raises(jsonschema.ValidationError):
        _validate("Campaign", {"parentSequence": GB1_PARENT, "library": {"sites": [39]},
                               "acquisition": {"batchSize": 0}})


def test_assay_results_carry_an_immutability_rule():
    rules = _schema("AssayResult")["properties"]["spec"]["x-kubernetes-validations"]
    assert any("oldSelf.measurements" in r["rule"] for r in rules)
    lib_rules = _schema("Campaign")["properties"]["spec"]["properties"]["library"]["x-kubernetes-validations"]
    assert "variantsUri" in lib_rules[0]["rule"]
