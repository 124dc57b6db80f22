"""GPyTorch kernels for sequence features, chosen by name through :data:`KERNELS`."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from itertools import combinations
from math import comb, factorial
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from gpytorch.constraints import Positive
from gpytorch.kernels import Kernel
from typing_extensions import override

from activeloop.registry import Registry

if TYPE_CHECKING:
    from activeloop.ml.encodings import SparseOneHot


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
        m = (x1 * x2).sum(-1) if diag else _matches(x1, x2)
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


_LAST_MATCHES: tuple[weakref.ref[torch.Tensor], int, torch.Tensor] | None = None
"""The training inputs' matches, kept while the optimiser fits the kernel's weights (the same
tensor at every step: one product instead of one per step)."""


def _matches(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``x1 @ x2^T``; for a tensor with itself (the training inputs while fitting) computed once
    while that tensor lives unchanged (same object, same version)."""
    global _LAST_MATCHES
    if x1 is not x2 or x1.dim() != 2:
        return x1 @ x2.transpose(-2, -1)
    last = _LAST_MATCHES
    if last is not None and last[0]() is x1 and last[1] == x1._version:
        return last[2]
    m = x1 @ x2.transpose(-2, -1)
    _LAST_MATCHES = (weakref.ref(x1), x1._version, m)
    return m


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


class SubstitutionKernel:
    """Rows of the one-hot :class:`EpistasisKernel` against the training variants for candidates
    given as substitutions (:class:`~activeloop.ml.encodings.SparseOneHot`), in ``O(substitutions)``
    per candidate rather than ``O(20 P)``, and the posterior mean in ``O(1)`` more.

    ``m`` (the residues two variants share) is ``P - s - s_t + e``: ``s`` and ``s_t`` their numbers
    of substitutions, and ``e`` counts, over the candidate's substitutions, the training variant's
    substitution at the same site (one) and the same substitution (one more). ``e`` is zero unless
    the two share a site, so ``sum_t alpha_t k(m_t)`` is a constant per ``s`` plus corrections for
    the few training variants that share a site with the candidate (a sparse product). The numbers
    are those of the kernel's own lookup table: equal to the dense path's up to rounding.
    """

    def __init__(self, kernel: EpistasisKernel, train_tokens: np.ndarray, parent_tokens: np.ndarray,
                 alpha: np.ndarray, inverse: np.ndarray | None = None) -> None:
        """``alpha``: ``(K + noise)^-1 (y - prior mean)``; ``inverse``: ``(K + noise)^-1``, for
        :meth:`predict`'s variances."""
        from scipy import sparse

        P = len(parent_tokens)
        with torch.no_grad():
            self.table = kernel._series(torch.arange(P + 1, dtype=torch.float64)).numpy()
        changed = train_tokens != parent_tokens[None, :]
        t, site = np.nonzero(changed)
        res = train_tokens[t, site].astype(np.int64)
        n = len(train_tokens)
        ones = np.ones(len(t))
        self.W = sparse.csr_matrix((np.concatenate([ones, ones]), (np.concatenate([site * 20 + res, 20 * P + site]),
                                                                   np.concatenate([t, t]))), shape=(21 * P, n))
        self.P = P
        self.base = P - changed.sum(axis=1)
        self.alpha = np.asarray(alpha, dtype=np.float64)
        # a pair's m without shared sites, clipped at 0 (a pair below 0 shares sites: corrected below)
        self.rows = self.table[np.clip(self.base[None, :] - np.arange(P + 1)[:, None], 0, P)]  # (P + 1) x n
        self.constant = self.rows @ self.alpha
        self.inverse = inverse
        if inverse is not None:  # k_x = rows[s] + delta_x: the quadratic form's dense part, once per s
            self.g = self.rows @ inverse
            self.h = np.einsum("sn,sn->s", self.g, self.rows)

    def _shared(self, X: SparseOneHot) -> Any:
        """``e`` for every (candidate, training variant) pair that shares a site (a sparse matrix)."""
        from scipy import sparse

        P = self.P
        ones = np.ones(len(X.row))
        C = sparse.csr_matrix((np.concatenate([ones, ones]), (np.concatenate([X.row, X.row]),
                               np.concatenate([X.site * 20 + X.residue, 20 * P + X.site]))), shape=(X.n, 21 * P))
        return (C @ self.W).tocoo()

    def cross(self, X: SparseOneHot) -> np.ndarray:
        """``K(X, train)``: ``n x n_train``."""
        s = X.counts
        K = self.table[np.clip(self.base[None, :] - s[:, None], 0, self.P)]
        E = self._shared(X)
        K[E.row, E.col] = self.table[self.base[E.col] - s[E.row] + E.data.astype(np.int64)]
        return K

    def _delta(self, X: SparseOneHot) -> tuple[np.ndarray, Any, np.ndarray]:
        """Substitution counts, the shared-site pairs, and ``k_x - rows[s]`` at those pairs."""
        s = X.counts
        E = self._shared(X)
        m0 = self.base[E.col] - s[E.row]
        return s, E, self.table[m0 + E.data.astype(np.int64)] - self.table[np.clip(m0, 0, self.P)]

    def mean(self, X: SparseOneHot) -> np.ndarray:
        """``K(X, train) @ alpha``: ``n``."""
        s, E, delta = self._delta(X)
        return self.constant[s] + np.bincount(E.row, weights=self.alpha[E.col] * delta, minlength=X.n)

    def predict(self, X: SparseOneHot) -> tuple[np.ndarray, np.ndarray]:
        """``K(X, train) @ alpha`` and the posterior variances ``k(x, x) - k_x^T (K + noise)^-1 k_x``,
        with ``k_x = rows[s] + delta`` expanded: ``h[s] + 2 g[s] . delta + delta^T inverse delta``
        (``O(pairs^2)`` per candidate for the pairs sharing a site)."""
        assert self.inverse is not None, "built without the inverse"
        s, E, delta = self._delta(X)
        mean = self.constant[s] + np.bincount(E.row, weights=self.alpha[E.col] * delta, minlength=X.n)
        row, col = E.row, E.col  # grouped by row (a CSR product)
        quad = self.h[s] + 2 * np.bincount(row, weights=self.g[s[row], col] * delta, minlength=X.n)
        count = np.bincount(row, minlength=X.n)
        first = np.cumsum(count) - count
        for c in np.unique(count[count > 0]):  # candidates with c shared-site entries: c x c blocks
            rows = np.flatnonzero(count == c)
            for part in np.array_split(rows, max(1, len(rows) * c * c // (1 << 22))):
                idx = first[part][:, None] + np.arange(c)
                cols, d = col[idx], delta[idx]
                quad[part] += np.einsum("ri,rj,rij->r", d, d, self.inverse[cols[:, :, None], cols[:, None, :]])
        return mean, self.table[self.P] - quad


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

__all__ = ["KERNELS", "EpistasisKernel", "EpistasisTables", "SoftEpistasisKernel", "SubstitutionKernel",
           "one_hot_tokens"]
