"""Plate formats and well names, as plate readers and pipettes know them.

A well is named by its row letter and column number (``A1`` .. ``H12`` on a 96-well plate,
``A1`` .. ``P24`` on a 384-well plate); readers also write ``A01``, ``a1`` or ``A 1``, which
:func:`well_name` reads as ``A1``. Wells are filled column by column (A1, B1, ..., H1, A2, ...),
the order in which a lab pipettes with an 8-channel (96) or 16-channel (384) pipette.
"""

from __future__ import annotations

import re

PLATES: dict[int, tuple[int, int]] = {96: (8, 12), 384: (16, 24)}
"""Rows and columns of the supported plate formats."""

_WELL = re.compile(r"^\s*([A-Pa-p])\s*0*([0-9]{1,2})\s*$")


def well_name(text: str, size: int = 96) -> str:
    """``text`` as a canonical well name on a ``size``-well plate (``A01`` -> ``A1``), or
    ``ValueError`` saying why it is none."""
    if size not in PLATES:
        raise ValueError(f"plate size {size}: use one of {sorted(PLATES)}")
    rows, cols = PLATES[size]
    m = _WELL.match(str(text))
    if m is None:
        raise ValueError(f"{text!r} is not a well (a row letter and a column number, as A1 or H12)")
    row, col = m.group(1).upper(), int(m.group(2))
    if ord(row) - ord("A") >= rows or not 1 <= col <= cols:
        last = f"{chr(ord('A') + rows - 1)}{cols}"
        raise ValueError(f"{text!r} is not on a {size}-well plate (A1 to {last})")
    return f"{row}{col}"


def well_order(size: int = 96) -> list[str]:
    """Every well of a ``size``-well plate in pipetting order (column by column)."""
    if size not in PLATES:
        raise ValueError(f"plate size {size}: use one of {sorted(PLATES)}")
    rows, cols = PLATES[size]
    letters = "ABCDEFGHIJKLMNOP"[:rows]
    return [f"{letters[r]}{c + 1}" for c in range(cols) for r in range(rows)]


def well_position(well: str) -> tuple[int, int]:
    """``(row, column)`` of a canonical well name, both from 0 (``B3`` -> ``(1, 2)``)."""
    return ord(well[0]) - ord("A"), int(well[1:]) - 1


__all__ = ["PLATES", "well_name", "well_order", "well_position"]
