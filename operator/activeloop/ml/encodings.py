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
from typing_extensions import override

from activeloop.api.sequence import AMINO_ACIDS
from activeloop.ml.library import Library
from activeloop.registry import Registry

__all__ = ["ENCODINGS", "Encoder", "OneHotEncoder", "PhyschemEncoder", "get_encoder"]


class Encoder(ABC):
    """Maps residues at a library's variable positions to an ``N x d`` float64 matrix."""

    name: str = ""

    @abstractmethod
    def encode_tokens(self, site_tokens: np.ndarray) -> np.ndarray:
        """Features of ``N x P`` site tokens (see :meth:`Library.site_tokens`), ``N x d``."""

    def encode(self, library: Library, rows: np.ndarray | None = None) -> np.ndarray:
        """Features of ``rows`` of ``library`` (all rows when ``None``)."""
        if rows is None:
            rows = np.arange(len(library))
        return self.encode_tokens(library.site_tokens(rows))


class OneHotEncoder(Encoder):
    """20 indicators per variable position: ``N x 20·P``."""

    name = "onehot"

    @override
    def encode_tokens(self, site_tokens: np.ndarray) -> np.ndarray:
        n, p = site_tokens.shape
        out = np.zeros((n, p * 20), dtype=np.float64)
        out[np.arange(n)[:, None], np.arange(p) * 20 + site_tokens] = 1.0
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

    @override
    def encode_tokens(self, site_tokens: np.ndarray) -> np.ndarray:
        return descriptor_table()[site_tokens].reshape(len(site_tokens), -1)


class OneHotPhyschemEncoder(Encoder):
    """One-hot then physico-chemical features per variable position: ``N x 43·P``."""

    name = "onehot_physchem"

    def encode_tokens(self, site_tokens: np.ndarray) -> np.ndarray:
        return np.hstack([OneHotEncoder().encode_tokens(site_tokens),
                          PhyschemEncoder().encode_tokens(site_tokens)])


ENCODINGS: Registry[Callable[[], Encoder]] = Registry("surrogate.encoding", "encoding")
for _encoder in (OneHotEncoder, PhyschemEncoder, OneHotPhyschemEncoder):
    ENCODINGS.add(_encoder.name, _encoder)
"""Registry of fixed encodings by config name; ``esm`` is built with a backbone (see backbones)."""


def get_encoder(name: str) -> Encoder:
    """The encoder registered under ``name``."""
    return ENCODINGS.get(name)()
