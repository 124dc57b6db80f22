"""Candidate libraries: rows ``0 .. N-1``, each a variant of one parent.

A :class:`Library` answers what the loop asks of its candidates without holding them all:
membership of a canonical variant name, the row of a name, the names, residues and sequences of
any rows, and the rows in chunks. Two kinds:

* :class:`CombinatorialLibrary`: every combination of an alphabet at a few sites. It is pure
  mixed-radix arithmetic (row ``r`` has digit ``r // A^(S-1-i) % A`` at site ``i``), so
  membership, counting and indexing cost nothing however large the library (20^6 = 64 million).
  Rows are in the order of ``itertools.product`` over the alphabet.
* :class:`VariantLibrary`: an explicit list of variants held in memory
  (measured landscapes, variant lists).

Residues are reported as *site tokens*: an ``n x P`` uint8 matrix of :data:`AMINO_ACIDS` indices at
the library's ``P`` variable positions, which is all the residue encodings read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from typing_extensions import override

from activeloop.api.sequence import AMINO_ACIDS, validate_sequence
from activeloop.errors import VariantError
from activeloop.ml.sequences import VariantParser, detokenize, tokenize

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


@dataclass(frozen=True)
class VariantLibrary(Library):
    """N variants of one parent held in memory: canonical names, sequences, ``N x L`` tokens.

    Build it with :meth:`from_strings` (any accepted spelling) or :meth:`from_sequences`. Names
    are unique: a library refuses duplicate variants, naming both rows.
    """

    parent: str
    tokens: np.ndarray
    names: tuple[str, ...]
    sites: tuple[int, ...] = ()
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2 or self.tokens.shape[0] != len(self.names):
            raise VariantError("tokens", "must be N x L with one name per row")
        index: dict[str, int] = {}
        for i, name in enumerate(self.names):
            if name in index:
                raise VariantError(
                    f"variants[{i}]", f"{name} duplicates variants[{index[name]}]"
                )
            index[name] = i
        self._index.update(index)

    @classmethod
    def from_sequences(
        cls, parent: str, sequences: Sequence[str], sites: Sequence[int] = ()
    ) -> VariantLibrary:
        """A library of full sequences (each the parent's length)."""
        parent = validate_sequence(parent, "parent")
        tokens = tokenize(list(sequences))
        if len(sequences) and tokens.shape[1] != len(parent):
            raise VariantError("sequences", f"length {tokens.shape[1]} != parent {len(parent)}")
        ptok = tokenize([parent])[0]
        names = []
        letters = AMINO_ACIDS
        for row in tokens:
            diff = np.nonzero(row != ptok)[0]
            names.append(
                ":".join(f"{parent[i]}{i + 1}{letters[row[i]]}" for i in diff) if len(diff) else "WT"
            )
        return cls(parent, tokens, tuple(names), tuple(sites))

    @classmethod
    def from_strings(
        cls, parent: str, variants: Sequence[str], sites: Sequence[int] = ()
    ) -> VariantLibrary:
        """A library from any accepted spelling (see module docstring); errors name the row."""
        parser = VariantParser(parent, tuple(sites))
        seqs = [parser.sequence(v, f"variants[{i}]") for i, v in enumerate(variants)]
        return cls.from_sequences(parser.parent, seqs, sites)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def sequences(self) -> list[str]:
        """Full sequences, one per variant."""
        return detokenize(self.tokens)

    @property
    def variable_positions(self) -> np.ndarray:
        """0-based positions where any variant differs from any other (or the declared sites)."""
        if self.sites:
            return np.asarray(self.sites, dtype=np.int64) - 1
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.nonzero((self.tokens != self.tokens[0]).any(axis=0))[0]

    @override
    @property
    def positions(self) -> np.ndarray:
        return self.variable_positions

    @override
    def contains(self, name: str) -> bool:
        return name in self._index

    @override
    def rows_of(self, names: Iterable[str]) -> np.ndarray:
        return self.index_of(names)

    @override
    def site_tokens(self, rows: np.ndarray) -> np.ndarray:
        return self.tokens[np.asarray(rows, dtype=np.int64)][:, self.variable_positions]

    @override
    def names_of(self, rows: np.ndarray) -> list[str]:
        return [self.names[i] for i in np.asarray(rows, dtype=np.int64)]

    @override
    def tokens_of(self, rows: np.ndarray) -> np.ndarray:
        return self.tokens[np.asarray(rows, dtype=np.int64)]

    def index_of(self, names: Iterable[str]) -> np.ndarray:
        """Row indices of canonical ``names``; raises naming the first unknown variant."""
        out = []
        for n in names:
            try:
                out.append(self._index[n])
            except KeyError:
                raise VariantError("variant", f"{n} is not in the candidate library") from None
        return np.asarray(out, dtype=np.int64)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def subset(self, rows: np.ndarray) -> VariantLibrary:
        """A library of the given rows (same parent and sites)."""
        rows = np.asarray(rows, dtype=np.int64)
        return VariantLibrary(
            self.parent, self.tokens[rows], tuple(self.names[i] for i in rows), self.sites
        )


__all__ = ["CombinatorialLibrary", "Library", "VariantLibrary"]
