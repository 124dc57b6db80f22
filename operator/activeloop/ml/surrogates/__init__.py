"""Surrogate models with uncertainty, chosen by config name through :data:`SURROGATES`."""

from __future__ import annotations

from collections.abc import Callable

from activeloop.errors import ConfigError
from activeloop.ml.surrogates.base import Prediction, Surrogate
from activeloop.ml.surrogates.ensemble import EnsembleSurrogate
from activeloop.ml.surrogates.gp import GPSurrogate
from activeloop.ml.surrogates.prior import PriorMeanSurrogate
from activeloop.ml.surrogates.students import StudentEnsembleSurrogate

__all__ = [
    "SURROGATES",
    "EnsembleSurrogate",
    "GPSurrogate",
    "PriorMeanSurrogate",
    "StudentEnsembleSurrogate",
    "Prediction",
    "Surrogate",
    "get_surrogate",
]

def _with_prior(model: Surrogate, prior: bool) -> Surrogate:
    return PriorMeanSurrogate(model) if prior else model


SURROGATES: dict[str, Callable[..., Surrogate]] = {
    "gp": lambda seed=0, prior=False, **kw: GPSurrogate(kernel="rbf", prior=prior, **kw),
    "gp_epistasis": lambda seed=0, prior=False, **kw: GPSurrogate(kernel="epistasis", prior=prior, **kw),
    "gp_epistasis2": lambda seed=0, prior=False, **kw: GPSurrogate(kernel="epistasis2", prior=prior, **kw),
    "gp_soft_epistasis": lambda seed=0, prior=False, **kw: GPSurrogate(kernel="soft_epistasis", prior=prior, **kw),
    # ensembles learn what a prior score (the last column) leaves unexplained
    "boosting_ensemble": lambda seed=0, prior=False, **kw: _with_prior(
        EnsembleSurrogate("boosting", seed=seed, **kw), prior),
    "mlp_ensemble": lambda seed=0, prior=False, **kw: _with_prior(EnsembleSurrogate("mlp", seed=seed, **kw), prior),
    "student_ensemble": lambda seed=0, prior=False, **kw: StudentEnsembleSurrogate(seed=seed, **kw),
}
"""Registry of surrogates by config name; factories accept ``seed`` (exact GPs have no randomness
and ignore it) and ``prior`` (the last column of ``X`` is a prior score; see :class:`GPSurrogate`)."""

NO_PRIOR = ("student_ensemble",)
"""Surrogates that cannot take a prior score (their students read one-hot residues only)."""


def get_surrogate(name: str, seed: int = 0, prior: bool = False, **options: object) -> Surrogate:
    """A new, unfitted surrogate registered under ``name`` (``prior``: see :data:`SURROGATES`)."""
    try:
        factory = SURROGATES[name]
    except KeyError:
        raise ConfigError(
            "surrogate", f"unknown surrogate {name!r}; known: {sorted(SURROGATES)}"
        ) from None
    if prior and name in NO_PRIOR:
        raise ConfigError("surrogate.prior", f"{name} cannot use a zero-shot prior; use a GP or an ensemble")
    return factory(seed=seed, prior=prior, **options)
