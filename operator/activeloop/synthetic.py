"""Sparse, rugged synthetic landscapes: most variants dead, a few fit, the best not the additive guess.

A family for benchmarking discovery where GB1 is too forgiving (issue 21). Each landscape is every
combination of the 20 amino acids at ``sites`` positions of GB1's parent (4 sites: 160,000
variants), with a latent activity built like a rough Mount Fuji model with epistasis:

* ``additive``: one standard-normal effect per site and residue;
* ``pairwise``: one effect per pair of sites and pair of residues, standard deviation ``pairwise``;
* ``rugged``: an independent effect per variant (house of cards), standard deviation ``rugged``;

then an activity threshold: variants below the ``dead`` quantile of the latent activity have
fitness 0, and the live ones ``exp(g * (latent - threshold)) - 1``, with ``g`` the smallest
steepness (found by bisection) that leaves at most ``near_max`` variants within half of the
maximum (by default 0.008% of the library: 12 of 160,000 for four sites). A landscape whose
maximum is the top variant of the best additive model (for a full factorial design, the per-site
mean of the fitness) is drawn again from seed + 1000, so the additive guess never finds the peak.
Everything follows from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from activeloop.landscapes import GB1_PARENT, Landscape
from activeloop.ml.library import CombinatorialLibrary, VariantLibrary

SITES = (39, 40, 41, 54, 43)
"""GB1 positions the family mutates (the first ``sites`` of them)."""


@dataclass(frozen=True)
class SparseSpec:
    """The parameters of one sparse landscape (see the module docstring)."""

    seed: int
    sites: int = 4
    pairwise: float = 0.7
    rugged: float = 0.5
    dead: float = 0.65
    near_max: int | None = None
    """Most variants within half of the maximum (default: 0.008% of the library, at least 1)."""
    attempts: list[int] = field(default_factory=list, compare=False)


def latent_activity(spec: SparseSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The latent activity of every variant and the site tokens (rows in ``itertools.product``
    order over the 20 amino acids)."""
    rng = np.random.default_rng(seed)
    S = spec.sites
    digits = np.indices((20,) * S).reshape(S, -1).T  # N x S, first site most significant
    latent = rng.normal(size=(S, 20))[np.arange(S), digits].sum(axis=1)
    for i, j in combinations(range(S), 2):
        latent += spec.pairwise * rng.normal(size=(20, 20))[digits[:, i], digits[:, j]]
    latent += spec.rugged * rng.normal(size=len(latent))
    return latent, digits


def _steepness(live: np.ndarray, near_max: int) -> float:
    """The smallest ``g`` with at most ``near_max`` of ``exp(g * live) - 1`` within half of the max."""
    top = live.max()

    def near(g: float) -> int:
        f = np.expm1(g * live)
        return int(np.sum(f >= np.expm1(g * top) / 2))

    lo, hi = 1e-3, 1.0
    while near(hi) > near_max:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if near(mid) > near_max else (lo, mid)
    return hi


def sparse_landscape(spec: SparseSpec) -> Landscape:
    """The landscape of ``spec`` (drawn again from the next seeds until its maximum is not the
    additive model's top variant; ``spec.attempts`` records the seeds tried)."""
    seed = spec.seed
    while True:
        latent, digits = latent_activity(spec, seed)
        threshold = float(np.quantile(latent, spec.dead))
        live = np.clip(latent - threshold, 0.0, None)
        near_max = spec.near_max if spec.near_max is not None else max(1, int(8e-5 * len(live)))
        fitness = np.expm1(_steepness(live, near_max) * live)
        site_means = [np.bincount(digits[:, i], weights=fitness, minlength=20) for i in range(spec.sites)]
        additive = sum(m[digits[:, i]] for i, m in enumerate(site_means))
        spec.attempts.append(seed)
        if int(np.argmax(additive)) != int(np.argmax(fitness)):
            break
        seed += 1000
    library = CombinatorialLibrary(GB1_PARENT, SITES[: spec.sites])
    rows = np.arange(len(library))
    variants = VariantLibrary(GB1_PARENT, library.tokens_of(rows), tuple(library.names_of(rows)),
                              tuple(SITES[: spec.sites]))
    return Landscape(f"sparse-{spec.sites}s-{spec.seed}", variants, fitness)


def family(sites: int = 4, count: int = 8, base_seed: int = 21) -> list[SparseSpec]:
    """The benchmark family: ``count`` landscapes of ``sites`` sites, seeds ``base_seed + k``."""
    return [SparseSpec(seed=base_seed + k, sites=sites) for k in range(count)]


__all__ = ["SITES", "SparseSpec", "family", "latent_activity", "sparse_landscape"]
