"""Candidate libraries: rows ``0 .. N-1``, each a variant of one parent.

A :class:`Library` answers what the loop asks of its candidates without holding them all:
membership of a canonical variant name, the row of a name, the names, residues and sequences of
any rows, and the rows in chunks. Two kinds:

* :class:`CombinatorialLibrary`: every combination of an alphabet at a few sites. It is pure
  mixed-radix arithmetic (row ``r`` has digit ``r // A^(S-1-i) % A`` at site ``i``), so
  membership, counting and indexing cost nothing however large the library (20^6 = 64 million).
  Rows are in the order of ``itertools.product`` over the alphabet.
* :class:`~activeloop.ml.sequences.VariantLibrary`: an explicit list of variants held in memory
  (measured landscapes, variant lists).

Residues are reported as *site tokens*: an ``n x P`` uint8 matrix of :data:`AMINO_ACIDS` indices at
the library's ``P`` variable positions, which is all the residue encodings read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from typing_extensions import override

from activeloop.api.sequence import AMINO_ACIDS
from activeloop.errors import VariantError

if TYPE_CHECKING:
    from activeloop.ml.sequences import VariantParser

_LETTER_INDEX = np.full(256, 255, dtype=np.uint8)
for _i, _a in enumerate(AMINO_ACIDS):
    _LETTER_INDEX[ord(_a)] = _i


class Library(ABC):
    """A candidate library of variants of :attr:`parent` (see the module docstring)."""

    parent: str

    @abstractmethod
    def __len__(self) -> int:
        """Number of rows."""

    @property
    @abstractmethod
    def positions(self) -> np.ndarray:
        """0-based positions where the library's variants may differ from the parent (``P``)."""

    @abstractmethod
    def contains(self, name: str) -> bool:
        """Whether canonical variant ``name`` is a row of the library (and not excluded)."""

    @abstractmethod
    def rows_of(self, names: Iterable[str]) -> np.ndarray:
        """Rows of canonical ``names``; raises :class:`VariantError` naming the first unknown one."""

    @abstractmethod
    def site_tokens(self, rows: np.ndarray) -> np.ndarray:
        """Residues of ``rows`` at :attr:`positions`: ``n x P`` uint8 (indices into AMINO_ACIDS)."""

    @property
    def parent_site_tokens(self) -> np.ndarray:
        """The parent's residues at :attr:`positions` (``P`` uint8 indices into AMINO_ACIDS)."""
        return _LETTER_INDEX[np.frombuffer(self.parent.encode("ascii"), dtype=np.uint8)[self.positions]]

    def excluded_rows(self) -> np.ndarray:
        """Rows that are never proposed (``library.exclude``); sorted, possibly empty."""
        return np.zeros(0, dtype=np.int64)

    @property
    def sites(self) -> tuple[int, ...]:
        """1-based positions of a site-combination library (for spellings like ``FWAA``)."""
        return ()

    @property
    def parser(self) -> VariantParser:
        """A parser for this library's parent and sites."""
        from activeloop.ml.sequences import VariantParser

        return VariantParser(self.parent, self.sites)

    def names_of(self, rows: np.ndarray) -> list[str]:
        """Canonical names of ``rows`` (``V39F:D40W``, ``WT`` for the parent)."""
        order = np.argsort(self.positions, kind="stable")  # canonical names go by position
        tokens = self.site_tokens(np.asarray(rows, dtype=np.int64))[:, order]
        positions = self.positions[order]
        parent = np.frombuffer(self.parent.encode("ascii"), dtype=np.uint8)[positions]
        letters = np.frombuffer(AMINO_ACIDS.encode("ascii"), dtype=np.uint8)[tokens]
        out = []
        for row in letters:
            diff = np.nonzero(row != parent)[0]
            out.append(
                ":".join(f"{chr(parent[j])}{positions[j] + 1}{chr(row[j])}" for j in diff) or "WT"
            )
        return out

    def tokens_of(self, rows: np.ndarray) -> np.ndarray:
        """Full-length residues of ``rows``: ``n x L`` uint8."""
        rows = np.asarray(rows, dtype=np.int64)
        base = _LETTER_INDEX[np.frombuffer(self.parent.encode("ascii"), dtype=np.uint8)]
        out = np.repeat(base[None, :], len(rows), axis=0)
        out[:, self.positions] = self.site_tokens(rows)
        return out

    def sequences_of(self, rows: np.ndarray) -> list[str]:
        """Full sequences of ``rows``."""
        letters = np.frombuffer(AMINO_ACIDS.encode("ascii"), dtype=np.uint8)
        return [bytes(r).decode("ascii") for r in letters[self.tokens_of(rows)]]

    def chunks(self, size: int = 65_536) -> Iterator[np.ndarray]:
        """Consecutive blocks of rows of at most ``size``."""
        for start in range(0, len(self), size):
            yield np.arange(start, min(start + size, len(self)), dtype=np.int64)


