"""Static checks of the image files (no Docker engine on CI): they parse, every path they copy
exists, the final stage runs as non-root without build tools, and their entry points exist."""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").rglob("Dockerfile*"))


def _parse(path: Path) -> list[dict]:
    with open(path, "rb") as fh:
        return DockerfileParser(fileobj=fh).structure


def _stages(instructions: list[dict]) -> list[list[dict]]:
    stages: list[list[dict]] = []
    for ins in instructions:
        if ins["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def test_there_are_operator_and_worker_images():
    names = {p.relative_to(ROOT / "images").as_posix() for p in DOCKERFILES}
    assert {"operator/Dockerfile", "worker/Dockerfile", "worker/Dockerfile.cuda", "ui/Dockerfile"} <= names


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_dockerfile_is_sound(path):
    instructions = _parse(path)
    stages = _stages(instructions)
    assert len(stages) >= 2, "multi-stage build expected"
    for ins in instructions:
        if ins["instruction"] == "COPY" and "--from" not in ins["value"]:
            *sources, _dest = shlex.split(ins["value"])
            for src in sources:
                assert (ROOT / src).exists(), f"{path.name}: COPY {src} does not exist"
    final = stages[-1]
    users = [i["value"].strip() for i in final if i["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0"), "the final stage must run as a non-root user"
    final_text = " ".join(i["value"] for i in final)
    assert "build==" not in final_text and "gcc" not in final_text, "build tools in the final image"
    assert any(i["instruction"] == "LABEL" for i in final)
    cmd = next(i for i in reversed(final) if i["instruction"] == "CMD")
    argv = json.loads(cmd["value"])
    if argv[:2] == ["python", "-m"]:
        module = argv[2]
    else:
        assert argv[0] == "kopf" and "-m" in argv
        module = argv[argv.index("-m") + 1]
    assert importlib.util.find_spec(module) is not None, f"{path.name}: module {module} not found"


def test_operator_image_has_a_healthcheck_on_kopfs_liveness_endpoint():
    final = _stages(_parse(ROOT / "images" / "operator" / "Dockerfile"))[-1]
    health = [i for i in final if i["instruction"] == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]["value"]
    cmd = json.loads(next(i for i in final if i["instruction"] == "CMD")["value"])
    assert "--liveness=http://0.0.0.0:8080/healthz" in cmd


def test_chart_runs_the_operator_module_the_image_ships():
    text = (ROOT / "helm" / "activeloop" / "templates" / "deployment.yaml").read_text()
    assert "activeloop.controller.handlers" in text and "--liveness=http://0.0.0.0:8080/healthz" in text


def test_the_operator_image_installs_no_torch_and_workers_install_the_models():
    for image, extra in (("operator", "[operator]"), ("ui", "[web]")):
        final = _stages(_parse(ROOT / "images" / image / "Dockerfile"))[-1]
        runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
        assert extra in runs and "torch" not in runs.lower()
    for worker in ("Dockerfile", "Dockerfile.cuda"):
        final = _stages(_parse(ROOT / "images" / "worker" / worker))[-1]
        runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
        assert "[workstation]" in runs and "torch" in runs.lower()
