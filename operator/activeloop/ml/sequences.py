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
from dataclasses import dataclass

import numpy as np

from activeloop.api.sequence import AMINO_ACIDS, validate_sequence
from activeloop.errors import VariantError

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


__all__ = [
    "AMINO_ACIDS",
    "Mutation",
    "VariantParser",
    "apply_mutations",
    "canonical_name",
    "detokenize",
    "mutations_of",
    "parse_mutations",
    "tokenize",
    "validate_sequence",
]
