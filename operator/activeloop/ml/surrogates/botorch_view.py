"""Surrogates as BoTorch models, so BoTorch acquisition functions work with every surrogate.

GPs already are BoTorch models. An ensemble (boosted trees, MLPs, distilled students) becomes a
BoTorch ``EnsembleModel``: its posterior is the members' predictions, which BoTorch samples by
member index, so ``qLogNoisyExpectedImprovement`` and friends run on it unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from botorch.models.ensemble import EnsembleModel

from activeloop.errors import ConfigError


class MemberEnsembleModel(EnsembleModel):
    """A BoTorch view of any surrogate with ``member_predictions(X) -> members x N``."""

    def __init__(self, surrogate: Any) -> None:
        super().__init__()
        self._surrogate = surrogate
        self._num_outputs = 1

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``batch x n x d`` -> ``batch x s x n x 1`` member predictions (no gradients)."""
        flat = X.detach().reshape(-1, X.shape[-1]).cpu().numpy()
        preds = np.asarray(self._surrogate.member_predictions(flat))  # s x (batch*n)
        out = torch.as_tensor(preds, dtype=X.dtype).reshape(len(preds), *X.shape[:-1], 1)
        return out.movedim(0, -3)


def botorch_view(surrogate: Any) -> tuple[Any, torch.Tensor]:
    """``(model, X_baseline)`` of a fitted surrogate for BoTorch acquisition functions."""
    model = getattr(surrogate, "model", None)
    if model is not None and hasattr(model, "train_inputs"):
        return model, model.train_inputs[0]
    X_train = getattr(surrogate, "X_train", None)
    if hasattr(surrogate, "member_predictions") and X_train is not None:
        return MemberEnsembleModel(surrogate), torch.as_tensor(X_train, dtype=torch.float64)
    raise ConfigError("acquisition", f"{type(surrogate).__name__} cannot be used as a BoTorch model")
