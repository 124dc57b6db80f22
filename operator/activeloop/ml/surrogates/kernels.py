"""GPyTorch kernels for sequence features, chosen by name through :data:`KERNELS`."""

from __future__ import annotations

from collections.abc import Callable
from math import factorial

import torch
from gpytorch.constraints import Positive
from gpytorch.kernels import Kernel, RBFKernel, ScaleKernel


class EpistasisKernel(Kernel):
    """All-orders epistasis kernel on one-hot features.

    With ``m`` the number of positions at which two variants carry the same residue
    (``m = x1 · x2`` for one-hot inputs), ``k(x1, x2) = sum_{j=0..J} w_j * C(m, j)``: ``w_1``
    weighs additive (single-site) effects, ``w_2`` pairwise epistasis, and so on. It equals a
    Bayesian linear model over indicators of every residue ``j``-tuple with prior variance ``w_j``;
    the weights are learned by marginal likelihood. ``J`` is ``max_order``.
    """

    has_lengthscale = False

    def __init__(self, max_order: int = 4, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_order = max_order
        self.register_parameter("raw_weights", torch.nn.Parameter(torch.zeros(max_order + 1)))
        self.register_constraint("raw_weights", Positive())

    @property
    def weights(self) -> torch.Tensor:
        """Non-negative weights ``w_0 .. w_J`` of the interaction orders."""
        return self.raw_weights_constraint.transform(self.raw_weights)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params):
        m = (x1 * x2).sum(-1) if diag else x1 @ x2.transpose(-2, -1)
        w = self.weights
        out = torch.zeros_like(m)
        falling = torch.ones_like(m)  # m (m-1) ... (m-j+1)
        for j in range(self.max_order + 1):
            if j:
                falling = falling * (m - (j - 1))
            out = out + w[..., j] * falling / factorial(j)
        return out


def _rbf(dim: int) -> Kernel:
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior

    return get_covar_module_with_dim_scaled_prior(ard_num_dims=dim)


def _epistasis_rbf(dim: int) -> Kernel:
    """Epistasis kernel on the one-hot block plus an ARD RBF on the descriptor block.

    For ``onehot_physchem`` features (``20·P`` one-hot then ``23·P`` descriptors).
    """
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior

    if dim % 43:
        raise ValueError(f"epistasis_rbf expects onehot_physchem features (43 per site), got {dim}")
    n_onehot = dim // 43 * 20
    onehot = EpistasisKernel(max_order=4, active_dims=torch.arange(n_onehot))
    desc = get_covar_module_with_dim_scaled_prior(
        ard_num_dims=dim - n_onehot, active_dims=torch.arange(n_onehot, dim)
    )
    return onehot + ScaleKernel(desc)


KERNELS: dict[str, Callable[[int], Kernel]] = {
    "rbf": _rbf,
    "epistasis": lambda dim: EpistasisKernel(max_order=4),
    "epistasis2": lambda dim: EpistasisKernel(max_order=2),
    "epistasis_rbf": _epistasis_rbf,
}
"""GP kernels by config name; each factory takes the input dimension."""

__all__ = ["KERNELS", "EpistasisKernel", "RBFKernel", "ScaleKernel"]
