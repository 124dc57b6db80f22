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
from activeloop.ml.neighbourhood import Neighbourhood, choose_batch
from activeloop.ml.shards import free_rows, merge_shards, shard_range, shard_top
from activeloop.ml.surrogates import GPSurrogate, Prediction, Surrogate, get_surrogate
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


def fit_surrogate(X: np.ndarray, yt: np.ndarray, surrogate: str, *, seed: int = 0, prior: bool = False,
                  tasks: int = 1) -> Surrogate:
    """``surrogate`` fitted on features ``X`` of the measured variants and targets ``yt`` (already
    transformed); ``prior``: the last column of ``X`` is a prior score; ``tasks > 1``: the column
    before it is a task index (a GP learns the tasks' correlation; other surrogates read it as a
    feature)."""
    if len(yt) < 2:
        raise ConfigError("measured", "at least two measured variants are needed to fit")
    options = {"tasks": tasks} if tasks > 1 and surrogate in MULTI_TASK else {}
    return get_surrogate(surrogate, seed=seed, prior=prior, **options).fit(X, yt)


MULTI_TASK = ("gp", "gp_epistasis", "gp_epistasis2", "gp_epistasis_auto", "gp_soft_epistasis")
"""Surrogates that model related assays as tasks with a learned correlation (the others read the
task index as one more feature)."""


@dataclass(frozen=True)
class Related:
    """Measurements of library variants in related assays (another temperature, another
    substrate): further tasks for the surrogate, never results of the campaign."""

    rows: np.ndarray
    values: np.ndarray
    """Higher is better, as for the campaign's own values (the caller applies the direction)."""
    tasks: np.ndarray | None = None
    """Each row's assay, ``1..T`` (default: all ``1``)."""

    @property
    def task_of(self) -> np.ndarray:
        """Each row's task index (``1..T``)."""
        return np.ones(len(self.rows), dtype=np.int64) if self.tasks is None else np.asarray(self.tasks, dtype=np.int64)

    @property
    def count(self) -> int:
        """Tasks in all, the campaign's own included (``1`` with no related rows)."""
        return int(self.task_of.max()) + 1 if len(self.rows) else 1


def with_task_column(cands: Candidates, related: Related | None) -> tuple[Candidates, int | None]:
    """Candidates with a task column of zeros (the campaign's own task) when there are related
    measurements, and that column's index; unchanged and ``None`` without."""
    if related is None or not len(related.rows):
        return cands, None
    column = cands.features(np.zeros(1, dtype=np.int64)).shape[1]
    return cands.with_column(np.zeros(len(cands))), column


def fit_with_related(cands: Candidates, measured: np.ndarray, yt: np.ndarray, surrogate: str, *, seed: int,
                     prior: bool, related: Related | None, task_column: int | None, transform: str) -> Surrogate:
    """The surrogate fitted on the measured rows (task 0) and the related ones (their tasks, each
    assay's values transformed on their own)."""
    X = cands.features(measured)
    if related is None or task_column is None or surrogate not in MULTI_TASK or prior:
        return fit_surrogate(X, yt, surrogate, seed=seed, prior=prior)
    X_rel = cands.features(np.asarray(related.rows, dtype=np.int64))
    X_rel[:, task_column] = related.task_of
    values = np.asarray(related.values, dtype=np.float64)
    y_rel = np.empty(len(values))
    for t in np.unique(related.task_of):
        mine = related.task_of == t
        y_rel[mine] = transform_targets(values[mine], transform)
    alone = WithoutColumn(fit_surrogate(np.delete(X, task_column, axis=1), yt, surrogate, seed=seed), task_column)
    joint = fit_surrogate(np.vstack([X, X_rel]), np.concatenate([yt, y_rel]), surrogate, seed=seed,
                          tasks=related.count)
    assert isinstance(alone.inner, GPSurrogate) and isinstance(joint, GPSurrogate)
    # related data are kept only where they predict the campaign's own values better, each held
    # out in turn (leave-one-out log predictive density). The per-point gain and its standard
    # error are recorded: requiring the gain to exceed two of them (a paired test) was tried and
    # did not separate the assays on GB1 (a related assay's gain was -0.35 to 1.9 standard errors,
    # an unrelated one's -3.5 to 2.7), so it would have dropped what helps; RELATED_MARGIN is 0.
    # The leave-one-out Spearman is recorded beside: as the criterion it kept less of what helps
    # (0.938 against 0.961 with a related assay, 30 seeds) and no more of what does not
    # (benchmarks/earlier.py)
    gain = joint.loo_log_densities(len(yt)) - alone.inner.loo_log_densities(len(yt))
    gain_se = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else float("inf")
    scores = {"loo_spearman_alone": alone.inner.loo_spearman(len(yt)),
              "loo_spearman_with_related": joint.loo_spearman(len(yt)),
              "loo_log_density_alone": alone.inner.loo_log_density(len(yt)),
              "loo_log_density_with_related": joint.loo_log_density(len(yt)),
              "loo_gain": float(gain.mean()), "loo_gain_se": gain_se}
    chosen: Surrogate = joint if gain.mean() > RELATED_MARGIN * gain_se else alone
    choice = {"used": chosen is joint, **scores, "task_correlation": joint.task_correlation}
    joint.related_choice = alone.inner.related_choice = choice
    return chosen


