"""A prior score for surrogates that have no prior mean of their own (ensembles).

The last column of ``X`` is a score (standardised zero-shot score). :class:`PriorMeanSurrogate`
fits ``y ~ c + w * score`` by least squares, and the inner surrogate learns what the score leaves
unexplained from the other columns; predictions add the two. It is the GP's learned prior mean
(:class:`~activeloop.ml.surrogates.gp.PriorScoreMean`) for any surrogate: with a score that does not
explain the data, ``w`` is about zero and the inner model sees the data as it would without it.
(Giving trees the score as a plain feature instead lets them split on noise at small ``n``.)
"""

from __future__ import annotations

import numpy as np
from typing_extensions import override

from activeloop.ml.surrogates.base import Prediction, Surrogate


class PriorMeanSurrogate(Surrogate):
    """``c + w * X[:, -1]`` plus ``inner`` fitted on the residuals from ``X[:, :-1]``."""

    def __init__(self, inner: Surrogate) -> None:
        self.inner = inner
        self.name = inner.name
        self.coef = (0.0, 0.0)

    @property
    def prior_weight(self) -> float:
        """The learned weight ``w`` of the score."""
        return self.coef[1]

    def _line(self, X: np.ndarray) -> np.ndarray:
        return self.coef[0] + self.coef[1] * X[:, -1]

    @override
    def fit(self, X: np.ndarray, y: np.ndarray) -> PriorMeanSurrogate:
        design = np.column_stack([np.ones(len(X)), X[:, -1]])
        c, w = np.linalg.lstsq(design, y, rcond=None)[0]
        self.coef = (float(c), float(w))
        self.inner.fit(X[:, :-1], y - self._line(X))
        return self

    @override
    def predict(self, X: np.ndarray) -> Prediction:
        pred = self.inner.predict(X[:, :-1])
        return Prediction(mean=pred.mean + self._line(X), std=pred.std)

    @override
    def sample(self, X: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        return self.inner.sample(X[:, :-1], n_samples, rng) + self._line(X)[None, :]


__all__ = ["PriorMeanSurrogate"]
