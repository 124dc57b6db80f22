"""Variants and sequences: one canonical representation used everywhere.

A *variant* is a full protein sequence derived from a *parent* (wild type). Its canonical name is
the list of substitutions against the parent, 1-based and sorted by position, joined by ``:``
(``V39F:D40W``); the parent itself is ``WT``. Users may write a variant as

* substitutions: ``V39A:D40G`` (also ``V39A,D40G``, ``V39A/D40G`` or ``V39A D40G``),
* a site combination such as GB1's ``VDGV`` when the library declares its ``sites``,
* a full sequence of the parent's length,
* ``WT`` for the parent.

A :class:`VariantLibrary` holds N variants of one parent as an ``N x L`` matrix of residue indices
(``uint8``, alphabet :data:`AMINO_ACIDS`), which every encoding reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from typing_extensions import override

from activeloop.api.sequence import AMINO_ACIDS, validate_sequence
from activeloop.errors import VariantError
from activeloop.ml.library import Library

_AA_INDEX = {a: i for i, a in enumerate(AMINO_ACIDS)}
_LOOKUP = np.full(256, 255, dtype=np.uint8)
for _a, _i in _AA_INDEX.items():
    _LOOKUP[ord(_a)] = _i
_MUTATION = re.compile(r"^([A-Z])(\d+)([A-Z])$")
_SEPARATORS = re.compile(r"[:,;/+\s]+")
WILD_TYPE_NAMES = frozenset({"WT", "wt", "_wt", "wildtype", "wild-type", "parent"})


@dataclass(frozen=True, order=True)
class Mutation:
    """One substitution ``wt`` -> ``mt`` at 1-based ``position``."""

    position: int
    wt: str
    mt: str

    def __str__(self) -> str:
        return f"{self.wt}{self.position}{self.mt}"


def parse_mutations(text: str, parent: str, field_name: str = "variant") -> tuple[Mutation, ...]:
    """Parse ``V39A:D40G`` against ``parent``; check each wild-type letter and position.

    Returns the mutations sorted by position. Raises :class:`VariantError` on a malformed token,
    a position outside the parent, a wild-type letter that does not match, a substitution into a
    non-amino-acid, or two mutations at one position.
    """
    tokens = [t for t in _SEPARATORS.split(text.strip()) if t]
    if not tokens:
        raise VariantError(field_name, "no mutations given (write WT for the parent)")
    muts: dict[int, Mutation] = {}
    for tok in tokens:
        m = _MUTATION.match(tok.upper())
        if not m:
            raise VariantError(field_name, f"{tok!r} is not a substitution like V39A")
        wt, pos, mt = m.group(1), int(m.group(2)), m.group(3)
        if not 1 <= pos <= len(parent):
            raise VariantError(field_name, f"{tok}: position {pos} is outside 1..{len(parent)}")
        if parent[pos - 1] != wt:
            raise VariantError(
                field_name, f"{tok}: the parent has {parent[pos - 1]!r} at {pos}, not {wt!r}"
            )
        if mt not in _AA_INDEX:
            raise VariantError(field_name, f"{tok}: {mt!r} is not one of the 20 amino acids")
        if pos in muts:
            raise VariantError(field_name, f"{tok}: position {pos} is mutated twice")
        if mt != wt:
            muts[pos] = Mutation(pos, wt, mt)
    return tuple(sorted(muts.values()))


def mutations_of(sequence: str, parent: str) -> tuple[Mutation, ...]:
    """The substitutions that turn ``parent`` into ``sequence`` (same length)."""
    return tuple(
        Mutation(i, p, s) for i, (p, s) in enumerate(zip(parent, sequence), start=1) if p != s
    )


def canonical_name(muts: Iterable[Mutation]) -> str:
    """``V39F:D40W`` for a list of mutations, ``WT`` for none."""
    names = [str(m) for m in sorted(muts)]
    return ":".join(names) if names else "WT"


def apply_mutations(parent: str, muts: Iterable[Mutation]) -> str:
    """The parent sequence with ``muts`` applied."""
    seq = list(parent)
    for m in muts:
        seq[m.position - 1] = m.mt
    return "".join(seq)


@dataclass(frozen=True)
class VariantParser:
    """Turns any accepted spelling of a variant into its full sequence.

    Args:
        parent: the wild-type sequence.
        sites: optional 1-based positions for site-combination spellings (GB1: ``(39, 40, 41, 54)``).
    """

    parent: str
    sites: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "parent", validate_sequence(self.parent, "parent"))
        for s in self.sites:
            if not 1 <= s <= len(self.parent):
                raise VariantError("sites", f"site {s} is outside 1..{len(self.parent)}")
        if len(set(self.sites)) != len(self.sites):
            raise VariantError("sites", "a site is listed twice")

    def sequence(self, text: str, field_name: str = "variant") -> str:
        """The full sequence of ``text`` (substitutions, site combination, sequence or WT)."""
        raw = str(text).strip()
        if raw in WILD_TYPE_NAMES or raw.upper() == "WT":
            return self.parent
        if not raw:
            raise VariantError(field_name, "is empty")
        up = raw.upper()
        if self.sites and len(up) == len(self.sites) and up.isalpha():
            seq = list(self.parent)
            for pos, aa in zip(self.sites, up):
                if aa not in _AA_INDEX:
                    raise VariantError(
                        field_name, f"{raw!r}: {aa!r} is not one of the 20 amino acids"
                    )
                seq[pos - 1] = aa
            return "".join(seq)
        if len(up) == len(self.parent) and up.isalpha():
            return validate_sequence(up, field_name)
        if any(ch.isdigit() for ch in up):
            return apply_mutations(self.parent, parse_mutations(up, self.parent, field_name))
        expected = [f"substitutions like {self.parent[0]}1A", f"a sequence of {len(self.parent)}"]
        if self.sites:
            expected.insert(1, f"{len(self.sites)} residues for sites {list(self.sites)}")
        raise VariantError(field_name, f"{raw!r} is not {' or '.join(expected)}, nor WT")

    def name(self, text: str, field_name: str = "variant") -> str:
        """The canonical name of ``text``."""
        return canonical_name(mutations_of(self.sequence(text, field_name), self.parent))


def tokenize(sequences: Sequence[str]) -> np.ndarray:
    """``N x L`` uint8 matrix of residue indices; all sequences must have one length."""
    if not sequences:
        return np.zeros((0, 0), dtype=np.uint8)
    length = len(sequences[0])
    joined = "".join(sequences)
    if len(joined) != length * len(sequences):
        raise VariantError("sequences", "sequences of different lengths cannot share a library")
    arr = _LOOKUP[np.frombuffer(joined.encode("ascii"), dtype=np.uint8)].reshape(-1, length)
    if (arr == 255).any():
        row, col = map(int, np.argwhere(arr == 255)[0])
        raise VariantError(
            f"sequences[{row}]", f"residue {col + 1} is {sequences[row][col]!r}, not an amino acid"
        )
    return arr


def detokenize(tokens: np.ndarray) -> list[str]:
    """Inverse of :func:`tokenize`."""
    letters = np.frombuffer(AMINO_ACIDS.encode("ascii"), dtype=np.uint8)
    return [bytes(row).decode("ascii") for row in letters[tokens]]


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


__all__ = [
    "AMINO_ACIDS",
    "Mutation",
    "VariantLibrary",
    "VariantParser",
    "apply_mutations",
    "canonical_name",
    "detokenize",
    "mutations_of",
    "parse_mutations",
    "tokenize",
    "validate_sequence",
]
