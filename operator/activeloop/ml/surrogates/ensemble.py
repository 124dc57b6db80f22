"""Ensemble surrogates: the spread of independently trained members is the uncertainty.

Members are trained on bootstrap resamples with different seeds. Thompson sampling draws one
member per sample (the ensemble is treated as samples from an approximate posterior).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from typing_extensions import override

from activeloop.ml.surrogates.base import Prediction, Surrogate
from activeloop.registry import Registry

Member = Callable[[np.ndarray, np.ndarray, int], Callable[[np.ndarray], np.ndarray]]
"""``member(X, y, seed) -> predict`` trains one member and returns its prediction function."""


def boosting_member(X: np.ndarray, y: np.ndarray, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A gradient-boosted tree regressor (scikit-learn's histogram GBM)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(
        max_iter=200, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=5, random_state=seed
    )
    model.fit(X, y)
    return model.predict


def mlp_member(
    X: np.ndarray, y: np.ndarray, seed: int, hidden: int = 64, epochs: int = 300
) -> Callable[[np.ndarray], np.ndarray]:
    """A two-layer MLP trained with Adam and weight decay (full batch)."""
    from activeloop.ml.determinism import seeded

    with seeded(seed):  # initial weights from the seed; the caller's random state untouched
        net = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 1))
    xt = torch.as_tensor(X, dtype=torch.float32)
    mu, sd = float(y.mean()), float(y.std() or 1.0)
    yt = torch.as_tensor((y - mu) / sd, dtype=torch.float32).unsqueeze(-1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(xt), yt)
        loss.backward()
        opt.step()
    net.eval()

    def predict(Xq: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = net(torch.as_tensor(Xq, dtype=torch.float32)).squeeze(-1).numpy()
        return out.astype(np.float64) * sd + mu

    return predict


MEMBERS: Registry[Member] = Registry("member", "ensemble member")
MEMBERS.add("boosting", boosting_member)
MEMBERS.add("mlp", mlp_member)


class EnsembleSurrogate(Surrogate):
    """``n_members`` models of one kind on bootstrap resamples.

    Args:
        member: name in :data:`MEMBERS` (``boosting`` or ``mlp``) or a callable of type
            :data:`Member`.
        n_members: ensemble size.
        bootstrap: resample the training set per member (otherwise only the seed differs).
        seed: base seed.
    """

    name = "ensemble"

    def __init__(
        self, member: str | Member = "boosting", n_members: int = 5, bootstrap: bool = True,
        seed: int = 0,
    ) -> None:
        self.member = MEMBERS.get(member) if isinstance(member, str) else member
        self.n_members = n_members
        self.bootstrap = bootstrap
        self.seed = seed
        self.members: list[Callable[[np.ndarray], np.ndarray]] = []
        self.X_train: np.ndarray | None = None

    @override
    def fit(self, X: np.ndarray, y: np.ndarray) -> EnsembleSurrogate:
        rng = np.random.default_rng(self.seed)
        self.X_train = X
        self.members = []
        for k in range(self.n_members):
            rows = rng.integers(0, len(X), len(X)) if self.bootstrap else np.arange(len(X))
            self.members.append(self.member(X[rows], y[rows], self.seed * 1000 + k))
        return self

    def member_predictions(self, X: np.ndarray) -> np.ndarray:
        """``n_members x N`` predictions."""
        assert self.members, "fit() first"
        return np.stack([m(X) for m in self.members])

    @override
    def predict(self, X: np.ndarray) -> Prediction:
        preds = self.member_predictions(X)
        return Prediction(mean=preds.mean(0), std=preds.std(0, ddof=1 if len(preds) > 1 else 0))

    @override
    def sample(self, X: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        preds = self.member_predictions(X)
        return preds[rng.integers(0, len(preds), n_samples)]
