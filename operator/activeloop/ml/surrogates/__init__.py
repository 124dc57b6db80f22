"""Surrogate models with uncertainty, chosen by config name through :data:`SURROGATES`."""

from __future__ import annotations

from collections.abc import Callable

from activeloop.errors import ConfigError
from activeloop.ml.surrogates.base import Prediction, Surrogate
from activeloop.ml.surrogates.ensemble import EnsembleSurrogate
from activeloop.ml.surrogates.gp import GPSurrogate
from activeloop.ml.surrogates.prior import PriorMeanSurrogate
from activeloop.ml.surrogates.students import StudentEnsembleSurrogate
from activeloop.registry import Registry

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


SURROGATES: Registry[Callable[..., Surrogate]] = Registry("surrogate.kind", "surrogate")
"""Surrogates by config name; factories accept ``seed`` (exact GPs have no randomness and ignore
it) and ``prior`` (the last column of ``X`` is a prior score; see :class:`GPSurrogate`)."""
for _name, _kernel in (("gp", "rbf"), ("gp_epistasis", "epistasis"), ("gp_epistasis2", "epistasis2"),
                       ("gp_epistasis_auto", "epistasis_auto"), ("gp_soft_epistasis", "soft_epistasis")):
    SURROGATES.add(_name, lambda seed=0, prior=False, _k=_kernel, **kw: GPSurrogate(kernel=_k, prior=prior, **kw))
# ensembles learn what a prior score (the last column) leaves unexplained
for _member in ("boosting", "mlp"):
    SURROGATES.add(f"{_member}_ensemble", lambda seed=0, prior=False, _m=_member, **kw: _with_prior(
        EnsembleSurrogate(_m, seed=seed, **kw), prior))
SURROGATES.add("student_ensemble", lambda seed=0, prior=False, **kw: StudentEnsembleSurrogate(seed=seed, **kw))

NO_PRIOR = ("student_ensemble",)
"""Surrogates that cannot take a prior score (their students read one-hot residues only)."""


def get_surrogate(name: str, seed: int = 0, prior: bool = False, **options: object) -> Surrogate:
    """A new, unfitted surrogate registered under ``name`` (``prior``: see :data:`SURROGATES`)."""
    factory = SURROGATES.get(name)
    if prior and name in NO_PRIOR:
        raise ConfigError("surrogate.prior", f"{name} cannot use a zero-shot prior; use a GP or an ensemble")
    return factory(seed=seed, prior=prior, **options)
