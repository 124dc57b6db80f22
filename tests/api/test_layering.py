"""The schema layer is a leaf: specs are checked without ML libraries, and the control plane
(operator) installs and imports without torch."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from typing import get_args

from packaging.requirements import Requirement

from activeloop.api import names

HEAVY = ("torch", "botorch", "gpytorch", "transformers", "peft", "sklearn", "scipy", "matplotlib")


def _import_with_heavy_blocked(modules: list[str]) -> subprocess.CompletedProcess:
    code = (
        "import sys\n"
        f"for m in {HEAVY!r}: sys.modules[m] = None  # any import of them raises ImportError\n"
        + "".join(f"import {m}\n" for m in modules)
        + "from activeloop.api.campaign import CampaignSpec\n"
        "CampaignSpec.model_validate({'parentSequence': 'MKV', 'library': {'sites': [2]}, 'initialBatchSize': 4,"
        " 'surrogate': {'kind': 'gp'}, 'acquisition': {'strategy': 'ucb', 'batchSize': 4}})\n"
        "print('ok')\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_api_and_the_operator_import_without_ml_libraries():
    res = _import_with_heavy_blocked(["activeloop.api", "activeloop.api.crds", "activeloop.controller.handlers",
                                      "activeloop.steps.ingest", "activeloop.steps.snapshot", "activeloop.service.cluster",
                                      "activeloop.service.rundir", "activeloop.web.app", "activeloop.cli"])
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_the_ml_registries_implement_exactly_the_names_the_api_accepts():
    from activeloop.ml.acquisition import STRATEGIES
    from activeloop.ml.encodings import ENCODINGS
    from activeloop.ml.lora import LOSSES
    from activeloop.ml.surrogates import SURROGATES

    assert set(SURROGATES) == set(get_args(names.SurrogateKind))
    assert set(STRATEGIES) == set(get_args(names.Strategy))
    assert set(LOSSES) == set(get_args(names.TuningLoss))
    assert set(ENCODINGS) == set(names.FIXED_ENCODINGS)
    assert set(names.ENCODINGS) == set(names.FIXED_ENCODINGS) | {names.LANGUAGE_MODEL_ENCODING}


def _closure(requirements: list[Requirement], extras: set[str]) -> set[str]:
    """Names of the distributions these requirements pull in (as installed here)."""
    seen: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        req, active = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (active or {""})):
            continue
        name = req.name.lower().replace("_", "-")
        if name in seen or name == "activeloop":
            if name == "activeloop":  # a self-reference: activeloop[s3] inside activeloop[operator]
                todo += [(r, set(req.extras)) for r in map(Requirement, metadata.requires("activeloop") or [])]
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [(Requirement(r), set(req.extras)) for r in reqs]
    return seen


def test_installing_the_operator_extra_brings_no_torch():
    own = [Requirement(r) for r in metadata.requires("activeloop") or []]
    operator = _closure(own, {"operator"})
    assert {"kopf", "kubernetes", "minio", "prometheus-client", "pydantic", "pandas"} <= operator
    assert not operator & {"torch", "botorch", "gpytorch", "transformers", "peft", "scipy", "scikit-learn"}
    assert "torch" in _closure(own, {"workstation"})
