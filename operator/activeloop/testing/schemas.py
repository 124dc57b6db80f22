"""Validate custom resources against their generated CRDs offline: the OpenAPI schema (with
``jsonschema``) and the CEL rules (with ``cel-python``), as the API server would."""

from __future__ import annotations

from typing import Any

import jsonschema

from activeloop.api.crds import RESOURCES, crd


def openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI v3.0 (``nullable``, boolean exclusive bounds) -> JSON Schema; CEL rules dropped."""
    if isinstance(node, dict):
        out = {k: openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        for bound, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if out.get(bound) is True:
                out[bound] = out.pop(base)
        return out
    if isinstance(node, list):
        return [openapi_to_jsonschema(v) for v in node]
    return node


def crd_schema(kind: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of a kind's CRD."""
    res = next(r for r in RESOURCES if r.kind == kind)
    return crd(res)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _rules(schema: dict[str, Any], value: Any, old: Any, path: str) -> list[tuple[str, dict, Any, Any]]:
    found = []
    for rule in schema.get("x-kubernetes-validations", []):
        found.append((path, rule, value, old))
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(value, dict) and name in value:
            old_sub = old.get(name) if isinstance(old, dict) else None
            found += _rules(sub, value[name], old_sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict) and isinstance(value, list):
        for i, item in enumerate(value):  # no transition rules on list items (no oldSelf by index)
            found += _rules(schema["items"], item, None, f"{path}[{i}]")
    return found


def validate_resource(doc: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Raise ``ValueError`` naming the field if ``doc`` (an update of ``old``) would be refused."""
    import celpy

    schema = crd_schema(doc["kind"])
    try:
        jsonschema.validate(doc, openapi_to_jsonschema(schema))
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise ValueError(f"{where}: {exc.message}") from None
    env = celpy.Environment()
    for path, rule, value, old_value in _rules(schema, doc, old, ""):
        transition = "oldSelf" in rule["rule"]
        if transition and old_value is None:
            continue  # transition rules apply to updates only
        act = {"self": celpy.json_to_cel(value)}
        if transition:
            act["oldSelf"] = celpy.json_to_cel(old_value)
        if not bool(env.program(env.compile(rule["rule"])).evaluate(act)):
            raise ValueError(f"{path.lstrip('.')}: {rule['message']}")
