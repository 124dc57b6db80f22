"""Site libraries under constraints: the arithmetic the spec and the library share.

A site library is every combination of a residue set at each of a few sites. Constraints keep it
an arithmetic object, never an enumerated one:

* a residue set per site (``sites: [{position: 39, residues: AVILMFWY}]``), so row digits have a
  radix per site (mixed radix);
* a budget of substitutions from the parent (``maxSubstitutions``): the rows are the digit
  vectors with at most that many digits differing from the parent's, in the same lexicographic
  order; :func:`completions` counts them and ranks or unranks a row in ``O(sites)``;
* forbidden residues and motifs (``forbidden: [C, "N[^P][ST]"]``): a variant may not *introduce*
  one. A one-residue motif leaves the residue out of every site's set (a site keeps its parent's
  residue); a longer motif is a pattern of fixed length whose new occurrences are found window by
  window over the sites it touches (``ml.library``). Occurrences already in the parent are kept.

Pure Python, used by ``api.campaign`` (sizes in the spec's checks) and ``ml.library`` (rows).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, field_validator

from activeloop.api.base import Model
from activeloop.api.sequence import AMINO_ACIDS, validate_sequence
from activeloop.errors import VariantError

Motif = tuple[frozenset[str], ...]
"""A compiled motif: the residues allowed at each of its positions."""

_ANY = frozenset(AMINO_ACIDS)


class SiteSpec(Model):
    """One mutated site and the residues it may take."""

    position: int = Field(ge=1, description="1-based position in the parent sequence.")
    residues: str | None = Field(
        None, description="Residues allowed at this site (default: library.alphabet), e.g. AVILMFWY."
    )

    @field_validator("residues")
    @classmethod
    def _residues(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = validate_sequence(v, "residues")
        if len(set(v)) != len(v):
            raise ValueError("repeats a residue")
        return v


def parse_motif(text: str, field: str) -> Motif:
    """A motif (``C``, ``N[^P][ST]``, ``CXXC``) as the residue set of each position.

    The grammar: a residue letter, ``X`` or ``.`` (any residue), ``[ST]`` (one of), ``[^P]`` (any
    but). Raises :class:`VariantError` naming ``field`` and the column of the first problem.
    """
    src = text.strip().upper()
    out: list[frozenset[str]] = []
    i = 0
    if not src:
        raise VariantError(field, "is empty: give a residue (C) or a motif (N[^P][ST])")
    while i < len(src):
        ch = src[i]
        if ch in "X.":
            out.append(_ANY)
            i += 1
        elif ch in AMINO_ACIDS:
            out.append(frozenset(ch))
            i += 1
        elif ch == "[":
            end = src.find("]", i)
            if end < 0:
                raise VariantError(field, f"{text!r}: the '[' at column {i + 1} is never closed")
            body, negate = src[i + 1:end], src[i + 1:i + 2] == "^"
            letters = body[1:] if negate else body
            bad = [c for c in letters if c not in AMINO_ACIDS]
            if not letters or bad:
                raise VariantError(field, f"{text!r}: the class at column {i + 1} must list amino acids"
                                          + (f", not {bad[0]!r}" if bad else ""))
            chosen = _ANY - frozenset(letters) if negate else frozenset(letters)
            if not chosen:
                raise VariantError(field, f"{text!r}: the class at column {i + 1} allows no residue")
            out.append(chosen)
            i = end + 1
        else:
            raise VariantError(field, f"{text!r}: column {i + 1} is {ch!r}; use residue letters, X or . "
                                      "(any), [ST] (one of) and [^P] (any but)")
    return tuple(out)


def site_residues(parent: str, positions: Sequence[int], residues: Sequence[str],
                  motifs: Sequence[Motif]) -> list[str]:
    """Each site's residues once the one-residue motifs are left out (a site keeps its parent's
    residue); the order of each set is kept."""
    banned = frozenset().union(*(m[0] for m in motifs if len(m) == 1))
    return ["".join(r for r in res if r not in banned or r == parent[pos - 1])
            for pos, res in zip(positions, residues)]


def completions(radices: Sequence[int], parent_in: Sequence[bool], budget: int) -> list[list[int]]:
    """``C[i][j]``: the digit vectors of sites ``i..S-1`` with at most ``j`` digits differing from
    the parent's (``j = 0..budget``). ``parent_in[i]``: whether site ``i``'s set holds the parent's
    residue (if not, every digit there is a substitution). ``C[0][budget]`` is the library's size."""
    S = len(radices)
    table = [[0] * (budget + 1) for _ in range(S + 1)]
    table[S] = [1] * (budget + 1)
    for i in range(S - 1, -1, -1):
        keep = 1 if parent_in[i] else 0
        for j in range(budget + 1):
            change = table[i + 1][j - 1] if j > 0 else 0
            table[i][j] = keep * table[i + 1][j] + (radices[i] - keep) * change
    return table


def count_rows(radices: Sequence[int], parent_in: Sequence[bool], budget: int | None) -> int:
    """How many digit vectors have at most ``budget`` substitutions (every one if ``None``)."""
    S = len(radices)
    b = S if budget is None else min(budget, S)
    return completions(radices, parent_in, b)[0][b]


__all__ = ["Motif", "SiteSpec", "completions", "count_rows", "parse_motif", "site_residues"]
