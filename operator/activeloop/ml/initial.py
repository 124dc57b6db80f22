"""The first batch, chosen before anything is measured.

* ``random``: uniformly among the available rows (the ALDE protocol).
* ``zeroShot``: the best rows by zero-shot score (ties broken at random).
* ``focused``: "focused training" (Wittmann et al. 2021): at random among the top ``top_fraction``
  of the available rows by zero-shot score, spread over sites: no mutant residue may occupy more
  than ``max_share`` of the batch at one site while others are left. A zero-shot ranking is noisy;
  sampling within its top keeps the batch informative for the model that follows.
"""

from __future__ import annotations

import math

import numpy as np

from activeloop.errors import ConfigError
from activeloop.ml.library import Library

INITIAL_STRATEGIES = ("random", "zeroShot", "focused")


def _best_first(rows: np.ndarray, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rows`` from the highest score down; equal scores in random order."""
    tiebreak = rng.random(len(rows))
    return rows[np.lexsort((tiebreak, -scores[rows]))]


def _spread(candidates: np.ndarray, q: int, tokens: np.ndarray, parent: np.ndarray, max_share: float) -> np.ndarray:
    """The first ``q`` of ``candidates`` (in order) such that no mutant residue is at one site in
    more than ``max_share`` of them; filled up in order if the cap leaves fewer than ``q``."""
    cap = max(1, math.floor(max_share * q))
    counts: dict[tuple[int, int], int] = {}
    chosen: list[int] = []
    skipped: list[int] = []
    for k, row in enumerate(candidates):
        keys = [(site, int(res)) for site, res in enumerate(tokens[k]) if res != parent[site]]
        if all(counts.get(key, 0) < cap for key in keys):
            chosen.append(int(row))
            for key in keys:
                counts[key] = counts.get(key, 0) + 1
            if len(chosen) == q:
                return np.asarray(chosen, dtype=np.int64)
        else:
            skipped.append(int(row))
    return np.asarray(chosen + skipped[: q - len(chosen)], dtype=np.int64)


def initial_batch(
    strategy: str,
    library: Library,
    available: np.ndarray,
    q: int,
    rng: np.random.Generator,
    scores: np.ndarray | None = None,
    top_fraction: float = 0.02,
    max_share: float = 0.25,
) -> np.ndarray:
    """``q`` rows of ``library`` among ``available`` (row indices) for the first batch.

    Args:
        strategy: one of :data:`INITIAL_STRATEGIES`.
        library: the candidates (for the residues at each site).
        available: rows that may be proposed.
        q: batch size (fewer if fewer are available).
        rng: the campaign's generator for this round.
        scores: zero-shot scores of every library row (``zeroShot`` and ``focused``).
        top_fraction: ``focused``: share of the available rows to draw from (at least ``2 q``).
        max_share: ``focused``: the most of the batch one mutant residue may take at one site.
    """
    available = np.asarray(available, dtype=np.int64)
    q = min(q, len(available))
    if strategy == "random":
        return rng.choice(available, size=q, replace=False)
    if strategy not in INITIAL_STRATEGIES:
        raise ConfigError("initialBatch.strategy", f"{strategy!r}: use one of {INITIAL_STRATEGIES}")
    if scores is None or len(scores) != len(library):
        raise ConfigError("initialBatch.strategy", f"{strategy} needs a zero-shot score of every variant")
    ranked = _best_first(available, np.asarray(scores, dtype=np.float64), rng)
    if strategy == "zeroShot":
        return ranked[:q]
    pool = ranked[: max(math.ceil(top_fraction * len(available)), 2 * q)]
    pool = pool[rng.permutation(len(pool))]
    return _spread(pool, q, library.site_tokens(pool), library.parent_site_tokens, max_share)


__all__ = ["INITIAL_STRATEGIES", "initial_batch"]
