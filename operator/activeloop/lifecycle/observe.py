"""What both runners read from a campaign's store to observe it: a step's output, a round's pinned
inputs, the measurements' summary. The operator keeps what it read in memory between passes; the
workstation reads it on each command. No decisions here (see ``machine``)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import pandas as pd

from activeloop.api.campaign import ObjectiveSpec
from activeloop.api.names import Step
from activeloop.api.resources import RoundInputsStatus
from activeloop.lifecycle.machine import DataSummary, StepOutput
from activeloop.steps.objectives import pareto_front
from activeloop.steps.snapshot import read_inputs
from activeloop.store import keys
from activeloop.store.base import ArtifactStore


def step_output(store: ArtifactStore, round_number: int, step: str) -> StepOutput | None:
    """What a round's step wrote (its record, and for acquire the proposals), or ``None`` if it
    has not written it (yet); the score step's output is every shard's record."""
    if step == Step.SCORE:
        return shards_output(store, round_number)
    record_key = keys.step_record(round_number, step)
    if not store.exists(record_key):
        return None
    record = json.loads(store.get_bytes(record_key))
    proposals: tuple[str, ...] = ()
    if step == Step.ACQUIRE:
        if not store.exists(keys.proposals(round_number)):
            return None
        props = pd.read_csv(io.BytesIO(store.get_bytes(keys.proposals(round_number))), dtype={"variant": str},
                            keep_default_na=False)
        proposals = tuple(props["variant"])
    return StepOutput(store.uri(record_key), record, proposals)


def shards_output(store: ArtifactStore, round_number: int) -> StepOutput | None:
    """A sharded round's score output: every shard's record summed up (``None`` while one is missing)."""
    tune_key = keys.step_record(round_number, Step.TUNE)
    if not store.exists(tune_key):
        return None
    shards = int(json.loads(store.get_bytes(tune_key)).get("shards") or 1)
    shard_keys = [keys.shard(round_number, i) for i in range(shards)]
    if not all(store.exists(k) for k in shard_keys):
        return None
    records = [json.loads(store.get_bytes(k)) for k in shard_keys]
    summary = {"shards": shards, "ranked": sum(int(r["ranked"]) for r in records),
               "cost": {"wall_seconds": max(float(r["seconds"]) for r in records),
                        "cpu_seconds": sum(float(r["seconds"]) for r in records)}}
    return StepOutput(store.uri(keys.shards_prefix(round_number)), summary)


def inputs_status(store: ArtifactStore, round_number: int) -> RoundInputsStatus | None:
    """A round's pinned inputs as its status shows them, or ``None`` if the round has none yet."""
    pinned = read_inputs(store, round_number)
    if pinned is None:
        return None
    return RoundInputsStatus(spec_sha256=pinned.spec_sha256, measurements_sha256=pinned.measurements_sha256,
                             assays=len(pinned.assays), measured=pinned.measured, failed=pinned.failed,
                             taken_at=pinned.taken_at, owner=pinned.owner)


def data_summary(data: pd.DataFrame, objectives: Sequence[ObjectiveSpec]) -> DataSummary:
    """Counts, the best variant (of the first objective) and, with several objectives, the
    hypervolume of a measurements table (``steps.ingest.measurements``)."""
    valued = data[~data["failed"]]
    first = valued[valued["value"].notna()]
    best = None
    if len(first):
        best = first.loc[first["value"].idxmax() if objectives[0].direction == "maximize" else first["value"].idxmin()]
    volume = pareto_front(data, list(objectives)).hypervolume if len(objectives) > 1 else None
    return DataSummary(measured=int(len(valued)), failed=int(data["failed"].sum()),
                       best_variant=None if best is None else str(best["variant"]),
                       best_value=None if best is None else float(best["value"]), hypervolume=volume)


__all__ = ["data_summary", "inputs_status", "shards_output", "step_output"]
