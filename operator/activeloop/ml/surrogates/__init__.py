"""Surrogate models with uncertainty, chosen by config name through :data:`SURROGATES`."""

from __future__ import annotations

from collections.abc import Callable

from activeloop.errors import ConfigError
from activeloop.ml.surrogates.base import Prediction, Surrogate
from activeloop.ml.surrogates.ensemble import EnsembleSurrogate
from activeloop.ml.surrogates.gp import GPSurrogate
from activeloop.ml.surrogates.students import StudentEnsembleSurrogate

__all__ = [
    "SURROGATES",
    "EnsembleSurrogate",
    "GPSurrogate",
    "StudentEnsembleSurrogate",
    "Prediction",
    "Surrogate",
    "get_surrogate",
]

SURROGATES: dict[str, Callable[..., Surrogate]] = {
    "gp": lambda seed=0, **kw: GPSurrogate(kernel="rbf", **kw),
    "gp_epistasis": lambda seed=0, **kw: GPSurrogate(kernel="epistasis", **kw),
    "gp_epistasis2": lambda seed=0, **kw: GPSurrogate(kernel="epistasis2", **kw),
    "gp_soft_epistasis": lambda seed=0, **kw: GPSurrogate(kernel="soft_epistasis", **kw),
    "boosting_ensemble": lambda seed=0, **kw: EnsembleSurrogate("boosting", seed=seed, **kw),
    "mlp_ensemble": lambda seed=0, **kw: EnsembleSurrogate("mlp", seed=seed, **kw),
    "student_ensemble": lambda seed=0, **kw: StudentEnsembleSurrogate(seed=seed, **kw),
}
"""Registry of surrogates by config name; factories accept ``seed`` (exact GPs have no randomness
and ignore it)."""


def get_surrogate(name: str, seed: int = 0, **options: object) -> Surrogate:
    """A new, unfitted surrogate registered under ``name``."""
    try:
        factory = SURROGATES[name]
    except KeyError:
        raise ConfigError(
            "surrogate", f"unknown surrogate {name!r}; known: {sorted(SURROGATES)}"
        ) from None
    return factory(seed=seed, **options)
