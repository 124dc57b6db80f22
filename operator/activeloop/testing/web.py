"""Helpers for tests and benchmarks of the web interface: a workstation campaign, plates for it,
and an app over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activeloop.landscapes import GB1_PARENT
from activeloop.testing.oracle import SyntheticLab

TOKEN = "s3cret-test-token"
LAB = SyntheticLab(GB1_PARENT, (39, 40, 41))
SPEC: dict[str, Any] = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKW"},
    "acquisition": {"strategy": "thompson", "batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 2,
}


def make_campaign(folder: Path, name: str, spec: dict[str, Any] | None = None) -> Path:
    """A workstation campaign ``folder/runs/name`` (no round yet)."""
    from activeloop.local.rundir import create
    from activeloop.service.rundir import parse_spec

    create(folder / "runs" / name, parse_spec(spec or SPEC))
    return folder / "runs" / name


def plate_csv(variants: list[str], bad: dict[int, str] | None = None, lab: SyntheticLab = LAB) -> str:
    """A plate of the lab's answers for ``variants``; ``bad`` replaces some lines (0-based)."""
    lines = ["variant,value"]
    for i, v in enumerate(variants):
        lines.append(bad[i] if bad and i in bad else f"{v},{lab.fitness(v):.6f}")
    return "\n".join(lines) + "\n"


def start_round(client: Any, name: str = "gb1") -> dict[str, Any]:
    """Start the next round through the API and wait for it (the backend runs it in a thread)."""
    res = client.post(f"/api/v1/campaigns/{name}/rounds:next")
    if res.status_code != 200:
        raise AssertionError(res.text)
    client.app.state.service.wait(name)
    return res.json()


__all__ = ["LAB", "SPEC", "TOKEN", "make_campaign", "plate_csv", "start_round"]
