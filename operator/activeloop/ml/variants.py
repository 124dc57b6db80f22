"""Variant lists of tens of millions, streamed and held as sparse substitutions.

All single and double substitutions of a 300-residue protein are 1.6 x 10^7 variants: as an
``N x L`` residue matrix that is 4.8 GB, and as Python strings more. A
:class:`SubstitutionLibrary` keeps each variant as its few substitutions instead (a position and a
residue per substitution, padded to the list's most: 6 bytes per variant for doubles) and one
64-bit key per variant for membership (a sorted array searched in ``O(log N)``); names, residues
and features are made for the rows asked for only. Rows keep the list's order.

:func:`read_variant_list` streams a CSV or Parquet list (its ``variant`` column) a block at a time
with Apache Arrow and parses substitutions with vectorised byte arithmetic, so a list of 10^7 is
read in seconds and never held as strings. Lists written another way (site combinations such as
``FWAA``, full sequences) are left to the in-memory :class:`~activeloop.ml.library.VariantLibrary`
(``None``), up to :data:`IN_MEMORY_LIMIT` variants.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from typing_extensions import override

from activeloop.api.sequence import AMINO_ACIDS, validate_sequence
from activeloop.errors import ConfigError, VariantError
from activeloop.ml.library import Library

IN_MEMORY_LIMIT = 1_000_000
"""The most variants a list not written as substitutions may hold (an ``N x L`` residue matrix)."""
BLOCK_BYTES = 16 << 20
"""Bytes of the list read and parsed at a time."""
_AA = np.full(256, 255, dtype=np.uint8)
for _i, _a in enumerate(AMINO_ACIDS):
    _AA[ord(_a)] = _i
_LETTERS = np.frombuffer(AMINO_ACIDS.encode("ascii"), dtype=np.uint8)


def _base(length: int) -> int:
    """Codes of one substitution: ``position * 20 + residue + 1`` (0: none)."""
    return 20 * length + 1


def max_substitutions_for(length: int) -> int:
    """The most substitutions per variant whose key fits 63 bits for a parent of ``length``."""
    k, base = 0, _base(length)
    while base ** (k + 1) < 2**63:
        k += 1
    return k


@dataclass(frozen=True)
class SubstitutionLibrary(Library):
    """Variants of ``parent`` as sparse substitutions (see the module docstring).

    ``positions0``: ``N x K`` 0-based positions, ascending in each row, ``-1`` where a variant has
    fewer than ``K``; ``residues``: the new residues (indices into AMINO_ACIDS; 255 as padding).
    """

    parent: str
    positions0: np.ndarray
    residues: np.ndarray
    source: str = "library.variantsUri"
    _sorted: tuple[np.ndarray, np.ndarray] = field(default=(np.zeros(0), np.zeros(0)), repr=False, compare=False)
    _excluded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = self.keys_of(self.positions0, self.residues)
        order = np.argsort(keys, kind="stable").astype(np.int64 if len(keys) >= 2**31 else np.int32)
        ordered = keys[order]
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        if len(same):
            a, b = sorted((int(order[same[0]]), int(order[same[0] + 1])))
            raise VariantError(f"{self.source}: line {b + 2}", (
                f"{self.names_of(np.array([b]))[0]} repeats line {a + 2}"))
        object.__setattr__(self, "_sorted", (ordered, order))

    def excluding(self, rows: np.ndarray) -> SubstitutionLibrary:
        """The same list with ``rows`` never proposed (``library.exclude``); arrays shared, not copied."""
        out = copy.copy(self)
        object.__setattr__(out, "_excluded", np.unique(np.asarray(rows, dtype=np.int64)))
        return out

    @override
    def excluded_rows(self) -> np.ndarray:
        return self._excluded

    def keys_of(self, positions0: np.ndarray, residues: np.ndarray) -> np.ndarray:
        """One ``int64`` per row: its substitution codes in base ``20 L + 1``."""
        base = _base(len(self.parent))
        codes = np.where(positions0 >= 0, positions0.astype(np.int64) * 20 + residues + 1, 0)
        key = np.zeros(len(positions0), dtype=np.int64)
        for k in range(codes.shape[1]):
            key = key * base + codes[:, k]
        return key

    def __len__(self) -> int:
        return len(self.positions0)

    @cached_property
    def _positions(self) -> np.ndarray:
        p = np.unique(self.positions0)
        return p[p >= 0].astype(np.int64)

    @override
    @property
    def positions(self) -> np.ndarray:
        return self._positions

    @cached_property
    def site_index(self) -> np.ndarray:
        """For each 0-based parent position, its column in :attr:`positions` (``-1``: none)."""
        index = np.full(len(self.parent), -1, dtype=np.int64)
        index[self.positions] = np.arange(len(self.positions))
        return index

    @property
    def max_per_variant(self) -> int:
        """``K``: the most substitutions a variant of the list has."""
        return int(self.positions0.shape[1])

    @override
    def site_tokens(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.repeat(self.parent_site_tokens[None, :], len(rows), axis=0)
        pos, res = self.positions0[rows], self.residues[rows]
        i, k = np.nonzero(pos >= 0)
        out[i, self.site_index[pos[i, k]]] = res[i, k]
        return out

    def substitutions(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row, site column, residue)`` of every substitution of ``rows`` (``row``: index into
        ``rows``): what a sparse one-hot encoding is made of."""
        pos, res = self.positions0[np.asarray(rows, dtype=np.int64)], self.residues[np.asarray(rows, dtype=np.int64)]
        i, k = np.nonzero(pos >= 0)
        return i, self.site_index[pos[i, k]], res[i, k].astype(np.int64)

    @override
    def names_of(self, rows: np.ndarray) -> list[str]:
        rows = np.asarray(rows, dtype=np.int64)
        pos, res = self.positions0[rows], self.residues[rows]
        parent = self.parent
        out = []
        for p_row, r_row in zip(pos.tolist(), res.tolist(), strict=True):
            out.append(":".join(f"{parent[p]}{p + 1}{AMINO_ACIDS[r]}" for p, r in zip(p_row, r_row, strict=True)
                                if p >= 0) or "WT")
        return out

    def _row_or_none(self, name: str) -> int | None:
        parsed = parse_names([name], self.parent, self.max_per_variant)
        if parsed is None:
            return None
        key = self.keys_of(*parsed)[0]
        ordered, order = self._sorted
        i = int(np.searchsorted(ordered, key))
        return int(order[i]) if i < len(ordered) and ordered[i] == key else None

    @override
    def contains(self, name: str) -> bool:
        row = self._row_or_none(name)
        return row is not None and not _member(self._excluded, row)

    @override
    def rows_of(self, names: Iterable[str]) -> np.ndarray:
        names = list(names)
        parsed = parse_names(names, self.parent, self.max_per_variant)
        if parsed is None:
            bad = next(n for n in names if parse_names([n], self.parent, self.max_per_variant) is None)
            raise VariantError("variant", f"{bad} is not in the candidate library")
        keys = self.keys_of(*parsed)
        ordered, order = self._sorted
        i = np.minimum(np.searchsorted(ordered, keys), max(len(ordered) - 1, 0))
        found = (ordered[i] == keys) if len(ordered) else np.zeros(len(keys), dtype=bool)
        if not found.all():
            raise VariantError("variant", f"{names[int(np.argmin(found))]} is not in the candidate library")
        return order[i].astype(np.int64)


