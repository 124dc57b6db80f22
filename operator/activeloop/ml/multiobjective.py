"""Several objectives: Pareto fronts, hypervolume, and the choice of a batch for 2 to 4 objectives.

Each objective has its own surrogate (fitted on the variants with a value for it, its values
transformed on their own); an objective may carry a threshold (``expression >= 0.5``), which a
proposal should reach (feasibility), and a weight (for the desirability strategy). Three ways to
choose a batch, all on a shortlist (the best candidates under the strategy's scalarisation of the
posterior means, chunk by chunk):

* ``pareto``: Thompson sampling under random scalarisations (ParEGO's augmented Chebyshev
  scalarisation with weights drawn from a flat Dirichlet for each batch slot): each slot takes the
  candidate whose posterior draw is best under its own weights, so the batch spreads along the
  front; a draw below a threshold is infeasible for that slot.
* ``desirability``: Thompson sampling of the weighted sum of the objectives' normal scores, the
  thresholds as above: one compromise, for labs that can say how much each objective matters.
* ``nehvi``: BoTorch's ``qLogNoisyExpectedHypervolumeImprovement`` over the shortlist (sequential
  greedy), thresholds as outcome constraints.

Values are in "higher is better" units (the caller applies each objective's direction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from activeloop.errors import ConfigError
from activeloop.ml.candidates import Candidates, as_candidates
from activeloop.ml.determinism import single_threaded
from activeloop.ml.loop import DEFAULT_SURROGATE, fit_surrogate, transform_targets
from activeloop.ml.surrogates import Surrogate

if TYPE_CHECKING:
    from torch import Tensor

STRATEGIES = ("pareto", "desirability", "nehvi")
"""Multi-objective strategies (see the module docstring)."""


@dataclass(frozen=True)
class Objective:
    """One objective as the model sees it (higher is better)."""

    name: str
    threshold: float | None = None
    """A value a proposal should reach (in the objective's own, higher-is-better units)."""
    weight: float = 1.0


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    """Which rows of ``Y`` (``n x m``, higher is better, no NaN) no other row dominates."""
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    if len(Y) == 0:
        return np.zeros(0, dtype=bool)
    return is_non_dominated(torch.as_tensor(Y, dtype=torch.float64)).numpy()


def hypervolume(Y: np.ndarray, reference: np.ndarray) -> float:
    """The hypervolume ``Y`` (``n x m``, higher is better) dominates above ``reference``; rows with
    a NaN, or not above the reference in every objective, add nothing."""
    import torch
    from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning

    Y = np.asarray(Y, dtype=np.float64)
    Y = Y[np.isfinite(Y).all(axis=1) & (Y > reference).all(axis=1)]
    if len(Y) == 0:
        return 0.0
    part = DominatedPartitioning(ref_point=torch.as_tensor(reference, dtype=torch.float64),
                                 Y=torch.as_tensor(Y, dtype=torch.float64))
    return float(part.compute_hypervolume())


def feasible(Y: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """Which rows reach every threshold (a NaN never does)."""
    ok = np.ones(len(Y), dtype=bool)
    for j, o in enumerate(objectives):
        if o.threshold is not None:
            ok &= np.nan_to_num(Y[:, j], nan=-np.inf) >= o.threshold
    return ok


@dataclass(frozen=True)
class MultiResult:
    """The batch, the objectives' fitted surrogates, and each one's threshold in its model's units."""

    rows: np.ndarray
    surrogates: list[Surrogate]
    thresholds: list[float | None]


def _score_threshold(threshold: float | None, y: np.ndarray, transform: str) -> float | None:
    """A threshold in measured units as the surrogate sees it (a normal score under ``rank``)."""
    if threshold is None:
        return None
    if transform == "none":
        return float(threshold)
    from scipy.special import ndtri

    below = float(np.sum(y < threshold)) + 0.5 * float(np.sum(y == threshold))
    return float(ndtri(np.clip(below / len(y), 0.5 / len(y), 1 - 0.5 / len(y))))


def propose_multi(
    X: np.ndarray | Candidates, measured: np.ndarray, Y: np.ndarray, q: int, objectives: Sequence[Objective], *,
    strategy: str = "pareto", surrogate: str = DEFAULT_SURROGATE, transform: str = "rank",
    excluded: np.ndarray | None = None, seed: int = 0, shortlist: int = 1500,
) -> MultiResult:
    """Choose ``q`` new rows for ``len(objectives)`` objectives (``Y``: ``n x m`` measured values
    of the ``measured`` rows, higher is better, NaN where a variant has none for an objective)."""
    if strategy not in STRATEGIES:
        raise ConfigError("acquisition.multiObjective", f"{strategy!r}: use one of {', '.join(STRATEGIES)}")
    Y = np.asarray(Y, dtype=np.float64).reshape(len(measured), len(objectives))
    cands = as_candidates(X)
    rng = np.random.default_rng(seed)
    available = np.ones(len(cands), dtype=bool)
    available[np.asarray(measured, dtype=np.int64)] = False
    if excluded is not None and len(excluded):
        available[np.asarray(excluded, dtype=np.int64)] = False
    free = np.flatnonzero(available)
    if len(free) < q:
        raise ConfigError("batch_size", f"{q} proposals asked but only {len(free)} candidates are available")
    models, thresholds = [], []
    with single_threaded():
        for j, o in enumerate(objectives):
            has = np.isfinite(Y[:, j])
            if has.sum() < 2:
                raise ConfigError("measured", f"objective {o.name!r}: at least two measured values are needed")
            y = Y[has, j]
            models.append(fit_surrogate(cands.features(np.asarray(measured)[has]), transform_targets(y, transform),
                                        surrogate, seed=seed + j))
            thresholds.append(_score_threshold(o.threshold, y, transform))
        short = _shortlist(models, cands, free, shortlist, objectives, strategy, rng)
        Xs = cands.features(short)
        if strategy == "nehvi":
            picked = _nehvi(models, cands, measured, Y, Xs, q, thresholds, rng, transform)
        else:
            picked = _thompson(models, Xs, q, objectives, thresholds, rng, scalarise=strategy)
    return MultiResult(short[picked], models, thresholds)


def _shortlist(models: list[Surrogate], cands: Candidates, free: np.ndarray, size: int,
               objectives: Sequence[Objective], strategy: str, rng: np.random.Generator) -> np.ndarray:
    """The candidates the joint choice looks at: the best free rows under the strategy's own
    scalarisation of the objectives' posterior means (each standardised over the free rows), a
    chunk at a time; for ``pareto``, the union of the best under eight random Chebyshev weightings,
    so the shortlist follows the whole front rather than each objective's extreme."""
    means = np.column_stack([np.concatenate([m.predict_mean(cands.features(rows)) for rows in cands.chunks_of(free)])
                             for m in models])
    lo, hi = means.min(axis=0), means.max(axis=0)
    unit = (means - lo) / np.maximum(hi - lo, 1e-12)
    if strategy == "desirability":
        weights = np.asarray([o.weight for o in objectives], dtype=np.float64)
        order = np.argsort(-(unit @ (weights / weights.sum())), kind="stable")[:size]
        return np.sort(free[order])
    chosen = []
    for w in rng.dirichlet(np.ones(len(models)), size=8):
        score = (w * unit).min(axis=1) + 0.05 * (w * unit).sum(axis=1)
        chosen.append(free[np.argsort(-score, kind="stable")[: max(1, size // 8)]])
    return np.unique(np.concatenate(chosen))


def _thompson(models: list[Surrogate], Xs: np.ndarray, q: int, objectives: Sequence[Objective],
              thresholds: list[float | None], rng: np.random.Generator, scalarise: str) -> np.ndarray:
    """One joint posterior draw per objective and batch slot on the shortlist; each slot takes its
    best draw under its scalarisation (random Chebyshev weights, or the fixed desirability weights)."""
    draws = np.stack([m.sample(Xs, q, rng) for m in models], axis=-1)  # q x N x m
    lo, hi = draws.min(axis=(0, 1)), draws.max(axis=(0, 1))
    unit = (draws - lo) / np.maximum(hi - lo, 1e-12)
    weights = np.asarray([o.weight for o in objectives], dtype=np.float64)
    chosen: list[int] = []
    taken = np.zeros(Xs.shape[0], dtype=bool)
    for t in range(q):
        u = unit[t]
        if scalarise == "pareto":
            w = rng.dirichlet(np.ones(len(models)))
            score = (w * u).min(axis=1) + 0.05 * (w * u).sum(axis=1)
        else:
            score = u @ (weights / weights.sum())
        ok = np.ones(len(score), dtype=bool)
        for j, thr in enumerate(thresholds):
            if thr is not None:
                ok &= draws[t, :, j] >= thr
        if ok[~taken].any():  # infeasible draws last; if none is feasible, the best score
            score = np.where(ok, score, score - 10.0)
        score = np.where(taken, -np.inf, score)
        best = int(np.argmax(score))
        chosen.append(best)
        taken[best] = True
    return np.asarray(chosen, dtype=np.int64)


def _nehvi(models: list[Surrogate], cands: Candidates, measured: np.ndarray, Y: np.ndarray, Xs: np.ndarray,
           q: int, thresholds: list[float | None], rng: np.random.Generator, transform: str) -> np.ndarray:
    """BoTorch's qLogNEHVI over the shortlist (the objectives' GPs as one model list)."""
    import torch
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.models import ModelListGP
    from botorch.optim import optimize_acqf_discrete
    from botorch.sampling import SobolQMCNormalSampler

    gps: list[Any] = [getattr(m, "model", None) for m in models]
    if any(g is None or not hasattr(g, "train_inputs") for g in gps):
        raise ConfigError("surrogate.kind", "nehvi needs a GP surrogate for every objective")
    model = ModelListGP(*gps)
    X_base = torch.as_tensor(cands.features(np.asarray(measured)), dtype=torch.float64)
    Yt = np.column_stack([transform_targets(np.nan_to_num(Y[:, j], nan=np.nanmin(Y[:, j])), transform)
                          for j in range(Y.shape[1])])
    ref = torch.as_tensor(Yt.min(axis=0) - 0.1 * (Yt.max(axis=0) - Yt.min(axis=0)), dtype=torch.float64)
    constraints = [_below(j, t) for j, t in enumerate(thresholds) if t is not None]
    acq = qLogNoisyExpectedHypervolumeImprovement(
        model, ref_point=ref, X_baseline=X_base, prune_baseline=True, constraints=constraints or None,
        sampler=SobolQMCNormalSampler(torch.Size([64]), seed=int(rng.integers(2**31))))
    choices = torch.as_tensor(Xs, dtype=torch.float64)
    cand, _ = optimize_acqf_discrete(acq, q=q, choices=choices, unique=True, max_batch_size=256)
    lookup = {tuple(r): i for i, r in enumerate(choices.numpy().tolist())}
    return np.asarray([lookup[tuple(r)] for r in cand.numpy().tolist()], dtype=np.int64)


def _below(j: int, threshold: float) -> Callable[[Tensor], Tensor]:
    """An outcome constraint for BoTorch (feasible where negative): objective ``j`` under ``threshold``."""
    def constraint(Z: Tensor) -> Tensor:
        return threshold - Z[..., j]

    return constraint


__all__ = ["STRATEGIES", "MultiResult", "Objective", "feasible", "hypervolume", "pareto_mask", "propose_multi"]