class CombinatorialLibrary(Library):
    """Every combination of ``alphabet`` at ``sites`` of ``parent`` (see the module docstring).

    Args:
        parent: the wild-type sequence.
        sites: 1-based positions mutated combinatorially, in row-digit order.
        alphabet: residues allowed at every site.
        exclude: canonical names of variants never to propose (and not in the library).
    """

    def __init__(
        self, parent: str, sites: Sequence[int], alphabet: str = AMINO_ACIDS,
        exclude: Iterable[str] = (),
    ) -> None:
        self.parent = parent
        self._sites = tuple(int(s) for s in sites)
        self.alphabet = alphabet
        self._radix = len(alphabet)
        self._digit_of = np.full(256, 255, dtype=np.int64)  # letter -> alphabet digit
        for d, a in enumerate(alphabet):
            self._digit_of[ord(a)] = d
        self._tokens = _LETTER_INDEX[np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)]
        self._weights = self._radix ** np.arange(len(self._sites) - 1, -1, -1, dtype=np.int64)
        self._site_index = {s: i for i, s in enumerate(self._sites)}
        self._excluded = np.zeros(0, dtype=np.int64)
        rows = [self._row(name, "library.exclude") for name in exclude]
        self._excluded = np.unique(np.asarray(rows, dtype=np.int64))

    def __len__(self) -> int:
        return int(self._radix ** len(self._sites))

    def __repr__(self) -> str:
        return f"CombinatorialLibrary({len(self._sites)} sites x {self._radix} residues = {len(self):,})"

    @override
    @property
    def sites(self) -> tuple[int, ...]:
        return self._sites

    @override
    @property
    def positions(self) -> np.ndarray:
        return np.asarray(self._sites, dtype=np.int64) - 1

    @override
    def excluded_rows(self) -> np.ndarray:
        return self._excluded

    def _row(self, name: str, field: str = "variant") -> int:
        """Row of a canonical name, or :class:`VariantError` saying why it is not in the library."""
        digits = [int(self._digit_of[ord(self.parent[s - 1])]) for s in self._sites]
        if name != "WT":
            for mut in name.split(":"):
                pos, mt = int(mut[1:-1]), mut[-1]
                if pos not in self._site_index:
                    raise VariantError(field, f"{name} is not in the campaign's library "
                                              f"(position {pos} is not one of the sites {list(self._sites)})")
                digits[self._site_index[pos]] = int(self._digit_of[ord(mt)])
        for s, d in zip(self._sites, digits):
            if d == 255:
                raise VariantError(field, f"{name} is not in the campaign's library (site {s} "
                                          f"allows only {self.alphabet})")
        return int(np.dot(digits, self._weights)) if digits else 0

    @override
    def contains(self, name: str) -> bool:
        try:
            row = self._row(name)
        except (VariantError, ValueError, IndexError):
            return False
        return not _member(self._excluded, row)

    @override
    def rows_of(self, names: Iterable[str]) -> np.ndarray:
        rows = []
        for name in names:
            row = self._row(name)
            if _member(self._excluded, row):
                raise VariantError("variant", f"{name} is excluded from the campaign's library")
            rows.append(row)
        return np.asarray(rows, dtype=np.int64)

    @override
    def site_tokens(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows outside 0..{len(self) - 1}")
        digits = (rows[:, None] // self._weights[None, :]) % self._radix
        return self._tokens[digits]


def _member(sorted_rows: np.ndarray, row: int) -> bool:
    i = np.searchsorted(sorted_rows, row)
    return bool(i < len(sorted_rows) and sorted_rows[i] == row)


__all__ = ["CombinatorialLibrary", "Library"]
