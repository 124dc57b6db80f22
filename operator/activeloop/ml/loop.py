"""One round of the active-learning loop, independent of where the data lives.

``propose_batch`` fits a surrogate on the measured variants and asks an acquisition strategy for
the next ``q`` candidates among those neither measured nor pending. The local runner, the
simulated campaigns and the cluster's acquire step all call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activeloop.api.campaign import AcquisitionSpec, SurrogateSpec
from activeloop.errors import ConfigError
from activeloop.ml.acquisition import available_rows, get_strategy
from activeloop.ml.candidates import Candidates, as_candidates
from activeloop.ml.determinism import single_threaded
from activeloop.ml.shards import free_rows, merge_shards, shard_range, shard_top
from activeloop.ml.surrogates import Prediction, Surrogate, get_surrogate
from activeloop.ml.zeroshot import standardised

TRANSFORMS = ("none", "rank")
DEFAULT_SURROGATE: str = SurrogateSpec.model_fields["kind"].default
DEFAULT_TRANSFORM: str = SurrogateSpec.model_fields["transform"].default
DEFAULT_STRATEGY: str = AcquisitionSpec.model_fields["strategy"].default
"""The Python API's defaults are the campaign spec's (one source of truth: ``api.campaign``)."""


def transform_targets(y: np.ndarray, transform: str) -> np.ndarray:
    """Targets as the surrogate sees them; order-preserving, so the argmax is unchanged.

    ``rank`` maps measured values to normal scores (a copula transform): heavy-tailed assays
    (most variants dead, a few very fit) stop dominating the likelihood.
    """
    if transform == "none":
        return y.astype(np.float64)
    if transform == "rank":
        from scipy.special import ndtri
        from scipy.stats import rankdata

        return ndtri((rankdata(y) - 0.5) / len(y))
    raise ConfigError("transform", f"unknown transform {transform!r}; known: {TRANSFORMS}")


def untransform(scores: np.ndarray, y: np.ndarray, transform: str) -> np.ndarray:
    """Scores as the surrogate predicts them, back in the units of ``y`` (the inverse of
    :func:`transform_targets`). For ``rank``, a normal score ``s`` maps to the quantile
    ``Phi(s)`` of the measured values, interpolated between them at the plotting positions the
    transform used; beyond the lowest or highest measured value it stays at that value (the
    empirical distribution has no tail: the score itself says how far out a variant is expected)."""
    scores = np.asarray(scores, dtype=np.float64)
    if transform == "none":
        return scores.copy()
    if transform == "rank":
        from scipy.special import ndtr

        ys = np.sort(np.asarray(y, dtype=np.float64))
        if len(ys) == 0:
            return np.full_like(scores, np.nan)
        positions = (np.arange(1, len(ys) + 1) - 0.5) / len(ys)
        return np.interp(ndtr(scores), positions, ys)
    raise ConfigError("transform", f"unknown transform {transform!r}; known: {TRANSFORMS}")


def fit_surrogate(X: np.ndarray, yt: np.ndarray, surrogate: str, *, seed: int = 0, prior: bool = False) -> Surrogate:
    """``surrogate`` fitted on features ``X`` of the measured variants and targets ``yt`` (already
    transformed); ``prior``: the last column of ``X`` is a prior score."""
    if len(yt) < 2:
        raise ConfigError("measured", "at least two measured variants are needed to fit")
    return get_surrogate(surrogate, seed=seed, prior=prior).fit(X, yt)


@dataclass(frozen=True)
class RoundResult:
    """Rows chosen for the next batch, the surrogate that chose them and its predictions for them
    (``None`` for random)."""

    rows: np.ndarray
    surrogate: Surrogate | None
    prediction: Prediction | None = None


def propose_batch(
    X: np.ndarray | Candidates,
    measured: np.ndarray,
    y: np.ndarray,
    q: int,
    *,
    surrogate: str = DEFAULT_SURROGATE,
    acquisition: str = DEFAULT_STRATEGY,
    transform: str = DEFAULT_TRANSFORM,
    excluded: np.ndarray | None = None,
    seed: int = 0,
    prior: np.ndarray | None = None,
    shards: int = 1,
) -> RoundResult:
    """Fit ``surrogate`` on ``X[measured]``/``y`` and choose ``q`` new rows of ``X``.

    Args:
        X: the candidate library's features: an ``N x d`` matrix, or :class:`Candidates` that
            compute them a chunk at a time (libraries of millions).
        measured: row indices of measured variants (``n``), aligned with ``y`` (``n``).
        y: measured fitness.
        q: batch size.
        surrogate: name in :data:`activeloop.ml.surrogates.SURROGATES`.
        acquisition: name in :data:`activeloop.ml.acquisition.STRATEGIES`.
        transform: target transform (:data:`TRANSFORMS`).
        excluded: further rows that must not be proposed (pending proposals).
        seed: seeds the surrogate and the strategy.
        prior: a score of every row (``N``; e.g. zero-shot), given to the surrogate as prior
            knowledge: standardised and appended to ``X`` as its last column.
        shards: rank the library in this many slices and merge their top lists
            (:mod:`activeloop.ml.shards`; here one after another): the same batch as one slice.

    Returns:
        :class:`RoundResult` with ``q`` distinct rows, none measured or excluded.
    """
    measured = np.asarray(measured, dtype=np.int64)
    y = np.asarray(y, dtype=np.float64)
    if len(measured) != len(y):
        raise ConfigError("y", f"{len(y)} values for {len(measured)} measured variants")
    if not np.isfinite(y).all():
        raise ConfigError("y", "measured values must be finite numbers")
    rng = np.random.default_rng(seed)
    cands = as_candidates(X)
    available = np.ones(len(cands), dtype=bool)
    available[measured] = False
    if excluded is not None and len(excluded):
        available[np.asarray(excluded, dtype=np.int64)] = False
    strategy = get_strategy(acquisition)
    if prior is not None:
        if len(prior) != len(cands):
            raise ConfigError("prior", f"{len(prior)} prior scores for {len(cands)} candidates")
        cands = cands.with_column(standardised(np.asarray(prior, dtype=np.float64)))
    model: Surrogate | None = None
    yt = transform_targets(y, transform)
    with single_threaded():  # the same batch whatever the machine's thread count
        if strategy.needs_model:
            model = fit_surrogate(cands.features(measured), yt, surrogate, seed=seed, prior=prior is not None)
        best = float(yt.max()) if len(yt) else 0.0
        if shards <= 1:
            rows = np.asarray(strategy.select(model, cands, available, q, best, rng), dtype=np.int64)
        else:
            avail = available_rows(available, q)
            blocked = np.flatnonzero(~available)
            tops = [shard_top(strategy, model, cands, free_rows(*shard_range(len(cands), shards, i), blocked),
                              q, len(avail), best) for i in range(shards)]
            shortlist = merge_shards(strategy, tops, q, len(avail), best)
            rows = np.asarray(strategy.choose(model, cands, shortlist, q, best, rng), dtype=np.int64)
        prediction = model.predict(cands.features(rows)) if model is not None else None
    return RoundResult(rows=rows, surrogate=model, prediction=prediction)
