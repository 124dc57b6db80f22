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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from typing_extensions import override

from activeloop.api.sequence import AMINO_ACIDS
from activeloop.ml.library import Library
from activeloop.registry import Registry

__all__ = ["ENCODINGS", "Encoder", "OneHotEncoder", "PhyschemEncoder", "SparseOneHot", "get_encoder"]


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


@dataclass(frozen=True)
class SparseOneHot:
    """One-hot features (``n x 20·P``) of variants held as substitutions, never made dense unless
    asked (``np.asarray``): the parent's residues at the ``P`` positions and, for each substitution,
    its row, its site (a column of ``P``) and its new residue. The epistasis GP reads them directly
    (``ml.surrogates.kernels.SubstitutionKernel``); anything else gets the dense matrix."""

    parent_tokens: np.ndarray
    row: np.ndarray
    site: np.ndarray
    residue: np.ndarray
    n: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, 20·P)``, as the dense matrix's."""
        return self.n, 20 * len(self.parent_tokens)

    @property
    def ndim(self) -> int:
        """2, as the dense matrix's."""
        return 2

    def __len__(self) -> int:
        return self.n

    def dense(self) -> np.ndarray:
        """The ``n x 20·P`` float64 one-hot matrix."""
        tokens = np.repeat(self.parent_tokens[None, :].astype(np.int64), self.n, axis=0)
        tokens[self.row, self.site] = self.residue
        return OneHotEncoder().encode_tokens(tokens)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    def block(self, start: int, stop: int) -> SparseOneHot:
        """Rows ``start .. stop - 1``."""
        keep = (self.row >= start) & (self.row < stop)
        return SparseOneHot(self.parent_tokens, self.row[keep] - start, self.site[keep], self.residue[keep],
                            max(0, min(stop, self.n) - start))

    @property
    def counts(self) -> np.ndarray:
        """Substitutions per row."""
        return np.bincount(self.row, minlength=self.n)


class OneHotEncoder(Encoder):
    """20 indicators per variable position: ``N x 20·P`` (a :class:`SparseOneHot` for a list held as
    substitutions)."""

    name = "onehot"

    @override
    def encode(self, library: Library, rows: np.ndarray | None = None) -> np.ndarray:
        from activeloop.ml.variants import SubstitutionLibrary

        if not isinstance(library, SubstitutionLibrary):
            return super().encode(library, rows)
        rows = np.arange(len(library)) if rows is None else np.asarray(rows, dtype=np.int64)
        row, site, residue = library.substitutions(rows)
        return SparseOneHot(library.parent_site_tokens, row, site, residue, len(rows))  # type: ignore[return-value]

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
