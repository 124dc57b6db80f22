"""Generate CustomResourceDefinitions from the pydantic models.

``python -m activeloop.api.crds crds/`` (or ``activeloop crds --out crds/``) writes one YAML per
resource. The OpenAPI v3 schemas are *structural* (every ``$ref`` inlined, ``null`` unions turned
into ``nullable``, titles dropped) and keep each field's description, so ``kubectl explain`` helps.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from activeloop.api.resources import (
    GROUP,
    VERSION,
    AssayResultSpec,
    AssayResultStatus,
    CampaignResourceSpec,
    CampaignStatus,
    LoopRoundSpec,
    LoopRoundStatus,
    StudentModelSpec,
    StudentModelStatus,
)


@dataclass(frozen=True)
class ResourceDef:
    """What a CRD is made of."""

    kind: str
    plural: str
    short_names: list[str]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: list[dict[str, str]] = field(default_factory=list)
    spec_rules: list[dict[str, str]] = field(default_factory=list)
    extra_rules: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    """CEL rules of nested spec fields, by dotted path (``library``, ``measurements.items``)."""

    @property
    def singular(self) -> str:
        """The singular name (``campaign``)."""
        return self.kind.lower()

    @property
    def name(self) -> str:
        """The CRD's name (``campaigns.activeloop.dev``)."""
        return f"{self.plural}.{GROUP}"


def _col(name: str, path: str, typ: str = "string", priority: int = 0) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": typ, "jsonPath": path}
    if priority:
        col["priority"] = priority
    return col


AGE = _col("Age", ".metadata.creationTimestamp", "date")

