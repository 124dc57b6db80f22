"""Plate maps: which well each proposed variant (and each control) goes into.

Every plate carries the campaign's control wells (``plates.controls``) in the same wells; the
proposed variants fill the other wells in pipetting order (A1, B1, ..., H1, A2, ...: column by
column, as an 8- or 16-channel pipette fills them), in the order of their rank; a batch larger
than one plate continues on plate 2. The same proposals and spec always give the same map, so a
reader's export by well is matched to its variants with the map alone (``ingest.PlateMap``).
"""

from __future__ import annotations

import pandas as pd

from activeloop.api.campaign import PlatesSpec
from activeloop.api.wells import PLATES, well_name, well_order
from activeloop.errors import ConfigError, RecordError, RowProblem
from activeloop.steps.ingest import PlateMap
from activeloop.steps.tables import CONTROL_COLUMNS, PLATE_COLUMNS, VARIANT_COLUMNS, WELL_COLUMNS, Table, find_column

MAP_COLUMNS = ["plate", "well", "variant", "control"]


def wells(n: int, size: int = 96, reserved: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """``(plate, well)`` of the first ``n`` free positions (``reserved`` wells skipped on every plate)."""
    if size not in PLATES:
        raise ConfigError("layout", f"plate size {size}: use one of {sorted(PLATES)}")
    free = [w for w in well_order(size) if w not in reserved]
    if not free:
        raise ConfigError("plates.controls", "the controls take every well")
    return [(i // len(free) + 1, free[i % len(free)]) for i in range(n)]


def plate_map(proposals: pd.DataFrame, size: int | None = None, plates: PlatesSpec | None = None) -> pd.DataFrame:
    """``proposals`` laid out on plates: ``plate, well, variant, control`` and the proposals' own
    columns, one row per filled well in plate and pipetting order (controls included)."""
    plates = plates or PlatesSpec()
    size = size or plates.size
    if size not in PLATES:
        raise ConfigError("layout", f"plate size {size}: use one of {sorted(PLATES)}")
    try:
        controls = {well_name(w, size): c for w, c in plates.control_wells.items()}
    except ValueError as exc:
        raise ConfigError("layout", f"the campaign's control wells do not fit a {size}-well plate: {exc}") from None
    placed = wells(len(proposals), size, frozenset(controls))
    body = proposals.reset_index(drop=True).copy()
    body.insert(0, "control", "")
    body.insert(0, "well", [w for _, w in placed])
    body.insert(0, "plate", [p for p, _ in placed])
    n_plates = max((p for p, _ in placed), default=1)
    ctl = pd.DataFrame([{"plate": p, "well": w, "variant": ("WT" if c.kind == "parent" else c.variant or ""),
                         "control": c.kind} for p in range(1, n_plates + 1) for w, c in controls.items()],
                       columns=MAP_COLUMNS)
    out = pd.concat([body, ctl], ignore_index=True) if len(ctl) else body
    order = {w: i for i, w in enumerate(well_order(size))}
    out["_pos"] = out["well"].map(order)
    out = out.sort_values(["plate", "_pos"], kind="stable").drop(columns="_pos").reset_index(drop=True)
    first = [c for c in MAP_COLUMNS if c in out] + [c for c in out.columns if c not in MAP_COLUMNS]
    return out[first]


def read_map(table: Table, plate: int | None = None) -> PlateMap:
    """A lab's own plate map (a table with a well column, a variant column, and optionally plate and
    control columns) as a :class:`~activeloop.steps.ingest.PlateMap`."""
    wcol = find_column(table.columns, WELL_COLUMNS)
    vcol = find_column(table.columns, VARIANT_COLUMNS)
    if wcol is None or vcol is None:
        raise RecordError(table.source, [RowProblem(table.header_line, "well" if wcol is None else "variant", (
            f"a plate map needs a well column and a variant column; the file has {table.columns}"))])
    pcol = find_column(table.columns, PLATE_COLUMNS)
    ccol = find_column(table.columns, CONTROL_COLUMNS)
    index = {c: i for i, c in enumerate(table.columns)}
    rows, problems = [], []
    for line, cells in zip(table.lines, table.rows):
        try:
            well = well_name(cells[index[wcol]], 384)
        except ValueError as exc:
            problems.append(RowProblem(line, wcol, str(exc)))
            continue
        p = cells[index[pcol]].strip() if pcol else "1"
        if not p.isdigit():
            problems.append(RowProblem(line, pcol or "plate", f"{p!r} is not a plate number"))
            continue
        rows.append({"plate": int(p), "well": well, "variant": cells[index[vcol]].strip(),
                     "control": cells[index[ccol]].strip().lower() if ccol else ""})
    if problems:
        raise RecordError(table.source, problems)
    df = pd.DataFrame(rows, columns=MAP_COLUMNS)
    dup = df[df.duplicated(["plate", "well"], keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise RecordError(table.source, [RowProblem(0, wcol, f"well {first['well']} of plate {first['plate']} "
                                                             "is listed twice in the map")])
    return PlateMap(df, plate, source=f"the map {table.source}")


__all__ = ["MAP_COLUMNS", "PLATES", "plate_map", "read_map", "wells"]
