"""Batch acquisition over a discrete candidate library.

Every strategy takes a fitted :class:`~activeloop.ml.surrogates.base.Surrogate`, the candidates
(:class:`~activeloop.ml.candidates.Candidates`, whose features are computed a chunk at a time, or
an ``N x d`` matrix), a boolean mask of candidates that may be chosen (``available``: not
measured, not pending), the batch size ``q``, the best value measured so far and a random
generator, and returns ``q`` distinct row indices into ``X``. Strategies are chosen by config name
through :data:`STRATEGIES` (``get_strategy("thompson")``).

Scaling: every strategy but random first keeps the best candidates by a score of the marginal
prediction (mean, standard deviation, UCB, log-EI), computed chunk by chunk with a running top
(:func:`~activeloop.ml.candidates.top_k`); joint and Monte-Carlo computations (Thompson draws,
BoTorch's qLogNEI) then run on that *shortlist* only. A surrogate that can bound its standard
deviation cheaply (a GP: the prior's) has the variance, ``O(n^2)`` per candidate, computed only for
candidates whose score at that bound could still enter the shortlist. The choice is the same as
scoring every candidate, whatever the chunk size; memory is bounded by the chunk.

Example:
    >>> strategy = get_strategy("thompson")
    >>> rows = strategy.select(surrogate, X, available, q=96, best_f=y.max(), rng=rng)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
from typing_extensions import override

from activeloop.errors import ConfigError
from activeloop.ml.candidates import Candidates, as_candidates, top_k
from activeloop.ml.surrogates.base import Surrogate
from activeloop.registry import Registry

__all__ = [
    "STRATEGIES",
    "AcquisitionStrategy",
    "Shortlist",
    "Greedy",
    "LogExpectedImprovement",
    "RandomStrategy",
    "ThompsonSampling",
    "UpperConfidenceBound",
    "Uncertainty",
    "available_rows",
    "best_by",
    "get_strategy",
]


def available_rows(available: np.ndarray, q: int) -> np.ndarray:
    """Rows of the ``available`` mask; an error naming ``batch_size`` if fewer than ``q``."""
    avail = np.nonzero(available)[0]
    if q < 1:
        raise ConfigError("batch_size", f"must be at least 1, got {q}")
    if len(avail) < q:
        raise ConfigError(
            "batch_size", f"{q} proposals asked but only {len(avail)} candidates are available"
        )
    return avail


def _fitted(surrogate: Surrogate | None) -> Surrogate:
    if surrogate is None:
        raise ConfigError("surrogate", "this strategy needs a fitted surrogate")
    return surrogate


ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(mean, std) -> score``, non-decreasing in ``std`` (so a bound on ``std`` bounds the score)."""


def best_by(surrogate: Surrogate | None, candidates: Candidates, rows: np.ndarray, k: int,
            score: ScoreFn) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows with the highest ``score`` of the marginal prediction (ties: lower row) and
    their scores, best first, chunk by chunk, computing variances only where the surrogate's bound
    says they can matter. Top lists of disjoint parts of ``rows`` merge (``merge_top``) into the
    top list of the whole: this is what each shard of a sharded acquisition computes."""
    model = _fitted(surrogate)

    def exact(X: np.ndarray) -> np.ndarray:
        pred = model.predict(X)
        return score(pred.mean, pred.std)

    bound = None
    if model.std_bound() is not None:
        def bound(X: np.ndarray) -> np.ndarray:
            mean = model.predict_mean(X)
            return score(mean, np.full_like(mean, model.std_bound()))

    return top_k(candidates, rows, k, exact, bound)


Shortlist = tuple[int, ScoreFn]
"""How many candidates a strategy's joint choice needs, and the marginal score that ranks them."""


STRATEGIES: Registry[Callable[..., AcquisitionStrategy]] = Registry("acquisition.strategy", "strategy")
"""Acquisition strategies by config name (``acquisition.strategy``)."""