RESOURCES: list[ResourceDef] = [
    ResourceDef(
        kind="Campaign",
        plural="campaigns",
        short_names=["camp"],
        spec=CampaignResourceSpec,
        status=CampaignStatus,
        description="An active-learning campaign: parent sequence, candidate library, models, rounds.",
        columns=[
            _col("Phase", ".status.phase"),
            _col("Round", ".status.currentRound", "integer"),
            _col("Measured", ".status.measured", "integer"),
            _col("Best", ".status.bestValue", "number"),
            _col("Best-Variant", ".status.bestVariant", priority=1),
            _col("Pending", ".status.proposalsPending", "integer"),
            AGE,
        ],
        extra_rules={
            "library": [
                {
                    "rule": "(has(self.sites) && size(self.sites) > 0) != has(self.variantsUri)",
                    "message": "give exactly one of library.sites or library.variantsUri",
                }
            ]
        },
    ),
    ResourceDef(
        kind="LoopRound",
        plural="looprounds",
        short_names=["lr", "round"],
        spec=LoopRoundSpec,
        status=LoopRoundStatus,
        description="One round of a campaign: tune, acquire, proposals, then wait for assays.",
        columns=[
            _col("Campaign", ".spec.campaign"),
            _col("Round", ".spec.round", "integer"),
            _col("Phase", ".status.phase"),
            _col("Measured", ".status.measured", "integer"),
            AGE,
        ],
        spec_rules=[
            {"rule": "self.campaign == oldSelf.campaign && self.round == oldSelf.round",
             "message": "a LoopRound's campaign and round are immutable"},
            {"rule": "!has(oldSelf.close) || !oldSelf.close || (has(self.close) && self.close)",
             "message": "a closed round cannot be reopened"},
            {"rule": "!has(oldSelf.retry) || (has(self.retry) && self.retry >= oldSelf.retry)",
             "message": "retry only goes up"},
            {"rule": "(has(self.picks) ? self.picks : []) == (has(oldSelf.picks) ? oldSelf.picks : [])",
             "message": "a round's picks are fixed when it is created"},
        ],
    ),
    ResourceDef(
        kind="AssayResult",
        plural="assayresults",
        short_names=["assay", "ar"],
        spec=AssayResultSpec,
        status=AssayResultStatus,
        description="Measured values of a plate or batch of variants; immutable once accepted.",
        columns=[
            _col("Campaign", ".spec.campaign"),
            _col("Round", ".spec.round", "integer"),
            _col("Phase", ".status.phase"),
            _col("Accepted", ".status.accepted", "integer"),
            AGE,
        ],
        spec_rules=[
            {
                "rule": "self.measurements == oldSelf.measurements && self.campaign == oldSelf.campaign",
                "message": "recorded measurements are immutable: create a new AssayResult "
                "with spec.supersedes naming this one",
            },
        ],
        extra_rules={
            "measurements.items": [
                {
                    "rule": "has(self.value) != (has(self.failed) && self.failed)",
                    "message": "each measurement has a value, or failed: true for a well that gave none",
                }
            ]
        },
    ),
    ResourceDef(
        kind="StudentModel",
        plural="studentmodels",
        short_names=["student"],
        spec=StudentModelSpec,
        status=StudentModelStatus,
        description="A compact student distilled from a round's model, with its quality figures.",
        columns=[
            _col("Campaign", ".spec.campaign"),
            _col("Round", ".spec.round", "integer"),
            _col("Phase", ".status.phase"),
            _col("Spearman", ".status.spearmanTeacher", "number"),
            _col("Params", ".status.parameters", "integer", priority=1),
            AGE,
        ],
    ),
]


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """JSON Schema (pydantic) -> Kubernetes structural OpenAPI v3 schema."""
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        ref = defs[node.pop("$ref").rsplit("/", 1)[1]]
        merged = {**copy.deepcopy(ref), **node}
        return _structural(merged, defs)
    for key in ("anyOf", "oneOf"):
        if key in node:
            raw_options = node.pop(key)
            options = [o for o in raw_options if o.get("type") != "null"]
            nullable = len(options) < len(raw_options)
            if len(options) != 1:
                raise ValueError(f"unsupported union in schema: {options}")
            inner = _structural(options[0], defs)
            node = {**inner, **{k: v for k, v in node.items() if k != key}}
            if nullable:
                node["nullable"] = True
    node.pop("title", None)
    if node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if bound in node and not isinstance(node[bound], bool):
            node[base] = node.pop(bound)
            node[bound] = True
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    out = {}
    for k, v in node.items():
        if k == "properties":
            out[k] = {name: _structural(sub, defs) for name, sub in v.items()}
        elif k in ("items", "additionalProperties") and isinstance(v, dict):
            out[k] = _structural(v, defs)
        elif k == "default" and v is None:
            continue
        else:
            out[k] = v
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Structural schema of a pydantic model (camelCase field names)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(raw, defs)


def crd(res: ResourceDef) -> dict[str, Any]:
    """The CustomResourceDefinition of one resource."""
    spec_schema = openapi_schema(res.spec)
    status_schema = openapi_schema(res.status)
    if res.spec_rules:
        spec_schema["x-kubernetes-validations"] = res.spec_rules
    for path, rules in res.extra_rules.items():
        node = spec_schema
        for part in path.split("."):
            node = node[part] if part == "items" else node["properties"][part]
        node["x-kubernetes-validations"] = rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": res.name, "labels": {"app.kubernetes.io/part-of": "activeloop"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": res.kind,
                "listKind": f"{res.kind}List",
                "plural": res.plural,
                "singular": res.singular,
                "shortNames": res.short_names,
                "categories": ["activeloop"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": res.columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": res.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


HEADER = "# Generated from operator/activeloop/api by `activeloop crds`: do not edit by hand.\n"


def render(res: ResourceDef) -> str:
    """YAML text of a resource's CRD (deterministic)."""
    return HEADER + yaml.safe_dump(crd(res), sort_keys=False, width=100)


def write_all(out_dir: str | Path) -> list[Path]:
    """Write every CRD into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for res in RESOURCES:
        path = out / f"{res.name}.yaml"
        path.write_text(render(res))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all(sys.argv[1] if len(sys.argv) > 1 else "crds"):
        print(p)
