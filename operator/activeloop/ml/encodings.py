"""Encodings: variants -> ``N x d`` float64 feature matrices.

* ``onehot``: 20 indicators per variable position.
* ``physchem``: standardised physico-chemical descriptors per residue (VHSE, Kidera factors and
  Z-scales, as tabulated by the ``peptides`` package) at each variable position.
* ``esm``: mean-pooled embeddings of a protein language model (see :mod:`activeloop.ml.backbones`).

Encoders are chosen by name through :data:`ENCODINGS`. Only *variable* positions are encoded for
the fixed encodings (the others are constant and carry no information).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from activeloop.errors import ConfigError
from activeloop.ml.sequences import AMINO_ACIDS, VariantLibrary

__all__ = ["ENCODINGS", "Encoder", "OneHotEncoder", "PhyschemEncoder", "get_encoder"]


class Encoder(ABC):
    """Maps a :class:`VariantLibrary` to an ``N x d`` float64 matrix."""

    name: str = ""

    @abstractmethod
    def encode(self, library: VariantLibrary) -> np.ndarray:
        """Features of every variant, ``N x d``."""


class OneHotEncoder(Encoder):
    """20 indicators per variable position: ``N x 20·P``."""

    name = "onehot"

    def encode(self, library: VariantLibrary) -> np.ndarray:
        tok = library.tokens[:, library.variable_positions]
        n, p = tok.shape
        out = np.zeros((n, p * 20), dtype=np.float64)
        out[np.arange(n)[:, None], np.arange(p) * 20 + tok] = 1.0
        return out


@lru_cache(maxsize=1)
def descriptor_table() -> np.ndarray:
    """``20 x k`` standardised descriptors (VHSE, Kidera, Z-scales) in :data:`AMINO_ACIDS` order."""
    from peptides import tables

    columns = []
    for table in (tables.VHSE, tables.KIDERA, tables.Z_SCALES):
        for scale in table.values():
            columns.append([float(scale[a]) for a in AMINO_ACIDS])
    arr = np.asarray(columns, dtype=np.float64).T
    return (arr - arr.mean(0)) / arr.std(0)


class PhyschemEncoder(Encoder):
    """Physico-chemical descriptors per variable position: ``N x k·P`` (k = 23)."""

    name = "physchem"

    def encode(self, library: VariantLibrary) -> np.ndarray:
        table = descriptor_table()
        tok = library.tokens[:, library.variable_positions]
        return table[tok].reshape(len(library), -1)


class OneHotPhyschemEncoder(Encoder):
    """One-hot then physico-chemical features per variable position: ``N x 43·P``."""

    name = "onehot_physchem"

    def encode(self, library: VariantLibrary) -> np.ndarray:
        return np.hstack([OneHotEncoder().encode(library), PhyschemEncoder().encode(library)])


ENCODINGS: dict[str, Callable[[], Encoder]] = {
    "onehot": OneHotEncoder,
    "physchem": PhyschemEncoder,
    "onehot_physchem": OneHotPhyschemEncoder,
}
"""Registry of fixed encodings by config name; ``esm`` is built with a backbone (see backbones)."""


def get_encoder(name: str) -> Encoder:
    """The encoder registered under ``name``."""
    try:
        return ENCODINGS[name]()
    except KeyError:
        raise ConfigError("encoding", f"unknown encoding {name!r}; known: {sorted(ENCODINGS)}")
