"""GPyTorch kernels for sequence features, chosen by name through :data:`KERNELS`."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import comb, factorial

import numpy as np
import torch
from gpytorch.constraints import Positive
from gpytorch.kernels import Kernel
from typing_extensions import override

from activeloop.registry import Registry


class EpistasisKernel(Kernel):
    """All-orders epistasis kernel on one-hot features.

    With ``m`` the number of positions at which two variants carry the same residue
    (``m = x1 · x2`` for one-hot inputs), ``k(x1, x2) = sum_{j=0..J} w_j * C(m, j)``: ``w_1``
    weighs additive (single-site) effects, ``w_2`` pairwise epistasis, and so on. It equals a
    Bayesian linear model over indicators of every residue ``j``-tuple with prior variance ``w_j``;
    the weights are learned by marginal likelihood. ``J`` is ``max_order``.
    """

    has_lengthscale = False

    def __init__(self, max_order: int = 4, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.max_order = max_order
        self.register_parameter("raw_weights", torch.nn.Parameter(torch.zeros(max_order + 1)))
        self.register_constraint("raw_weights", Positive())

    @property
    def weights(self) -> torch.Tensor:
        """Non-negative weights ``w_0 .. w_J`` of the interaction orders."""
        return self.raw_weights_constraint.transform(self.raw_weights)

    @override
    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: object) -> torch.Tensor:
        m = (x1 * x2).sum(-1) if diag else x1 @ x2.transpose(-2, -1)
        if not torch.is_grad_enabled() and m.dim() == 2 and m.numel() > 4096:
            # predicting: on one-hot inputs m only takes the values 0..P, so the kernel is a
            # lookup in a table of P + 1 values, the same numbers as below (a million candidates
            # against 384 measured: one gather instead of fifteen passes over 400 million entries)
            whole = m.round()
            if torch.equal(whole, m) and whole.min() >= 0:
                return self._series(torch.arange(int(whole.max()) + 1, dtype=m.dtype))[whole.long()]
        return self._series(m)

    def _series(self, m: torch.Tensor) -> torch.Tensor:
        """``sum_j w_j C(m, j)`` elementwise."""
        w = self.weights
        out = torch.zeros_like(m)
        falling = torch.ones_like(m)  # m (m-1) ... (m-j+1)
        for j in range(self.max_order + 1):
            if j:
                falling = falling * (m - (j - 1))
            out = out + w[..., j] * falling / factorial(j)
        return out


def one_hot_tokens(X: np.ndarray, width: int = 20) -> np.ndarray | None:
    """The residue index at each position of one-hot rows (``n x d/width`` ``int64``), or ``None``
    unless every ``width``-wide block of every row of ``X`` holds exactly one 1 and zeros."""
    n, d = X.shape
    if d % width or not d:
        return None
    blocks = X.reshape(n, d // width, width)
    tokens = blocks.argmax(-1)
    if not ((blocks.sum(-1) == 1).all() and ((X == 0) | (X == 1)).all()):
        return None
    return tokens


class EpistasisTables:
    """``K(x, train) @ alpha`` for the one-hot :class:`EpistasisKernel` as a sum of table lookups.

    ``C(m, j)`` counts the ``j``-subsets of positions where ``x`` and a training variant carry the
    same residues, so ``sum_i alpha_i k(x, x_i) = sum_j w_j sum_{|S|=j} T_S[x_S]`` with
    ``T_S[a] = sum of alpha_i over training variants whose residues at S are a`` (a functional
    ANOVA of the posterior mean). Five sites and order 4: 31 lookups per candidate instead of one
    kernel row against every measured variant. The sum is the same number up to rounding (about
    1e-15 relative): acquisition uses it to bound scores, never as a reported prediction.
    """

    MAX_ENTRIES = 1 << 22
    """Largest total table size built (memory: 8 bytes each)."""

    def __init__(self, weights: np.ndarray, train_tokens: np.ndarray, alpha: np.ndarray, width: int = 20) -> None:
        positions = train_tokens.shape[1]
        self.width = width
        self.constant = float(weights[0] * alpha.sum())
        self.terms: list[tuple[tuple[int, ...], np.ndarray, np.ndarray]] = []
        for j in range(1, min(len(weights) - 1, positions) + 1):
            place = width ** np.arange(j - 1, -1, -1)  # residues at the subset's sites -> table row
            for subset in combinations(range(positions), j):
                idx = train_tokens[:, subset] @ place
                table = weights[j] * np.bincount(idx, weights=alpha, minlength=width**j)
                self.terms.append((subset, place, table))

    @staticmethod
    def size(positions: int, max_order: int, width: int = 20) -> int:
        """Entries the tables of ``positions`` one-hot positions up to ``max_order`` would hold."""
        return sum(comb(positions, j) * width**j for j in range(1, min(max_order, positions) + 1))

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        """``K(x, train) @ alpha`` for rows with residues ``tokens`` (``n x P``)."""
        out = np.full(len(tokens), self.constant)
        for subset, place, table in self.terms:
            out += table[tokens[:, subset] @ place]
        return out


class SoftEpistasisKernel(EpistasisKernel):
    """All-orders epistasis kernel with *soft* residue matches (physico-chemical similarity).

    Inputs are per-site descriptor blocks (``P`` sites x ``k`` standardised descriptors, as the
    ``physchem`` encoding gives). Site ``i`` contributes a similarity
    ``s_i = exp(-|d_i - d'_i|^2 / (2 l^2))`` (1 for identical residues), and
    ``k = sum_j w_j e_j(s_1, ..., s_P)`` with ``e_j`` the elementary symmetric polynomials. With
    0/1 similarities ``e_j = C(m, j)``: the one-hot :class:`EpistasisKernel` is the limit
    ``l -> 0``. Weights and the lengthscale are learned by marginal likelihood.
    """

    has_lengthscale = True

    def __init__(self, descriptors: int, max_order: int = 4, **kwargs: object) -> None:
        super().__init__(max_order=max_order, **kwargs)
        self.descriptors = descriptors

    @override
    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: object) -> torch.Tensor:
        k = self.descriptors
        a = x1.reshape(*x1.shape[:-1], -1, k)  # ... n x P x k
        b = x2.reshape(*x2.shape[:-1], -1, k)
        ls = self.lengthscale.squeeze()
        if diag:
            d2 = ((a - b) ** 2).sum(-1)  # n x P
        else:
            # |a|^2 + |b|^2 - 2 a.b per site, without an n x m x P x k tensor
            cross = torch.einsum("...npk,...mpk->...nmp", a, b)
            d2 = ((a**2).sum(-1).unsqueeze(-2) + (b**2).sum(-1).unsqueeze(-3) - 2 * cross).clamp_min(0)
        s = torch.exp(-0.5 * d2 / ls**2)
        w = self.weights
        e = [torch.ones_like(s[..., 0])] + [torch.zeros_like(s[..., 0]) for _ in range(self.max_order)]
        for i in range(s.shape[-1]):
            si = s[..., i]
            for j in range(self.max_order, 0, -1):
                e[j] = e[j] + si * e[j - 1]
        out = torch.zeros_like(e[0])
        for j in range(self.max_order + 1):
            out = out + w[j] * e[j]
        return out


def _soft_epistasis(dim: int) -> Kernel:
    from activeloop.ml.encodings import descriptor_table

    return SoftEpistasisKernel(descriptors=descriptor_table().shape[1])


def _rbf(dim: int) -> Kernel:
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior

    return get_covar_module_with_dim_scaled_prior(ard_num_dims=dim)


KERNELS: Registry[Callable[[int], Kernel]] = Registry("kernel", "GP kernel")
"""GP kernels by config name; each factory takes the input dimension."""
KERNELS.add("rbf", _rbf)
KERNELS.add("epistasis", lambda dim: EpistasisKernel(max_order=4))
KERNELS.add("epistasis2", lambda dim: EpistasisKernel(max_order=2))
KERNELS.add("soft_epistasis", _soft_epistasis)

__all__ = ["KERNELS", "EpistasisKernel", "EpistasisTables", "SoftEpistasisKernel", "one_hot_tokens"]
