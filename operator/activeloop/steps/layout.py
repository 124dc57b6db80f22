"""Plate maps: which well each proposed variant goes into.

Wells are filled column by column (A1, B1, ..., H1, A2, ...), the order in which a lab pipettes
with an 8-channel (96-well) or 16-channel (384-well) pipette; a batch larger than one plate
continues on plate 2.
"""

from __future__ import annotations

import pandas as pd

from activeloop.errors import ConfigError

PLATES = {96: (8, 12), 384: (16, 24)}
"""Rows and columns of the supported plate formats."""


def wells(n: int, size: int = 96) -> list[tuple[int, str]]:
    """``(plate, well)`` of the first ``n`` positions, column by column."""
    if size not in PLATES:
        raise ConfigError("layout", f"plate size {size}: use one of {sorted(PLATES)}")
    rows, cols = PLATES[size]
    letters = "ABCDEFGHIJKLMNOP"[:rows]
    order = [f"{letters[r]}{c + 1}" for c in range(cols) for r in range(rows)]
    return [(i // size + 1, order[i % size]) for i in range(n)]


def plate_map(proposals: pd.DataFrame, size: int = 96) -> pd.DataFrame:
    """``proposals`` with ``plate`` and ``well`` columns first, in pipetting order."""
    placed = wells(len(proposals), size)
    out = proposals.reset_index(drop=True).copy()
    out.insert(0, "well", [w for _, w in placed])
    out.insert(0, "plate", [p for p, _ in placed])
    return out


__all__ = ["PLATES", "plate_map", "wells"]
