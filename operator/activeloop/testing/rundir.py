"""Checks of a run directory's consistency (tests of concurrent writers and killed commands)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from activeloop.api.names import Step
from activeloop.local.rundir import RunDirectory
from activeloop.steps import ingest
from activeloop.store import keys


def problems(run_dir: str | Path) -> list[str]:
    """What is inconsistent in a run directory (empty when it is consistent).

    * every committed plate (its metadata) has its rows, with the content hash it records;
    * no content is recorded twice as live plates (a re-sent plate records nothing);
    * the measurements on disk, where written, are those derived from the plates, or will be
      rewritten by the next command (they are a copy);
    * a round's proposals and its acquire record come together, and match their hash;
    * the statuses decided from the files are valid (the deciders accept what is there).
    """
    run = RunDirectory(run_dir)
    out: list[str] = []
    assays = run.assays()
    for a in assays:
        path = run.path / keys.assay_rows(a.name)
        if not path.is_file():
            out.append(f"plate {a.name} is committed but has no rows")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != a.sha256:
            out.append(f"plate {a.name}'s rows do not match its hash")
    gone = ingest.superseded_names(assays)
    live = [a.sha256 for a in assays if a.name not in gone]
    if len(live) != len(set(live)):
        out.append("the same results are recorded twice")
    for n in run.rounds():
        record = run.path / keys.step_record(n, Step.ACQUIRE)
        props = run.path / keys.proposals(n)
        if record.is_file():
            rec = json.loads(record.read_text())
            if not props.is_file() or hashlib.sha256(props.read_bytes()).hexdigest() != rec["proposals_sha256"]:
                out.append(f"round {n}'s proposals do not match its acquire record")
    try:
        run.state()
    except Exception as exc:  # any error reading the state is an inconsistency
        out.append(f"the state cannot be decided: {type(exc).__name__}: {exc}")
    return out


def content(run_dir: str | Path) -> dict:
    """What a run directory holds, without times: plates (name, rows), measurements, proposals."""
    run = RunDirectory(run_dir)
    plates = {a.name: (a.sha256, a.supersedes) for a in run.assays()}
    data = run.measurements().sort_values("variant").reset_index(drop=True)
    proposals = {n: pd.read_csv(run.path / keys.proposals(n)).to_csv(index=False)
                 for n in run.rounds() if (run.path / keys.proposals(n)).is_file()}
    return {"plates": plates, "measurements": data[["variant", "value", "failed", "n"]].to_csv(index=False),
            "proposals": proposals}




# --------------------------------------------------------------- run in other processes (tests)

_LABS: dict[str, Any] = {}
"""A worker process's campaigns, kept between calls as a long-lived server keeps them."""


def record_plate(run_dir: str, filename: str, text: str, barrier: object | None = None,
                 idempotency_key: str | None = None, name: str | None = None) -> dict:
    """Record a plate file (``filename`` holding ``text``) into ``run_dir`` as ``activeloop record``
    does, after ``barrier`` (a ``multiprocessing`` barrier: writers start together). Returns what
    was recorded, or ``{"error": class, "message": ...}``."""
    import tempfile

    from activeloop.errors import ActiveLoopError
    from activeloop.testing.workstation import Lab

    folder = Path(tempfile.mkdtemp(prefix="plate-"))
    path = folder / filename
    path.write_text(text)
    lab = _LABS.get(run_dir) or _LABS.setdefault(run_dir, Lab(run_dir))
    if barrier is not None:
        barrier.wait()  # type: ignore[attr-defined]
    try:
        return lab.record(path, idempotency_key=idempotency_key, name=name).dump()
    except ActiveLoopError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def propose(run_dir: str, force: bool = False, barrier: object | None = None) -> dict:
    """``activeloop propose`` in ``run_dir`` (after ``barrier``); the round and whether it is new."""
    from activeloop.errors import ActiveLoopError
    from activeloop.testing.workstation import Lab

    lab = Lab(run_dir)
    if barrier is not None:
        barrier.wait()  # type: ignore[attr-defined]
    try:
        p = lab.propose(force=force)
    except ActiveLoopError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"round": p.round, "new": p.new}


def preload() -> None:
    """What a forkserver's children need imported once (so a fork starts in milliseconds)."""
    import activeloop.ml.acquisition
    import activeloop.ml.surrogates
    import activeloop.steps.acquire
    import activeloop.steps.tune
    import activeloop.testing.workstation  # noqa: F401




def at_failpoint(point: str, action: str, run_dir: str, *args: Any) -> None:
    """Run ``action`` (``record`` or ``propose``) with the failpoint ``point`` set (the process
    ends there, as ``kill -9`` would end it)."""
    import os

    from activeloop.local import failpoints

    os.environ[failpoints.ENV] = point
    if action == "record":
        record_plate(run_dir, *args)
    else:
        propose(run_dir, *args)


__all__ = ["at_failpoint", "content", "preload", "problems", "propose", "record_plate"]
