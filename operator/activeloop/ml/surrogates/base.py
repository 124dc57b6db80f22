"""The surrogate interface: a regression model with predictive uncertainty."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """Marginal predictive distribution at N points (``mean`` and ``std`` are both shape ``N``)."""

    mean: np.ndarray
    std: np.ndarray


class Surrogate(ABC):
    """A model of fitness with uncertainty, fitted on ``n x d`` features.

    Subclasses implement :meth:`fit`, :meth:`predict` (marginals) and :meth:`sample` (joint draws
    used by Thompson sampling). All arrays are float64 numpy arrays in the units of ``y``.
    """

    name: str = ""

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray) -> Surrogate:
        """Fit on ``X`` (``n x d``) and ``y`` (``n``); returns ``self``."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> Prediction:
        """Marginal predictive mean and standard deviation at ``X`` (``N x d``)."""

    @abstractmethod
    def sample(self, X: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """``n_samples x N`` draws of the function at ``X`` (jointly over the N points)."""

    def std_bound(self) -> float | None:
        """An upper bound of :meth:`predict`'s standard deviation anywhere, if one is cheap (a GP's
        prior standard deviation); ``None`` when there is none. Acquisition then computes variances
        only where this bound says they can change the choice."""
        return None

    def predict_mean(self, X: np.ndarray) -> np.ndarray:
        """The predictive mean alone (cheaper than :meth:`predict` where the surrogate allows)."""
        return self.predict(X).mean
