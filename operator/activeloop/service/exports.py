"""Tables to download, as a lab opens them: CSV, or an Excel workbook (``.xlsx``, written with
openpyxl: a header row in bold, frozen, columns sized to their content, numbers as numbers).

Proposals go out as a plate map ready to fill: ``plate, well, variant, control``, the prediction
in measured units with its interval, and an empty value column for the reader's numbers, so the
file that comes back can be recorded as it is.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Literal

import pandas as pd

from activeloop.api.campaign import PlatesSpec
from activeloop.errors import InputError
from activeloop.steps.layout import plate_map

Format = Literal["csv", "xlsx"]
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def proposals_sheet(proposals: pd.DataFrame, layout: int | None, plates: PlatesSpec,
                    value_names: Sequence[str]) -> pd.DataFrame:
    """A round's proposals to download: laid out on plates (``layout``: 96 or 384 wells, with the
    campaign's control wells) and with an empty column to fill in per objective (``value_names``),
    or as they are."""
    table = proposals.copy()
    if layout is not None:
        table = plate_map(table, layout, plates)
    for name in value_names:
        table[name] = ""
    return table


def table_bytes(table: pd.DataFrame, fmt: str, title: str = "Sheet1") -> bytes:
    """``table`` as CSV or as an ``.xlsx`` workbook of one sheet called ``title``."""
    if fmt == "csv":
        return table.to_csv(index=False, lineterminator="\n").encode()
    if fmt != "xlsx":
        raise InputError("format", f"{fmt!r}: use csv or xlsx")
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    for r, row in enumerate([list(map(str, table.columns)), *table.itertuples(index=False)], start=1):
        for c, v in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=_cell(v))
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text stays text: a cell starting with '=' is never a formula
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for i, column in enumerate(table.columns, start=1):
        width = max([len(str(column))] + [len(str(v)) for v in table[column].head(200)])
        ws.column_dimensions[get_column_letter(i)].width = min(max(8, width + 2), 60)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _cell(v: object) -> object:
    """A cell as openpyxl writes it: numbers as numbers, missing values empty, the rest as text."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (bool, int, float)):
        return v
    return str(v)


__all__ = ["MEDIA", "Format", "proposals_sheet", "table_bytes"]