RELATED_MARGIN = 0.0
"""Standard errors by which related assays must improve the leave-one-out log predictive density
of the campaign's own values before a round uses them (``fit_with_related``; see there why 0)."""


class WithoutColumn(Surrogate):
    """A fitted surrogate that never saw column ``column`` of the features it is asked about (the
    task column, when related assays were left out): it keeps its fast paths."""

    def __init__(self, model: Surrogate, column: int) -> None:
        self.inner = model
        self.column = column
        self.name = model.name

    @property
    def related_choice(self) -> dict | None:
        """The inner model's record of the related-assay choice."""
        return getattr(self.inner, "related_choice", None)

    def _cut(self, X: np.ndarray) -> np.ndarray:
        return np.delete(np.asarray(X), self.column, axis=1)

    def fit(self, X: np.ndarray, y: np.ndarray) -> WithoutColumn:  # noqa: D102
        self.inner.fit(self._cut(X), y)
        return self

    def predict(self, X: np.ndarray) -> Prediction:  # noqa: D102
        return self.inner.predict(self._cut(X))

    def predict_mean(self, X: np.ndarray) -> np.ndarray:  # noqa: D102
        return self.inner.predict_mean(self._cut(X))

    def sample(self, X: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:  # noqa: D102
        return self.inner.sample(self._cut(X), n_samples, rng)

    def std_bound(self) -> float | None:  # noqa: D102
        return self.inner.std_bound()


@dataclass(frozen=True)
class RoundResult:
    """Rows chosen for the next batch, the surrogate that chose them and its predictions for them
    (``None`` for random)."""

    rows: np.ndarray
    surrogate: Surrogate | None
    prediction: Prediction | None = None
    local: int = 0
    """How many of ``rows`` (the last) were chosen in the neighbourhood of the best measured."""


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
    related: Related | None = None,
    local: Neighbourhood | None = None,
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
        related: measurements in a related assay, a second task for the surrogate (its values
            transformed on their own); the batch is chosen for the campaign's own task.
        local: the round's neighbourhood of the best measured variants
            (:func:`~activeloop.ml.neighbourhood.neighbourhood`): the batch less ``local.size``
            is chosen over the whole library, then ``local.size`` there (the last rows).

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
    cands, task_column = with_task_column(cands, related)
    if prior is not None:
        if len(prior) != len(cands):
            raise ConfigError("prior", f"{len(prior)} prior scores for {len(cands)} candidates")
        cands = cands.with_column(standardised(np.asarray(prior, dtype=np.float64)))
    model: Surrogate | None = None
    yt = transform_targets(y, transform)
    with single_threaded():  # the same batch whatever the machine's thread count
        if strategy.needs_model:
            model = fit_with_related(cands, measured, yt, surrogate, seed=seed, prior=prior is not None,
                                     related=related, task_column=task_column, transform=transform)
        best = float(yt.max()) if len(yt) else 0.0
        if shards <= 1:
            pool = strategy.pool(model, cands, available, q, best)
        else:
            avail = available_rows(available, q)
            blocked = np.flatnonzero(~available)
            tops = [shard_top(strategy, model, cands, free_rows(*shard_range(len(cands), shards, i), blocked),
                              q, len(avail), best) for i in range(shards)]
            pool = merge_shards(strategy, tops, q, len(avail), best)
        rows, near = choose_batch(strategy, model, cands, pool, q, best, rng, local, available)
        prediction = model.predict(cands.features(rows)) if model is not None else None
    return RoundResult(rows=rows, surrogate=model, prediction=prediction, local=near)
