"""A synthetic "lab" for tests and benchmarks: fitness of any variant of a parent at some sites.

Fitness is additive per site plus a pairwise term between the first two sites (drawn once from a
seed), so surrogates have something to learn; no data set is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from activeloop.api.sequence import AMINO_ACIDS
from activeloop.ml.sequences import VariantParser


class SyntheticLab:
    """Answers assays of variants of ``parent`` mutated at ``sites`` (1-based)."""

    def __init__(self, parent: str, sites: Sequence[int], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.parser = VariantParser(parent, tuple(sites))
        self.sites = tuple(sites)
        self.w1 = rng.normal(size=(len(sites), 20))
        self.w2 = rng.normal(size=(20, 20)) * 0.7

    def fitness(self, variant: str) -> float:
        """The "measured" value of ``variant`` (any spelling the parser accepts)."""
        seq = self.parser.sequence(variant)
        idx = [AMINO_ACIDS.index(seq[s - 1]) for s in self.sites]
        y = sum(self.w1[i, a] for i, a in enumerate(idx))
        if len(idx) > 1:
            y += self.w2[idx[0], idx[1]]
        return float(np.exp(y / 2))

    def plate(self, variants: Iterable[str], failed: Iterable[str] = ()) -> list[dict[str, Any]]:
        """AssayResult measurements for ``variants``; those in ``failed`` are failed wells."""
        fail = set(failed)
        return [{"variant": v, "failed": True} if v in fail else {"variant": v, "value": round(self.fitness(v), 6)}
                for v in variants]


__all__ = ["SyntheticLab"]
