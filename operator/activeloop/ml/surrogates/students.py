"""A student ensemble as the surrogate: distilled from a GP teacher, uncertainty from disagreement.

``fit`` fits the teacher (the epistasis GP by default) on the measured variants. The first
``predict``/``sample`` over a candidate set labels ``unlabelled`` random candidates with the
teacher's mean and trains ``members`` CNN students on them plus the measured values (bootstraps,
different seeds); the students then score every candidate, and their spread is the uncertainty.
Input must be one-hot features (``N x 20P``), which the students read per position.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from typing_extensions import override

from activeloop.errors import ConfigError
from activeloop.ml.surrogates.base import Prediction, Surrogate
from activeloop.ml.surrogates.gp import GPSurrogate


class StudentEnsembleSurrogate(Surrogate):
    """CNN students of a GP teacher; see the module docstring."""

    name = "student_ensemble"

    def __init__(self, members: int = 4, channels: int = 16, unlabelled: int = 20_000,
                 epochs: int = 30, teacher_kernel: str = "epistasis", seed: int = 0) -> None:
        self.members, self.channels, self.unlabelled = members, channels, unlabelled
        self.epochs, self.seed = epochs, seed
        self.teacher = GPSurrogate(kernel=teacher_kernel)
        self.X_train: np.ndarray | None = None
        self._y_train: np.ndarray | None = None
        self._ensemble: Any = None

    @override
    def fit(self, X: np.ndarray, y: np.ndarray) -> StudentEnsembleSurrogate:
        if X.shape[1] % 20 or not np.isin(X, (0.0, 1.0)).all():
            raise ConfigError("surrogate", "student_ensemble needs one-hot features (encoding: onehot)")
        self.teacher.fit(X, y)
        self.X_train, self._y_train = X, np.asarray(y, dtype=np.float64)
        self._ensemble = None
        return self

    def _students(self, X: np.ndarray):  # noqa: ANN202 (distill.StudentEnsemble)
        if self._ensemble is None:  # once per fit: the first candidate set asked about is the pool
            from activeloop.ml.distill import train_ensemble

            assert self.X_train is not None, "fit() first"
            rng = np.random.default_rng(self.seed)
            pool = X[rng.choice(len(X), size=min(self.unlabelled, len(X)), replace=False)]
            inputs = np.vstack([pool, self.X_train])
            targets = np.concatenate([self.teacher.predict(pool).mean, self._y_train])
            self._ensemble = train_ensemble(inputs, targets, members=self.members,
                                            channels=self.channels, epochs=self.epochs, seed=self.seed)
        return self._ensemble

    @override
    def predict(self, X: np.ndarray) -> Prediction:
        return self._students(X).predict(X)

    def member_predictions(self, X: np.ndarray) -> np.ndarray:
        """``members x N`` student predictions."""
        return self._students(X).member_predictions(X)

    @override
    def sample(self, X: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        preds = self.member_predictions(X)
        return preds[rng.integers(0, len(preds), n_samples)]
