"""The score step: one shard of a sharded round ranks its slice of the library.

``python -m activeloop.steps score --round N --shard I`` (on a cluster, one pod of an Indexed Job:
the shard is ``JOB_COMPLETION_INDEX``). The shard reads the round's pinned inputs and the surrogate
the tune step fitted, ranks the free rows of its slice (``ml.shards``) a chunk at a time, and writes
its top list to ``rounds/round-NNN/shards/shard-IIII.json``, keyed by its index: a retried shard
returns what it wrote, and shards never depend on one another. The acquire step merges them.
"""

from __future__ import annotations

import json
import os
import resource
import time

from activeloop.errors import ConfigError
from activeloop.ml.acquisition import get_strategy
from activeloop.ml.determinism import single_threaded
from activeloop.ml.shards import free_rows, shard_range, shard_top
from activeloop.steps.acquire import load_round_surrogate, round_candidates, round_context
from activeloop.steps.data import write_record
from activeloop.store import keys
from activeloop.store.base import ArtifactStore

INDEX_ENV = "JOB_COMPLETION_INDEX"
"""Set by Kubernetes in every pod of an Indexed Job."""


def shard_index(shard: int | None) -> int:
    """``shard`` if given, else the Indexed Job's ``JOB_COMPLETION_INDEX``."""
    if shard is not None:
        return shard
    value = os.environ.get(INDEX_ENV)
    if value is None or not value.isdigit():
        raise ConfigError("shard", f"give --shard or run in an Indexed Job ({INDEX_ENV} is {value!r})")
    return int(value)


def score(store: ArtifactStore, round_number: int, shard: int | None = None) -> dict:
    """Rank shard ``shard``'s slice of round ``round_number``'s library; returns its record."""
    index = shard_index(shard)
    key = keys.shard(round_number, index)
    if store.exists(key):
        return json.loads(store.get_bytes(key))
    start_time = time.perf_counter()
    ctx = round_context(store, round_number)
    spec = ctx.spec
    n = spec.acquisition.shards
    if not ctx.sharded:
        raise ConfigError("acquisition.shards", f"round {round_number} is not sharded (shards: {n})")
    if not 0 <= index < n:
        raise ConfigError("shard", f"{index} is not one of the round's shards 0..{n - 1}")
    model = load_round_surrogate(store, round_number)
    cands = round_candidates(store, ctx, round_number)
    start, end = shard_range(len(ctx.library), n, index)
    rows = free_rows(start, end, ctx.unavailable)
    strategy = get_strategy(spec.acquisition.strategy)
    q = max(1, min(ctx.model_batch, ctx.available))  # the merge's q (the batch less the picks)
    with single_threaded():
        top = shard_top(strategy, model, cands, rows, q, ctx.available, float(ctx.targets.max()))
    record = {
        "round": round_number, "shard": index, "shards": n, "start": start, "end": end,
        "ranked": top.ranked, "rows": top.rows.tolist(), "scores": top.scores.tolist(),
        "spec_sha256": ctx.inputs.spec_sha256, "measurements_sha256": ctx.inputs.measurements_sha256,
        "seconds": time.perf_counter() - start_time,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return write_record(store, key, record)


__all__ = ["INDEX_ENV", "score", "shard_index"]
