"""Candidate libraries: rows ``0 .. N-1``, each a variant of one parent.

A :class:`Library` answers what the loop asks of its candidates without holding them all:
membership of a canonical variant name, the row of a name, the names, residues and sequences of
any rows, and the rows in chunks. Two kinds:

* :class:`CombinatorialLibrary`: combinations of residues at a few sites, with a residue set per
  site, a budget of substitutions and forbidden motifs (``api.sites``). It is pure arithmetic
  (mixed radix; ranked combinations under a budget), so membership, counting and indexing cost
  nothing however large the library (20^6 = 64 million). Without constraints the rows are in the
  order of ``itertools.product`` over the alphabet.
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
from activeloop.api.sites import Motif, completions, parse_motif, site_residues
from activeloop.errors import ConfigError, VariantError
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
        """Rows that are never proposed (``library.exclude``, new forbidden motifs); sorted."""
        return np.zeros(0, dtype=np.int64)

    @property
    def size(self) -> int:
        """Variants that may be proposed: the rows less :meth:`excluded_rows`."""
        return len(self) - len(self.excluded_rows())

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

    def neighbours(self, rows: np.ndarray) -> np.ndarray:
        """Rows one substitution from any of ``rows`` (differing at exactly one of
        :attr:`positions`), sorted, without :meth:`excluded_rows`: one pass over the library."""
        centres = self.site_tokens(np.asarray(rows, dtype=np.int64))
        found = [np.zeros(0, dtype=np.int64)]
        if len(centres):
            for block in self.chunks():
                diff = (self.site_tokens(block)[:, None, :] != centres[None, :, :]).sum(axis=2)
                found.append(block[(diff == 1).any(axis=1)])
        return np.setdiff1d(np.concatenate(found), self.excluded_rows())


class CombinatorialLibrary(Library):
    """Combinations of residues at ``sites`` of ``parent``, under constraints (``api.sites``).

    Rows are the digit vectors (digit ``d`` at site ``i`` = the ``d``-th residue of the site's set)
    in lexicographic order, the first site most significant: without a substitution budget that is
    plain mixed radix, the order of ``itertools.product``; with one, the same order with the rows
    over budget left out, ranked and unranked through :func:`~activeloop.api.sites.completions`.
    New occurrences of longer forbidden motifs and the ``exclude`` list are :meth:`excluded_rows`.

    Args:
        parent: the wild-type sequence.
        sites: 1-based positions mutated combinatorially, in row-digit order.
        alphabet: residues allowed at every site without its own set.
        exclude: canonical names of variants never to propose (and not in the library).
        residues: each site's own residue set (default: ``alphabet`` at every site).
        max_substitutions: most sites differing from the parent (default: any number).
        forbidden: residues or motifs no variant may introduce (``C``, ``N[^P][ST]``).
    """

    MAX_MOTIF_ROWS = 50_000_000
    """Most rows the new occurrences of the longer motifs may exclude (8 bytes each)."""

    def __init__(
        self, parent: str, sites: Sequence[int], alphabet: str = AMINO_ACIDS,
        exclude: Iterable[str] = (), *, residues: Sequence[str] | None = None,
        max_substitutions: int | None = None, forbidden: Sequence[str] = (),
    ) -> None:
        self.parent = parent
        self._sites = tuple(int(s) for s in sites)
        self.alphabet = alphabet
        S = len(self._sites)
        motifs = [parse_motif(t, f"library.forbidden[{i}]") for i, t in enumerate(forbidden)]
        own = list(residues) if residues is not None else [alphabet] * S
        self._sets = site_residues(parent, self._sites, own, motifs)
        self._radices = np.asarray([len(r) for r in self._sets], dtype=np.int64)
        self._digit_of = np.full((S, 256), 255, dtype=np.int64)  # site, letter -> digit
        self._tokens = np.zeros((S, max(self._radices, default=1)), dtype=np.uint8)  # site, digit -> token
        for i, letters in enumerate(self._sets):
            for d, a in enumerate(letters):
                self._digit_of[i, ord(a)] = d
            self._tokens[i, :len(letters)] = _LETTER_INDEX[np.frombuffer(letters.encode("ascii"), dtype=np.uint8)]
        self._parent_digit = np.asarray([self._digit_of[i, ord(parent[s - 1])] for i, s in enumerate(self._sites)],
                                        dtype=np.int64)
        self._budget = S if max_substitutions is None else min(int(max_substitutions), S)
        self._table = np.asarray(
            completions(self._radices.tolist(), (self._parent_digit != 255).tolist(), self._budget), dtype=np.int64)
        self._plain = self._budget >= S  # no budget: mixed radix
        self._weights = self._table[1:, self._budget] if S else np.zeros(0, dtype=np.int64)
        self._site_index = {s: i for i, s in enumerate(self._sites)}
        self._motif_rows = self._new_motif_rows(motifs, forbidden)
        self._exclude_rows = np.unique(np.asarray(
            [self._row(name, "library.exclude") for name in exclude], dtype=np.int64))
        self._excluded = np.union1d(self._motif_rows, self._exclude_rows)
        self._forbidden = tuple(forbidden)

    def __len__(self) -> int:
        return int(self._table[0, self._budget])

    def __repr__(self) -> str:
        return f"CombinatorialLibrary({' x '.join(map(str, self._radices.tolist()))} = {len(self):,})"

    @override
    @property
    def sites(self) -> tuple[int, ...]:
        return self._sites

    @override
    @property
    def positions(self) -> np.ndarray:
        return np.asarray(self._sites, dtype=np.int64) - 1

    @property
    def residue_sets(self) -> list[str]:
        """Each site's residues, in digit order (after the one-residue forbidden motifs)."""
        return list(self._sets)

    @override
    def excluded_rows(self) -> np.ndarray:
        return self._excluded

    def digits(self, rows: np.ndarray) -> np.ndarray:
        """Each row's digit at each site (``n x S``): the row unranked."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows outside 0..{len(self) - 1}")
        if self._plain:
            return (rows[:, None] // self._weights[None, :]) % self._radices[None, :]
        return _unrank(rows, self._table, self._budget, self._parent_digit)

    def rank(self, digits: np.ndarray) -> np.ndarray:
        """Rows of digit vectors (``n x S``), the inverse of :meth:`digits`; ``-1`` for a vector with
        more substitutions than the budget."""
        digits = np.asarray(digits, dtype=np.int64).reshape(-1, len(self._sites))
        if self._plain:
            return digits @ self._weights if len(self._sites) else np.zeros(len(digits), dtype=np.int64)
        rows, j = np.zeros(len(digits), dtype=np.int64), np.full(len(digits), self._budget, dtype=np.int64)
        for i in range(len(self._sites)):
            nxt = self._table[i + 1]
            d, p = digits[:, i], self._parent_digit[i]
            c1 = np.where(j > 0, nxt[np.maximum(j - 1, 0)], 0)
            if p == 255:
                rows += d * c1
                j = j - 1
            else:
                rows += np.where(d <= p, d * c1, p * c1 + nxt[np.maximum(j, 0)] + (d - p - 1) * c1)
                j = np.where(d == p, j, j - 1)
            j = np.where(j < 0, -(1 << 20), j)  # over budget stays over
        return np.where(j >= 0, rows, -1)

    def _new_motif_rows(self, motifs: list[Motif], forbidden: Sequence[str]) -> np.ndarray:
        """Rows with a new occurrence of a forbidden motif longer than one residue, window by window:
        the digits of the sites a window touches that complete the motif, times the other sites'
        digit vectors within the budget left (the library itself is never enumerated)."""
        found = [np.zeros(0, dtype=np.int64)]
        total = 0
        L, pos0 = len(self.parent), np.asarray(self._sites, dtype=np.int64) - 1
        for m, text in zip(motifs, forbidden):
            if len(m) < 2:
                continue
            for w in range(max(0, int(pos0.min()) - len(m) + 1), min(L - len(m), int(pos0.max())) + 1):
                window = self._window_choices(m, w)
                if window is None:
                    continue
                for rows in self._completing(window):
                    total += len(rows)
                    if total > self.MAX_MOTIF_ROWS:
                        raise ConfigError("library.forbidden", (
                            f"{text!r} excludes more than {self.MAX_MOTIF_ROWS:,} variants of this library; "
                            "give the sites' residue sets instead (sites: [{position, residues}])"))
                    found.append(rows)
        return np.unique(np.concatenate(found))

    def _completing(self, window: dict[int, np.ndarray]) -> Iterator[np.ndarray]:
        """Rows whose sites in ``window`` (site index -> digits completing the motif) take those
        digits: grouped by their substitutions there, each group times the other sites' digit
        vectors with the budget left (ranked, never filtered)."""
        inside = sorted(window)
        others = [i for i in range(len(self._sites)) if i not in window]
        part = np.stack([g.ravel() for g in np.meshgrid(*(window[i] for i in inside), indexing="ij")], axis=1)
        used = (part != self._parent_digit[inside][None, :]).sum(axis=1)
        for spent in np.unique(used):
            left = self._budget - int(spent)
            if left < 0:
                continue
            radices, parent = self._radices[others], self._parent_digit[others]
            table = np.asarray(completions(radices.tolist(), (parent != 255).tolist(), left), dtype=np.int64)
            rest = _unrank(np.arange(table[0, left], dtype=np.int64), table, left, parent)
            mine = part[used == spent]
            digits = np.empty((len(mine) * len(rest), len(self._sites)), dtype=np.int64)
            digits[:, inside] = np.repeat(mine, len(rest), axis=0)
            digits[:, others] = np.tile(rest, (len(mine), 1))
            yield self.rank(digits)

    def _window_choices(self, motif: Motif, start: int) -> dict[int, np.ndarray] | None:
        """The digits of each site inside window ``start`` that complete ``motif`` there (by site
        index), or ``None`` when the window cannot hold a new occurrence (a fixed residue breaks
        the motif, a site cannot complete it, or the parent already has it)."""
        parent_matches, out = True, {}
        for k, allowed in enumerate(motif):
            pos = start + k + 1
            parent_matches &= self.parent[pos - 1] in allowed
            if pos in self._site_index:
                i = self._site_index[pos]
                digits = np.asarray([d for d, a in enumerate(self._sets[i]) if a in allowed], dtype=np.int64)
                if not len(digits):
                    return None
                out[i] = digits
            elif self.parent[pos - 1] not in allowed:
                return None
        return None if parent_matches or not out else out

    def _row(self, name: str, field: str = "variant") -> int:
        """Row of a canonical name, or :class:`VariantError` saying why it is not in the library."""
        digits = self._parent_digit.copy()
        if name != "WT":
            for mut in name.split(":"):
                pos, mt = int(mut[1:-1]), mut[-1]
                if pos not in self._site_index:
                    raise VariantError(field, f"{name} is not in the campaign's library "
                                              f"(position {pos} is not one of the sites {list(self._sites)})")
                digits[self._site_index[pos]] = int(self._digit_of[self._site_index[pos], ord(mt)])
        for i, (s, d) in enumerate(zip(self._sites, digits)):
            if d == 255:
                kept = d == self._parent_digit[i]
                raise VariantError(field, f"{name} is not in the campaign's library (site {s} allows only "
                                          f"{self._sets[i]}" + (f", not the parent's {self.parent[s - 1]}"
                                                                 if kept else "") + ")")
        row = int(self.rank(digits[None, :])[0])
        if row < 0:
            changed = int(np.sum(digits != self._parent_digit))
            raise VariantError(field, f"{name} is not in the campaign's library ({changed} substitutions; "
                                      f"library.maxSubstitutions is {self._budget})")
        return row

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
            if _member(self._motif_rows, row):
                raise VariantError("variant", f"{name} introduces a forbidden motif "
                                              f"(library.forbidden: {list(self._forbidden)})")
            if _member(self._excluded, row):
                raise VariantError("variant", f"{name} is excluded from the campaign's library")
            rows.append(row)
        return np.asarray(rows, dtype=np.int64)

    @override
    def neighbours(self, rows: np.ndarray) -> np.ndarray:
        """As :meth:`Library.neighbours`, by arithmetic: each site of each row set to each other
        residue of its set, ranked (vectors over the budget dropped); the library is never scanned."""
        digits = self.digits(np.asarray(rows, dtype=np.int64))
        found = [np.zeros(0, dtype=np.int64)]
        for i, radix in enumerate(self._radices.tolist()):
            moved = np.repeat(digits, radix, axis=0)
            moved[:, i] = np.tile(np.arange(radix), len(digits))
            moved = moved[moved[:, i] != np.repeat(digits[:, i], radix)]
            found.append(self.rank(moved))
        out = np.unique(np.concatenate(found))
        return np.setdiff1d(out[out >= 0], self._excluded)

    @override
    def site_tokens(self, rows: np.ndarray) -> np.ndarray:
        digits = self.digits(rows)
        return self._tokens[np.arange(len(self._sites))[None, :], digits]


def _unrank(rows: np.ndarray, table: np.ndarray, budget: int, parent_digit: np.ndarray) -> np.ndarray:
    """Digit vectors (``n x S``) of ``rows`` in the lexicographic order of the vectors with at most
    ``budget`` digits differing from ``parent_digit`` (255: the parent's residue is not in the
    site's set); ``table`` is :func:`~activeloop.api.sites.completions`. ``O(S)`` array operations."""
    out = np.empty((len(rows), len(parent_digit)), dtype=np.int64)
    q, j = rows.copy(), np.full(len(rows), budget, dtype=np.int64)
    for i, p in enumerate(parent_digit.tolist()):
        nxt = table[i + 1]
        c1 = np.where(j > 0, nxt[np.maximum(j - 1, 0)], 0)
        safe = np.maximum(c1, 1)
        if p == 255:  # every digit here is a substitution
            out[:, i], q = q // safe, q % safe
            j = j - 1
            continue
        lo, c0 = p * c1, nxt[j]
        before, at = q < lo, (q >= lo) & (q < lo + c0)
        rest = q - lo - c0
        out[:, i] = np.where(before, q // safe, np.where(at, p, p + 1 + rest // safe))
        q = np.where(before, q % safe, np.where(at, q - lo, rest % safe))
        j = np.where(at, j, j - 1)
    return out


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