def _member(sorted_rows: np.ndarray, row: int) -> bool:
    i = int(np.searchsorted(sorted_rows, row))
    return i < len(sorted_rows) and int(sorted_rows[i]) == row


# ------------------------------------------------------------------------------------- parsing


def parse_names(names: list[str], parent: str, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Canonical names (``V39A:D40G`` or ``WT``) as ``(positions0, residues)`` padded to ``width``;
    ``None`` if one is not such a name, or has more than ``width`` substitutions."""
    import pyarrow as pa

    try:
        parsed = _parse_block(pa.array(names, type=pa.string()), parent, 0, "variant")
    except (ValueError, VariantError):
        return None
    if parsed is None or parsed[0].shape[1] > width:
        return None
    pos, res = parsed
    pad = width - pos.shape[1]
    return (np.pad(pos, ((0, 0), (0, pad)), constant_values=-1),
            np.pad(res, ((0, 0), (0, pad)), constant_values=255))


def _parse_block(arr: Any, parent: str, first_line: int, source: str) -> tuple[np.ndarray, np.ndarray] | None:
    """One block of names (an Arrow string array) as ``(positions0, residues)`` padded to the
    block's most substitutions; ``None`` when some name is not written as substitutions; a
    :class:`VariantError` naming the line for a substitution that does not fit the parent."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = arr if arr.null_count == 0 else pc.fill_null(arr, "")
    text = pc.ascii_upper(pc.ascii_trim_whitespace(text))
    wild = pc.equal(text, "WT").to_numpy(zero_copy_only=False)
    if _has_bytes(text, b",;/+ \t"):  # other separators than ':' (V39A,D40G): the regex only then
        text = pc.replace_substring_regex(text, r"[,;/+\s]+", ":")
    parts = pc.split_pattern(pc.if_else(pa.array(wild), "", text), ":", max_splits=None)
    flat = pc.list_flatten(parts)
    owner = pc.list_parent_indices(parts).to_numpy()
    flat = pa.concat_arrays([flat]) if flat.offset else flat
    n = len(text)
    offsets = np.frombuffer(flat.buffers()[1], dtype=np.int32)[: len(flat) + 1]
    data = np.frombuffer(flat.buffers()[2], dtype=np.uint8) if flat.buffers()[2] is not None else np.zeros(0, np.uint8)
    start, stop = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    length = stop - start
    keep = length > 0  # "WT" rows split to one empty token
    start, stop, length, owner = start[keep], stop[keep], length[keep], owner[keep]
    if ((length < 3) | (length > 8)).any():
        return None
    wt = data[start]
    mt = data[stop - 1]
    digits = length - 2
    pos = np.zeros(len(start), dtype=np.int64)
    for j in range(int(digits.max()) if len(digits) else 0):
        has = digits > j
        d = data[np.where(has, start + 1 + j, start)].astype(np.int64) - 48
        if ((d < 0) | (d > 9))[has].any():
            return None
        pos = np.where(has, pos * 10 + d, pos)
    if ((wt < 65) | (wt > 90) | (mt < 65) | (mt > 90)).any():
        return None
    parent_bytes = np.frombuffer(parent.encode("ascii"), dtype=np.uint8)
    problem = _first_problem(pos, wt, mt, parent_bytes)
    if problem is not None:
        i, why = problem
        token = bytes(data[start[i]:stop[i]]).decode("ascii")
        raise VariantError(f"{source}: line {first_line + int(owner[i]) + 2}", f"{token}: {why}")
    silent = wt == mt  # A12A: no substitution
    if silent.any():
        pos, mt, owner = pos[~silent], mt[~silent], owner[~silent]
    pos, mt = pos - 1, _AA[mt]
    if ((owner[1:] == owner[:-1]) & (pos[1:] < pos[:-1])).any():  # a variant not written in position order
        order = np.lexsort((pos, owner))
        pos, mt, owner = pos[order], mt[order], owner[order]
    twice = np.flatnonzero((owner[1:] == owner[:-1]) & (pos[1:] == pos[:-1]))
    if len(twice):
        i = twice[0]
        raise VariantError(f"{source}: line {first_line + int(owner[i]) + 2}",
                           f"position {pos[i] + 1} is mutated twice")
    counts = np.bincount(owner, minlength=n)
    width = int(counts.max()) if n and len(counts) else 0
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    out_pos = np.full((n, width), -1, dtype=np.int16 if len(parent) < 32_767 else np.int32)
    out_res = np.full((n, width), 255, dtype=np.uint8)
    out_pos[owner, slot] = pos
    out_res[owner, slot] = mt
    return out_pos, out_res


def _has_bytes(arr: Any, chars: bytes) -> bool:
    """Whether any string of an Arrow string array holds one of ``chars``."""
    data = arr.buffers()[2]
    if data is None:
        return False
    present = np.zeros(256, dtype=bool)
    present[np.frombuffer(chars, dtype=np.uint8)] = True
    return bool(present[np.frombuffer(data, dtype=np.uint8)].any())


def _first_problem(pos: np.ndarray, wt: np.ndarray, mt: np.ndarray, parent: np.ndarray) -> tuple[int, str] | None:
    """The first token that does not fit the parent, and why."""
    outside = (pos < 1) | (pos > len(parent))
    if outside.any():
        i = int(np.argmax(outside))
        return i, f"position {pos[i]} is outside 1..{len(parent)}"
    wrong = parent[pos - 1] != wt
    if wrong.any():
        i = int(np.argmax(wrong))
        return i, f"the parent has {chr(parent[pos[i] - 1])!r} at {pos[i]}, not {chr(wt[i])!r}"
    unknown = _AA[mt] == 255
    if unknown.any():
        i = int(np.argmax(unknown))
        return i, f"{chr(mt[i])!r} is not one of the 20 amino acids"
    return None


def _blocks(data: bytes) -> Iterator[Any]:
    """The ``variant`` column of a CSV or Parquet list, a block at a time (Arrow string arrays)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if data[:4] == b"PAR1":
        pf = pq.ParquetFile(io.BytesIO(data))
        if "variant" not in pf.schema_arrow.names:
            raise ConfigError("library.variantsUri",
                              f"the list has no 'variant' column (columns: {pf.schema_arrow.names})")
        for batch in pf.iter_batches(batch_size=1 << 20, columns=["variant"]):
            yield batch.column(0).cast(pa.string())
        return
    body = data[3:] if data[:3] == b"\xef\xbb\xbf" else data
    header = body.split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(",")
    if "variant" not in [h.strip().strip('"') for h in header]:
        raise ConfigError("library.variantsUri", f"the list has no 'variant' column (columns: {header})")
    reader = pcsv.open_csv(
        io.BytesIO(body), read_options=pcsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pcsv.ConvertOptions(include_columns=["variant"], column_types={"variant": pa.string()},
                                            strings_can_be_null=False))
    for batch in reader:
        yield batch.column(0)


def read_variant_list(data: bytes, parent: str, source: str = "library.variantsUri") -> SubstitutionLibrary | None:
    """A list of variants (CSV or Parquet with a ``variant`` column) as a :class:`SubstitutionLibrary`,
    streamed a block at a time; ``None`` when its variants are not all written as substitutions (or
    ``WT``) or have more substitutions than a 64-bit key holds. Errors name the line."""
    import pyarrow as pa

    parent = validate_sequence(parent, "parentSequence")
    most = max_substitutions_for(len(parent))
    pos_parts, res_parts = [], []
    line = 0
    try:
        for block in _blocks(data):
            parsed = _parse_block(block, parent, line, source)
            if parsed is None or parsed[0].shape[1] > most:
                return None
            pos_parts.append(parsed[0])
            res_parts.append(parsed[1])
            line += len(block)
    except pa.ArrowInvalid as exc:
        raise ConfigError(source, f"not a readable list ({exc})") from None
    width = max((p.shape[1] for p in pos_parts), default=0)
    pos = np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=-1) for p in pos_parts]
                         or [np.zeros((0, 0), dtype=np.int16)])
    res = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=255) for r in res_parts]
                         or [np.zeros((0, 0), dtype=np.uint8)])
    return SubstitutionLibrary(parent, pos, res, source)


__all__ = ["IN_MEMORY_LIMIT", "SubstitutionLibrary", "max_substitutions_for", "parse_names", "read_variant_list"]