class AcquisitionStrategy(ABC):
    """Chooses a batch of ``q`` distinct available candidates, in two parts: a *shortlist* of the
    best candidates by a marginal score (:meth:`shortlist`; computed chunk by chunk, or by shards
    that each rank a slice of the library), then the joint choice among them (:meth:`choose`)."""

    name: str = ""
    needs_model: bool = True

    def shortlist(self, q: int, available: int, best_f: float) -> Shortlist | None:
        """``(k, score)``: :meth:`choose` needs the ``k`` best by ``score``; ``None``: it looks at
        every available row (in row order)."""
        return None

    @abstractmethod
    def choose(self, surrogate: Surrogate | None, candidates: Candidates, rows: np.ndarray, q: int,
               best_f: float, rng: np.random.Generator) -> np.ndarray:
        """The batch (``q`` distinct rows) from ``rows``: the shortlist, best first, or every
        available row when :meth:`shortlist` is ``None``."""

    def pool(self, surrogate: Surrogate | None, X: Candidates | np.ndarray, available: np.ndarray, q: int,
             best_f: float) -> np.ndarray:
        """The rows :meth:`choose` chooses a batch of ``q`` from: the shortlist of the ``available``
        rows, best first, or every available row."""
        avail = available_rows(available, q)
        plan = self.shortlist(q, len(avail), best_f)
        return best_by(surrogate, as_candidates(X), avail, *plan)[0] if plan is not None else avail

    def select(
        self,
        surrogate: Surrogate | None,
        X: Candidates | np.ndarray,
        available: np.ndarray,
        q: int,
        best_f: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Row indices (``q``, distinct, all ``available``) of the next batch."""
        return self.choose(surrogate, as_candidates(X), self.pool(surrogate, X, available, q, best_f), q, best_f, rng)


@STRATEGIES.register("random")
class RandomStrategy(AcquisitionStrategy):
    """Uniformly random batch: the baseline every strategy must beat."""

    name = "random"
    needs_model = False

    @override
    def choose(self, surrogate: Surrogate | None, candidates: Candidates, rows: np.ndarray, q: int,
               best_f: float, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(rows, size=q, replace=False)


class _TopByScore(AcquisitionStrategy):
    """The ``q`` best by a marginal score: the shortlist is the batch."""

    def score(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """The marginal score (non-decreasing in ``std``)."""
        raise NotImplementedError

    @override
    def shortlist(self, q: int, available: int, best_f: float) -> Shortlist | None:
        return q, self.score

    @override
    def choose(self, surrogate: Surrogate | None, candidates: Candidates, rows: np.ndarray, q: int,
               best_f: float, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(rows[:q], dtype=np.int64)


@STRATEGIES.register("greedy")
class Greedy(_TopByScore):
    """The ``q`` highest predicted means (pure exploitation)."""

    name = "greedy"

    @override
    def score(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        return mean


@STRATEGIES.register("uncertainty")
class Uncertainty(_TopByScore):
    """The ``q`` highest predictive standard deviations (pure exploration)."""

    name = "uncertainty"

    @override
    def score(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        return std


@STRATEGIES.register("ucb")
class UpperConfidenceBound(_TopByScore):
    """Batch UCB: the ``q`` highest ``mean + beta * std``.

    Args:
        beta: weight of the standard deviation (``beta = 2`` is about a 98% one-sided bound).
    """

    name = "ucb"

    def __init__(self, beta: float = 2.0) -> None:
        self.beta = beta

    @override
    def score(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        return mean + self.beta * std


@STRATEGIES.register("thompson")
class ThompsonSampling(AcquisitionStrategy):
    """Batch Thompson sampling: each of ``q`` posterior draws proposes its best unchosen candidate.

    Draws are joint over a shortlist of the ``shortlist`` candidates with the highest
    ``mean + shortlist_beta * std`` (a candidate outside it has a negligible chance of being any
    draw's maximum), so the cost does not grow with the library beyond one marginal prediction.

    Args:
        shortlist: candidates kept for the joint draws.
        shortlist_beta: UCB weight used to shortlist.
    """

    name = "thompson"

    def __init__(self, shortlist: int = 1500, shortlist_beta: float = 3.0) -> None:
        self.size = shortlist
        self.shortlist_beta = shortlist_beta

    @override
    def shortlist(self, q: int, available: int, best_f: float) -> Shortlist | None:
        if available <= self.size:
            return None
        beta = self.shortlist_beta
        return self.size, lambda mean, std: mean + beta * std

    @override
    def choose(self, surrogate: Surrogate | None, candidates: Candidates, rows: np.ndarray, q: int,
               best_f: float, rng: np.random.Generator) -> np.ndarray:
        draws = _fitted(surrogate).sample(candidates.features(rows), q, rng)  # q x K
        chosen: list[int] = []
        taken = np.zeros(len(rows), dtype=bool)
        for k in range(q):
            scores = np.where(taken, -np.inf, draws[k])
            j = int(np.argmax(scores))
            taken[j] = True
            chosen.append(int(rows[j]))
        return np.asarray(chosen, dtype=np.int64)


@STRATEGIES.register("logei", "qlognei")
class LogExpectedImprovement(AcquisitionStrategy):
    """Batch noisy log-EI (BoTorch ``qLogNoisyExpectedImprovement``) on a shortlist.

    BoTorch's sequential greedy ``optimize_acqf_discrete`` is used over the ``shortlist``
    candidates with the highest analytic log-EI. GPs are BoTorch models; ensembles (trees, MLPs,
    students) are seen as BoTorch ensemble models whose posterior is sampled by member.

    Args:
        shortlist: candidates given to the optimiser.
        mc_samples: quasi-Monte-Carlo samples of the acquisition function.
    """

    name = "logei"

    def __init__(self, shortlist: int = 256, mc_samples: int = 64) -> None:
        self.size = shortlist
        self.mc_samples = mc_samples

    @override
    def shortlist(self, q: int, available: int, best_f: float) -> Shortlist | None:
        from scipy.special import log_ndtr

        def log_ei(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
            # log EI = log(std) + log(z Phi(z) + phi(z)), computed stably enough for ranking;
            # EI grows with std, so a bound on std bounds it
            z = (mean - best_f) / np.maximum(std, 1e-12)
            return np.log(np.maximum(std, 1e-12)) + np.logaddexp(
                np.log(np.maximum(z, 1e-300)) + log_ndtr(z), -0.5 * z * z - 0.5 * np.log(2 * np.pi)
            )

        return max(self.size, q), log_ei

    @override
    def choose(self, surrogate: Surrogate | None, candidates: Candidates, rows: np.ndarray, q: int,
               best_f: float, rng: np.random.Generator) -> np.ndarray:
        import torch
        from botorch.acquisition.logei import qLogNoisyExpectedImprovement
        from botorch.optim import optimize_acqf_discrete
        from botorch.sampling import MCSampler, SobolQMCNormalSampler

        from activeloop.ml.surrogates.botorch_view import MemberEnsembleModel, botorch_view

        model, X_baseline = botorch_view(surrogate)
        choices = torch.as_tensor(candidates.features(rows), dtype=torch.float64)
        sampler: MCSampler
        if isinstance(model, MemberEnsembleModel):
            from botorch.sampling.index_sampler import IndexSampler

            sampler = IndexSampler(torch.Size([self.mc_samples]), seed=int(rng.integers(2**31)))
        else:
            sampler = SobolQMCNormalSampler(
                torch.Size([self.mc_samples]), seed=int(rng.integers(2**31))
            )
        acq = qLogNoisyExpectedImprovement(
            model, X_baseline=X_baseline, sampler=sampler, prune_baseline=True
        )
        cand, _ = optimize_acqf_discrete(acq, q=q, choices=choices, unique=True)
        # optimize_acqf_discrete returns rows, not indices: map them back
        lookup = {tuple(r): i for i, r in enumerate(choices.numpy().tolist())}
        return np.asarray([rows[lookup[tuple(r)]] for r in cand.numpy().tolist()], dtype=np.int64)


def get_strategy(name: str, **options: float) -> AcquisitionStrategy:
    """The strategy registered under ``name``, built with ``options``."""
    return STRATEGIES.get(name)(**options)
