"""Exact Gaussian process surrogate (BoTorch ``SingleTaskGP``, double precision)."""

from __future__ import annotations

import warnings
from typing import Any

import gpytorch
import numpy as np
import torch
from typing_extensions import override

from activeloop.errors import ConfigError
from activeloop.ml.encodings import SparseOneHot
from activeloop.ml.surrogates.base import Prediction, Surrogate
from activeloop.ml.surrogates.kernels import (
    KERNELS,
    EpistasisKernel,
    EpistasisTables,
    SubstitutionKernel,
    one_hot_tokens,
)

EXACT_UP_TO = 20_000
"""Training points up to which the GP's fit uses Cholesky factors (exact; GPyTorch's default is 800)."""


class PriorScoreMean(gpytorch.means.Mean):
    """Prior mean ``constant + weight * x[..., column]``: a score as prior knowledge, its weight
    learned (starting from zero: the data must ask for it)."""

    def __init__(self, column: int) -> None:
        super().__init__()
        self.column = column
        self.register_parameter("constant", torch.nn.Parameter(torch.zeros(1)))
        self.register_parameter("weight", torch.nn.Parameter(torch.zeros(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.constant + self.weight * x[..., self.column]


CHOSEN_KERNELS: dict[str, tuple[str, ...]] = {"epistasis_auto": ("epistasis", "epistasis2")}
"""Kernels chosen at each fit among those named, by leave-one-out log predictive density."""


class GPSurrogate(Surrogate):
    """BoTorch ``SingleTaskGP`` (its default ARD RBF kernel with dimension-scaled priors, learned
    noise), fitted by marginal likelihood.

    Marginal predictions over large libraries are computed in chunks from one Cholesky factor of
    the training covariance (``O(n^2)`` per point, no ``N x N`` matrix). Joint samples use the
    model's posterior on the points asked for, so keep ``N`` of :meth:`sample` to a few thousand
    (Thompson sampling shortlists first).

    The fit stays exact up to :data:`EXACT_UP_TO` training points: GPyTorch's default switches
    to conjugate gradients and Lanczos above 800, which on a CPU is several times slower at a few
    thousand points than one Cholesky factor, and approximate.

    With ``prior=True`` the last column of ``X`` is a prior score (a zero-shot score, standardised)
    and not a feature: the GP's prior mean is ``c + w * score`` with ``w`` learned with the other
    hyperparameters by marginal likelihood (about zero when the score does not explain the data),
    and the kernel sees the other columns only.

    With ``tasks > 1`` the last column is a task index: ``0`` the campaign's own assay, ``1..``
    related assays (another temperature, another substrate), and the model is BoTorch's
    ``MultiTaskGP`` (the intrinsic coregionalisation model ``k(x, x') B[s, t]`` with positive task
    correlations, a noise level per task) with this kernel on the features. Predictions are for
    the rows' own task (give candidates task ``0``). Whether related data are worth using at all is
    decided by ``ml.loop.fit_with_related`` (:meth:`loo_log_density`).

    A kernel of :data:`CHOSEN_KERNELS` (``epistasis_auto``) is a choice made at each fit: every
    kernel it names is fitted, and the one whose leave-one-out log predictive density of the
    training targets is highest is kept (:attr:`kernel_choice` records the figures). The
    epistasis kernel's highest interaction order (4, or 2) is chosen that way from the campaign's
    own data, each round.

    Args:
        kernel: name in :data:`KERNELS` or :data:`CHOSEN_KERNELS`.
        chunk: points per chunk in :meth:`predict`.
        prior: the last column of ``X`` is a prior score (see above).
        tasks: number of tasks (see above); ``1``: no task column.
    """

    name = "gp"

    def __init__(self, kernel: str = "rbf", chunk: int = 8192, prior: bool = False, tasks: int = 1) -> None:
        for name in CHOSEN_KERNELS.get(kernel, (kernel,)):
            KERNELS.get(name)  # an unknown name is refused now, not at the first fit
        self.kernel = kernel
        self.kernel_choice: dict[str, Any] | None = None
        """For a chosen kernel: which one this fit kept, and each one's leave-one-out log density."""
        self.chunk = chunk
        self.prior = prior
        self.tasks = tasks
        self.model: Any = None
        self.related_choice: dict[str, Any] | None = None
        """Set by ``ml.loop.fit_with_related``: whether related assays were used, and why."""

    @override
    def fit(self, X: np.ndarray, y: np.ndarray) -> GPSurrogate:
        if self.kernel not in CHOSEN_KERNELS:
            return self._fit(X, y, self.kernel)
        fits = {k: GPSurrogate(k, self.chunk, self.prior, self.tasks)._fit(X, y, k)
                for k in CHOSEN_KERNELS[self.kernel]}
        density = {k: m.loo_log_density(len(y)) for k, m in fits.items()}
        chosen = max(density, key=lambda k: (density[k], -list(fits).index(k)))  # ties: the first named
        kept = self.__dict__ | {}
        self.__dict__.update(fits[chosen].__dict__)
        self.kernel, self.related_choice = kept["kernel"], kept["related_choice"]
        self.kernel_choice = {"kernel": chosen, "loo_log_density": density}
        return self

    def _fit(self, X: np.ndarray, y: np.ndarray, kernel: str) -> GPSurrogate:
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import MultiTaskGP, SingleTaskGP
        from botorch.models.transforms import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        Xt = torch.as_tensor(np.asarray(X), dtype=torch.float64)
        yt = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)
        if self.tasks > 1 and self.prior:
            raise ConfigError("surrogate.prior", "a zero-shot prior and related assays cannot be combined")
        features = Xt.shape[-1] - (1 if self.prior or self.tasks > 1 else 0)
        covar = KERNELS.get(kernel)(features)
        mean = None
        if features < Xt.shape[-1]:
            covar.active_dims = torch.arange(features)
        if self.prior:
            mean = PriorScoreMean(column=features)
        model: Any
        if self.tasks > 1:
            # BoTorch's ICM model: a noise level per task, correlations kept positive (its Beta prior
            # leaning to related), the campaign's own task the one predicted
            model = MultiTaskGP(Xt, yt, task_feature=features, covar_module=covar, output_tasks=[0],
                                outcome_transform=Standardize(m=1))
        else:
            model = SingleTaskGP(Xt, yt, covar_module=covar, mean_module=mean, outcome_transform=Standardize(m=1))
        with warnings.catch_warnings(), gpytorch.settings.max_cholesky_size(EXACT_UP_TO):
            warnings.simplefilter("ignore")
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        model.eval()
        self.model = model
        self._features = features
        self._epistasis_tables: EpistasisTables | None = None
        self._tables_built = False  # built when first asked
        self._substitution: tuple[bytes, SubstitutionKernel | None] | None = None
        with torch.no_grad():
            train_x = model.train_inputs[0]
            K = model.covar_module(train_x).to_dense()
            noise = model.likelihood.noise.reshape(-1)
            if self.tasks > 1:  # each row its task's noise
                noise = noise[train_x[:, features].long()]
            K = K + torch.diag(noise.expand(len(train_x)))
            self._L = torch.linalg.cholesky(K)
            resid = (model.train_targets - self._mean(train_x)).unsqueeze(-1)
            self._alpha = torch.cholesky_solve(resid, self._L)
        return self

    def loo_spearman(self, rows: int) -> float:
        """Spearman correlation of the first ``rows`` training targets (the campaign's own) with
        their leave-one-out means, each predicted from all the others at the fitted
        hyperparameters (closed form: ``K^-1``)."""
        from scipy.stats import spearmanr

        assert self.model is not None, "fit() first"
        with torch.no_grad():
            d = torch.cholesky_inverse(self._L).diagonal()[:rows]
            y = self.model.train_targets[:rows]
            loo = (y - self._alpha.squeeze(-1)[:rows] / d).numpy()
        rho = spearmanr(loo, y.numpy())[0]
        return float(rho) if np.isfinite(rho) else 0.0

    def loo_log_density(self, rows: int) -> float:
        """Mean leave-one-out log predictive density of the first ``rows`` training points (the
        campaign's own, in the targets' units), each predicted from all the others at the fitted
        hyperparameters (closed form: ``K^-1``)."""
        return float(np.mean(self.loo_log_densities(rows)))

    def loo_log_densities(self, rows: int) -> np.ndarray:
        """:meth:`loo_log_density` point by point."""
        assert self.model is not None, "fit() first"
        with torch.no_grad():
            Kinv = torch.cholesky_inverse(self._L)
            d = Kinv.diagonal()[:rows]
            resid = self._alpha.squeeze(-1)[:rows] / d  # y_i - mean_{-i}, standardised
            var = 1.0 / d
            scale = float(self.model.outcome_transform.stdvs.squeeze())
            dens = -0.5 * (np.log(2 * np.pi) + torch.log(var).numpy() + (resid * resid / var).numpy()) - np.log(scale)
        return np.asarray(dens, dtype=np.float64)

    def _mean(self, X: torch.Tensor) -> torch.Tensor:
        """The prior mean at ``X`` (standardised; a multi-task model's for each row's task)."""
        if self.tasks > 1:
            return self.model.forward(X).mean
        return self.model.mean_module(X)

    @property
    def task_correlation(self) -> float | None:
        """The learned correlation of task 1 with the campaign's task 0, ``None`` with one task."""
        if self.tasks < 2 or self.model is None:
            return None
        with torch.no_grad():
            X = torch.zeros(2, self.model.train_inputs[0].shape[-1], dtype=torch.float64)
            X[1, self._features] = 1.0
            B = self.model.covar_module.kernels[1](X).to_dense()
        return float(B[0, 1] / torch.sqrt(B[0, 0] * B[1, 1]))

    @property
    def prior_weight(self) -> float | None:
        """The learned weight of the prior score (standardised units), ``None`` without a prior."""
        if not self.prior or self.model is None:
            return None
        return float(self.model.mean_module.weight.detach())

    @override
    def predict(self, X: np.ndarray) -> Prediction:
        assert self.model is not None, "fit() first"
        m = self.model
        tf = m.outcome_transform
        scale = float(tf.stdvs.squeeze())
        shift = float(tf.means.squeeze())
        sparse = X if isinstance(X, SparseOneHot) else None
        kernel = self._substitution_kernel(sparse) if sparse is not None else None
        if sparse is not None and kernel is not None:  # no kernel matrix at all: O(shared sites^2) each
            mean_s, var = kernel.predict(sparse)
            return Prediction(mean=(mean_s + self._prior_constant()) * scale + shift,
                              std=np.sqrt(np.clip(var, 1e-12, None)) * scale)
        Xt = torch.as_tensor(np.asarray(X if sparse is None else sparse.block(0, 1)), dtype=torch.float64)
        means, stds = [], []
        with torch.no_grad():
            prior_var = m.covar_module(Xt[:1], Xt[:1]).to_dense()[0, 0]
            for start in range(0, len(X), self.chunk):
                if sparse is not None:  # one chunk made dense at most (none with the epistasis kernel)
                    mean, v = self._cross_sparse(sparse.block(start, start + self.chunk))
                else:
                    mean, v = self._cross(Xt[start : start + self.chunk])
                means.append(mean)
                stds.append((prior_var - (v * v).sum(0)).clamp_min(1e-12).sqrt())
        if not means:
            return Prediction(mean=np.zeros(0), std=np.zeros(0))
        return Prediction(mean=torch.cat(means).numpy() * scale + shift, std=torch.cat(stds).numpy() * scale)

    def _substitution_kernel(self, X: SparseOneHot) -> SubstitutionKernel | None:
        """The kernel rows of candidates given as substitutions (the one-hot epistasis kernel, one
        task, no prior); ``None`` otherwise. Built once per fit and parent."""
        key = X.parent_tokens.tobytes()
        if self._substitution is None or self._substitution[0] != key:
            covar = self.model.covar_module
            train = self.model.train_inputs[0].numpy()
            tokens = one_hot_tokens(train)
            kernel = None
            if (type(covar) is EpistasisKernel and self.tasks == 1 and not self.prior and tokens is not None
                    and tokens.shape[1] == len(X.parent_tokens)):
                with torch.no_grad():
                    inverse = torch.cholesky_inverse(self._L).numpy()
                kernel = SubstitutionKernel(covar, tokens, X.parent_tokens, self._alpha.squeeze(-1).numpy(), inverse)
            self._substitution = (key, kernel)
        return self._substitution[1]

    def _cross_sparse(self, X: SparseOneHot) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_cross` for candidates given as substitutions."""
        kernel = self._substitution_kernel(X)
        if kernel is None:
            return self._cross(torch.as_tensor(np.asarray(X), dtype=torch.float64))
        Ks = torch.as_tensor(kernel.cross(X), dtype=torch.float64)
        mean = (Ks @ self._alpha).squeeze(-1) + self._prior_constant()
        return mean, torch.linalg.solve_triangular(self._L, Ks.T, upper=False)

    def _prior_constant(self) -> float:
        """The prior mean (standardised) of a model whose mean is a constant (no prior, one task)."""
        with torch.no_grad():
            return float(self._mean(self.model.train_inputs[0][:1])[0])

    @override
    def std_bound(self) -> float | None:
        """The prior standard deviation (the kernel is stationary: ``k(x, x)`` is one number), which
        no posterior standard deviation exceeds."""
        assert self.model is not None, "fit() first"
        m = self.model
        x0 = m.train_inputs[0][:1]
        with torch.no_grad():
            prior_var = float(m.covar_module(x0, x0).to_dense()[0, 0])
        return float(np.sqrt(max(prior_var, 1e-12))) * float(m.outcome_transform.stdvs.squeeze())

    @override
    def predict_mean(self, X: np.ndarray) -> np.ndarray:
        """The posterior mean: ``O(n)`` per point (no triangular solve)."""
        assert self.model is not None, "fit() first"
        m = self.model
        tf = m.outcome_transform
        if isinstance(X, SparseOneHot):
            kernel = self._substitution_kernel(X)
            if kernel is not None:
                return (kernel.mean(X) + self._prior_constant()) * float(tf.stdvs.squeeze()) + float(tf.means.squeeze())
            return np.concatenate([self.predict_mean(np.asarray(X.block(i, i + self.chunk)))
                                   for i in range(0, len(X), self.chunk)] or [np.zeros(0)])
        Xt = torch.as_tensor(X, dtype=torch.float64)
        train_x = m.train_inputs[0]
        tables = self._tables()
        if tables is not None and (self.tasks == 1 or not np.asarray(X)[:, self._features].any()):  # task 0 only
            tokens = one_hot_tokens(np.asarray(X, dtype=np.float64)[:, : self._features])
            if tokens is not None:
                with torch.no_grad():
                    prior_mean = self._mean(Xt).numpy()
                return (tables(tokens) + prior_mean) * float(tf.stdvs.squeeze()) + float(tf.means.squeeze())
        out = []
        with torch.no_grad():
            for start in range(0, len(Xt), self.chunk):
                block = Xt[start : start + self.chunk]
                out.append((m.covar_module(block, train_x).to_dense() @ self._alpha).squeeze(-1) + self._mean(block))
        mean = torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)
        return mean.numpy() * float(tf.stdvs.squeeze()) + float(tf.means.squeeze())

    def _tables(self) -> EpistasisTables | None:
        """Lookup tables of the posterior mean for the one-hot epistasis kernel, built once per fit;
        ``None`` for other kernels, other features, or tables too large to be worth it."""
        if not self._tables_built:
            covar = self.model.covar_module
            train_x = self.model.train_inputs[0]
            alpha = self._alpha.squeeze(-1).numpy()
            if self.tasks > 1:  # for task-0 rows k = k_data * B[0, t_i]: fold B[0, t_i] into alpha
                data, task = covar.kernels
                with torch.no_grad():
                    alpha = alpha * task(torch.zeros(1, train_x.shape[-1], dtype=torch.float64),
                                         train_x).to_dense()[0].numpy()
                covar = data
            tables = None
            tokens = one_hot_tokens(train_x[:, : self._features].numpy())
            if type(covar) is EpistasisKernel and tokens is not None and EpistasisTables.size(
                    tokens.shape[1], covar.max_order) <= EpistasisTables.MAX_ENTRIES:
                with torch.no_grad():
                    weights = covar.weights.detach().numpy().astype(np.float64)
                tables = EpistasisTables(weights, tokens, alpha)
            self._epistasis_tables, self._tables_built = tables, True
        return self._epistasis_tables

    def _cross(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean (standardised) and ``L^-1 K(train, X)`` at ``X``."""
        m = self.model
        train_x = m.train_inputs[0]
        Ks = m.covar_module(X, train_x).to_dense()
        mean = (Ks @ self._alpha).squeeze(-1) + self._mean(X)
        return mean, torch.linalg.solve_triangular(self._L, Ks.T, upper=False)

    @override
    def sample(self, X: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        assert self.model is not None, "fit() first"
        m = self.model
        tf = m.outcome_transform
        Xt = torch.as_tensor(np.asarray(X), dtype=torch.float64)
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        with torch.no_grad():
            mean, v = self._cross(Xt)
            cov = m.covar_module(Xt).to_dense() - v.T @ v
            jitter = 1e-6 * cov.diagonal().mean().clamp_min(1e-12)
            L, _ = torch.linalg.cholesky_ex(cov + jitter * torch.eye(len(Xt), dtype=torch.float64))
            z = torch.randn(len(Xt), n_samples, dtype=torch.float64, generator=gen)
            draws = mean.unsqueeze(-1) + L @ z
        return (draws.T * tf.stdvs.squeeze() + tf.means.squeeze()).numpy()
