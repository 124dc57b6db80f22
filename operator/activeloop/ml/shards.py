"""Sharded acquisition: each shard ranks a slice of the library, the merge chooses.

A strategy's choice is a shortlist (the ``k`` best candidates by a marginal score, see
:meth:`~activeloop.ml.acquisition.AcquisitionStrategy.shortlist`) followed by a joint choice among
them. The top ``k`` of a library is the top ``k`` of the union of its slices' top ``k`` lists, with
the same tie rule (lower row first), so shards that each rank a contiguous slice and a merge that
keeps the best ``k`` of their lists give the batch the unsharded computation gives, for the same
seed and whatever the number of shards. Shards only read: the fitted surrogate, the candidates and
which rows are blocked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activeloop.errors import ConfigError
from activeloop.ml.acquisition import AcquisitionStrategy, best_by
from activeloop.ml.candidates import Candidates, merge_top
from activeloop.ml.surrogates import Surrogate


def shard_range(n: int, shards: int, index: int) -> tuple[int, int]:
    """Rows ``[start, end)`` of shard ``index`` of ``shards`` over ``n`` rows (contiguous, sizes
    differing by at most one)."""
    if not 0 <= index < shards:
        raise ConfigError("shard", f"{index} is not in 0..{shards - 1}")
    return index * n // shards, (index + 1) * n // shards


def free_rows(start: int, end: int, blocked: np.ndarray) -> np.ndarray:
    """Rows of ``[start, end)`` that are not ``blocked`` (measured, failed, pending, excluded)."""
    free = np.ones(end - start, dtype=bool)
    inside = blocked[(blocked >= start) & (blocked < end)]
    free[inside - start] = False
    return np.flatnonzero(free) + start


@dataclass(frozen=True)
class ShardTop:
    """One shard's top list: its best rows, their scores (best first) and how many it ranked."""

    rows: np.ndarray
    scores: np.ndarray
    ranked: int


def shard_top(strategy: AcquisitionStrategy, surrogate: Surrogate | None, candidates: Candidates,
              rows: np.ndarray, q: int, available: int, best_f: float) -> ShardTop:
    """The strategy's shortlist restricted to ``rows`` (one shard's free rows); ``available`` is
    the number of free rows in the whole library (strategies decide on it)."""
    plan = strategy.shortlist(q, available, best_f)
    if plan is None:  # the joint choice looks at every row: the shard passes its rows on
        return ShardTop(rows, np.full(len(rows), np.nan), len(rows))
    top, scores = best_by(surrogate, candidates, rows, *plan)
    return ShardTop(top, scores, len(rows))


def merge_shards(strategy: AcquisitionStrategy, tops: list[ShardTop], q: int, available: int,
                 best_f: float) -> np.ndarray:
    """The shortlist of the whole library from its shards' top lists (see the module docstring)."""
    rows = np.concatenate([t.rows for t in tops]) if tops else np.zeros(0, dtype=np.int64)
    plan = strategy.shortlist(q, available, best_f)
    if plan is None:
        return np.sort(rows)
    merged, _ = merge_top(rows, np.concatenate([t.scores for t in tops]), plan[0])
    return merged


__all__ = ["ShardTop", "free_rows", "merge_shards", "shard_range", "shard_top"]
