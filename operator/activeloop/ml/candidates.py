"""Candidates: the library's features, computed a chunk at a time and never held whole.

A library of 3.2 million five-site variants is 2.6 GB of one-hot float64 features (and 64 million
six-site variants 51 GB), so acquisition never asks for the whole matrix: it asks for the features
of the rows it is looking at, a chunk at a time, and keeps a running top of the candidates it has
scored (:func:`top_k`). Memory is bounded by the chunk (and two numbers per candidate), not by the
features of the library.

``Candidates.from_array(X)`` wraps a matrix already in memory (simulations of measured landscapes);
``Candidates(n, features)`` takes any ``rows -> features`` function (a library's encoder, a
language model's embeddings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from activeloop.errors import ConfigError

Features = Callable[[np.ndarray], np.ndarray]
"""Library rows (``int64``) -> their features (``len(rows) x d`` float64)."""

DEFAULT_CHUNK = 65_536


@dataclass(frozen=True)
class Candidates:
    """``n`` candidate rows whose features are computed on demand, ``chunk`` rows at a time."""

    n: int
    features: Features
    chunk: int = DEFAULT_CHUNK

    def __len__(self) -> int:
        return self.n

    @classmethod
    def from_array(cls, X: np.ndarray, chunk: int = DEFAULT_CHUNK) -> Candidates:
        """Candidates whose features are the rows of ``X``."""
        return cls(len(X), lambda rows: X[rows], chunk)

    def with_column(self, column: np.ndarray) -> Candidates:
        """The same candidates with ``column[rows]`` appended to their features (e.g. a prior)."""
        if len(column) != self.n:
            raise ConfigError("prior", f"{len(column)} values for {self.n} candidates")
        base = self.features
        return Candidates(self.n, lambda rows: np.hstack([base(rows), column[rows][:, None]]), self.chunk)

    def chunks_of(self, rows: np.ndarray) -> list[np.ndarray]:
        """``rows`` split into consecutive blocks of at most :attr:`chunk`."""
        return [rows[i : i + self.chunk] for i in range(0, len(rows), self.chunk)]


def merge_top(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest ``scores`` (ties: lower row first) and their rows, best first."""
    order = np.lexsort((rows, -scores))[:k]
    return rows[order], scores[order]


def top_k(
    candidates: Candidates,
    rows: np.ndarray,
    k: int,
    score: Callable[[np.ndarray], np.ndarray],
    bound: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of ``rows`` by ``score(features) -> scores``, a chunk at a time.

    ``bound(features)``, if given, is a cheap upper bound of each score (for a GP, the posterior
    mean plus ``beta`` times the *prior* standard deviation bounds the UCB, and costs ``O(n)`` per
    candidate instead of the variance's ``O(n^2)``). Then a first pass computes every bound, and
    the second scores candidates in decreasing order of their bound and stops as soon as the next
    bound is below the ``k``-th best score found (the threshold algorithm): the rest cannot enter.
    The result equals scoring every row and sorting (ties: lower row first), whatever the chunk
    size. Memory: one chunk of features, plus two numbers per row with a bound. Returns
    ``(rows, scores)``, best first.
    """
    rows = np.asarray(rows, dtype=np.int64)
    best_rows = np.zeros(0, dtype=np.int64)
    best_scores = np.zeros(0, dtype=np.float64)

    def take(block: np.ndarray, X: np.ndarray) -> None:
        nonlocal best_rows, best_scores
        best_rows, best_scores = merge_top(
            np.concatenate([best_rows, block]), np.concatenate([best_scores, score(X)]), k
        )

    if bound is None:
        for block in candidates.chunks_of(rows):
            take(block, candidates.features(block))
        return best_rows, best_scores
    bounds = np.concatenate([bound(candidates.features(b)) for b in candidates.chunks_of(rows)] or [np.zeros(0)])
    order = np.lexsort((rows, -bounds))
    for block in candidates.chunks_of(order):
        if len(best_scores) >= k:
            # a margin of rounding: the bound and the score are computed along different paths
            threshold = best_scores[-1] - 1e-8 * max(1.0, abs(best_scores[-1]))
            block = block[bounds[block] >= threshold]
            if not len(block):
                break  # bounds only decrease from here
        take(rows[block], candidates.features(rows[block]))
    return best_rows, best_scores


def as_candidates(X: np.ndarray | Candidates) -> Candidates:
    """``X`` itself if it is :class:`Candidates`, else a wrapper of the matrix."""
    return X if isinstance(X, Candidates) else Candidates.from_array(np.asarray(X))


__all__ = ["DEFAULT_CHUNK", "Candidates", "Features", "as_candidates", "merge_top", "top_k"]
