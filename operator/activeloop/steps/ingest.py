"""Assay results in: the one ingestion path of the workstation, the operator and plate import.

Every way results arrive goes through the same three stages, so replicates, failed wells,
duplicates and corrections mean the same everywhere:

1. **Read** a table as labs and plate readers write it (``steps.tables``: Excel or text, title
   rows above the header, units in column names), or the ``measurements`` of an AssayResult
   (:func:`assay_spec_rows`). A table gives variants by name, or by well with a plate map
   (:class:`PlateMap`: the one ``steps.layout`` gave out, or the lab's own).
2. **Check** every row against the campaign (:func:`check_rows`): the variant parses against the
   parent and belongs to the library (a control well holds the parent, a reference variant or a
   blank); the value is a finite number (decimal commas detected), or the well is marked failed
   (:data:`FAILED_MARKERS`, in a ``status`` column or in place of the value); a replicate number,
   where given, is a whole number from 1; a variant appears once per replicate number, a well once.
   Every problem is reported with its line and column; if there is any, nothing is recorded.
3. **Store** the checked rows as one *assay* (:func:`store_assay`): ``assays/<name>.csv`` holds the
   rows in canonical form and ``assays/<name>.json`` its metadata (content hash, what it
   supersedes, how its replicates combine, when it arrived). Storing the same rows again changes
   nothing; a correction is a new assay that names the ones it ``supersedes``.

:func:`measurements` turns the stored assays into one row per variant: within an assay, replicates
combine by its rule (mean or median); across assays (a variant measured on two plates) the
per-assay values are averaged, each plate counting once; superseded assays are left out; a
variant with only failed wells is *failed* (tried, no value: never proposed again, never fitted).
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from activeloop.api import naming
from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import API_VERSION, AssayResultSpec
from activeloop.api.wells import well_name
from activeloop.errors import RecordError, RowProblem, VariantError
from activeloop.ml.library import Library
from activeloop.ml.sequences import VariantParser
from activeloop.steps import controls
from activeloop.steps.tables import (
    CONTROL_COLUMNS,
    PLATE_COLUMNS,
    REPLICATE_COLUMNS,
    STATUS_COLUMNS,
    VALUE_COLUMNS,
    VARIANT_COLUMNS,
    WELL_COLUMNS,
    Table,
    column_key,
    find_column,
    read_table,
)
from activeloop.store import keys
from activeloop.store.base import ArtifactStore, sha256_bytes

ROW_COLUMNS = ["variant", "value", "failed", "replicate"]
"""Columns of a stored assay (one row per measured well)."""
OBJECTIVE_PREFIX = "value:"
"""A further objective's column in stored rows and measurements (``value:expression``); ``value``
is the first objective's. Only campaigns with several objectives have them, so a single-objective
plate keeps the content hash it always had."""


def objective_column(name: str) -> str:
    """The stored column of further objective ``name``."""
    return OBJECTIVE_PREFIX + name


def objective_columns(df: pd.DataFrame) -> list[str]:
    """The further objectives' columns of stored rows or measurements, in name order."""
    return sorted(c for c in df.columns if str(c).startswith(OBJECTIVE_PREFIX))
MEASUREMENT_COLUMNS = ["variant", "value", "failed", "n", "assays", "arrived_round"]
"""Columns of :func:`measurements` (one row per variant)."""
MAX_VALUE = 1e100
"""The largest magnitude a measured value may have (so that no combination of values can overflow)."""
MAX_PER_OBJECT = 4096
"""Measurements per AssayResult object (the CRD's ``maxItems``); larger plates are split."""
FAILED_MARKERS = ("failed", "fail", "failure", "no value", "nd", "n.d.", "n/a", "na", "error", "err", "overflow",
                  "ovrflw", "----")
"""What marks a failed well, in a status column or in place of the value (any case); the documented list."""
OK_MARKERS = frozenset({"", "ok", "pass", "passed", "valid", "measured"})
CONTROL_NAMES = {"parent": "parent", "wt": "parent", "wild type": "parent", "wildtype": "parent",
                 "blank": "blank", "empty": "blank", "buffer": "blank", "background": "blank",
                 "reference": "reference", "ref": "reference", "": ""}
"""What a control column may say, and the control it means."""


# ----------------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class RawRow:
    """One measurement as written, before checking; ``*_column`` name where each cell came from."""

    line: int
    variant: object
    value: object
    failed: bool = False
    replicate: object = None
    variant_column: str = "variant"
    value_column: str = "value"
    replicate_column: str = "replicate"
    place: str = ""
    """How a problem names this row to a person (``line 3``, ``spec.measurements[2]``)."""
    well: str = ""
    control: str = ""
    """``parent``, ``blank`` or ``reference`` for a control well; empty for a variant."""
    extras: tuple[tuple[str, object, str], ...] = ()
    """Further objectives' cells: ``(objective, cell, where it came from)``."""

    @property
    def where(self) -> str:
        """Where the row is: :attr:`place`, else its line."""
        return self.place or f"line {self.line}"


@dataclass(frozen=True)
class PlateMap:
    """Which variant or control is in each well (``plate, well, variant, control``), as
    ``steps.layout.plate_map`` gave it out or as a lab's own map file says; ``plate``: which
    plate of the map a reader's file is (``None``: the map's only plate)."""

    wells: pd.DataFrame
    plate: int | None = None
    source: str = "the plate map"


def _value_column(table: Table, spec: CampaignSpec, value_column: str | None) -> str | None:
    """The first objective's column (``None``: a campaign with several objectives and a plate that
    gives only further ones)."""
    if value_column is not None:
        ycol = find_column(table.columns, [value_column])
        if ycol is None:
            raise RecordError(table.source, [RowProblem(table.header_line, value_column, (
                f"no column {value_column!r}; the file has {table.columns}"))])
        return ycol
    further = {o.name.lower() for o in spec.further_objectives}
    names = [n for n in dict.fromkeys(["value", spec.objective.name.lower(), *VALUE_COLUMNS]) if n not in further]
    ycol = find_column(table.columns, names)
    if ycol is None and further and _further_columns(table, spec):
        return None
    if ycol is None:
        raise RecordError(table.source, [RowProblem(table.header_line, "value", (
            f"no value column (one of {names}, any case, a unit in brackets allowed); the file has "
            f"{table.columns}: name the one to use with --value-column"))])
    return ycol


def _further_columns(table: Table, spec: CampaignSpec) -> list[tuple[str, str]]:
    """``(objective, column)`` of each further objective the table has a column for."""
    found = [(o.name, find_column(table.columns, [o.name])) for o in spec.further_objectives]
    return [(name, col) for name, col in found if col is not None]


def _decimal_of(cells: Iterable[str], decimal: str) -> str:
    """``decimal`` (``.`` or ``,``), or for ``auto`` the one the values use: ``,`` when some value
    is written ``12,5`` and none ``12.5``."""
    if decimal != "auto":
        return decimal
    comma = dot = False
    for c in cells:
        text = c.strip()
        comma = comma or bool(re.fullmatch(r"[-+]?\d*,\d+", text))
        dot = dot or bool(re.fullmatch(r"[-+]?\d*\.\d+([eE][-+]?\d+)?", text))
    return "," if comma and not dot else "."


def decimal_used(table: Table, spec: CampaignSpec, value_column: str | None, decimal: str) -> str:
    """The decimal mark the table's values are read with (``decimal``, or the one ``auto`` finds)."""
    columns = [c for c in [_value_column(table, spec, value_column)] if c is not None]
    columns += [c for _, c in _further_columns(table, spec)]
    idx = [table.columns.index(c) for c in columns]
    return _decimal_of((r[i] for r in table.rows for i in idx), decimal)


def table_rows(table: Table, spec: CampaignSpec, value_column: str | None = None, decimal: str = "auto",
               plate_map: PlateMap | None = None) -> list[RawRow]:
    """The rows of a plate table, its columns found by name (any case, units in brackets allowed).

    A table with a variant column is read by variant; one with a well column and no variant column
    is read by well, each well's variant (or control) taken from ``plate_map``. Raises
    :class:`RecordError` if a needed column is missing, naming the columns found.
    """
    vcol = find_column(table.columns, VARIANT_COLUMNS)
    wcol = find_column(table.columns, WELL_COLUMNS)
    ycol = _value_column(table, spec, value_column)
    if vcol is None and wcol is None:
        raise RecordError(table.source, [RowProblem(table.header_line, "variant", (
            f"no variant column (one of {list(VARIANT_COLUMNS)}) and no well column (one of "
            f"{list(WELL_COLUMNS)}); the file has {table.columns}"))])
    by_well = vcol is None
    if by_well and plate_map is None:
        raise RecordError(table.source, [RowProblem(table.header_line, wcol or "well", (
            "this file gives values by well and names no variant: record it with the plate map of its "
            "round (--layout 96 or 384, or 'By well' on the page), or with your own map file (--map)"))])
    rcol = find_column(table.columns, REPLICATE_COLUMNS)
    scol = find_column(table.columns, STATUS_COLUMNS)
    ccol = find_column(table.columns, CONTROL_COLUMNS)
    pcol = find_column(table.columns, PLATE_COLUMNS)
    index = {c: i for i, c in enumerate(table.columns)}
    further = _further_columns(table, spec)
    decimal = decimal_used(table, spec, value_column, decimal)
    ycol_name = ycol or spec.objective.name
    where = _map_lookup(plate_map, table) if by_well and plate_map is not None else None
    boolean_status = scol is not None and column_key(scol)[0] == "failed"
    out: list[RawRow] = []
    for line, cells in zip(table.lines, table.rows):
        value = cells[index[ycol]] if ycol is not None else ""
        status = cells[index[scol]].strip().lower() if scol is not None else ""
        if boolean_status:
            failed, known = status in ("true", "yes", "1", "x", "failed"), status in (
                "", "false", "no", "0", "true", "yes", "1", "x", "failed")
        else:
            failed, known = status in FAILED_MARKERS, status in set(FAILED_MARKERS) | OK_MARKERS
        well = cells[index[wcol]].strip() if wcol is not None else ""
        control = cells[index[ccol]].strip().lower() if ccol is not None else ""
        variant: object = cells[index[vcol]] if vcol is not None else ""
        vname = vcol or "variant"
        if where is not None:
            plate = cells[index[pcol]].strip() if pcol is not None else ""
            found = where(well, plate, line)
            if found is None:
                continue  # a well the map leaves empty (readers export every well)
            if isinstance(found, RowProblem):
                out.append(RawRow(line, "", _Bad(found.column, found.problem), variant_column=wcol or "well",
                                  value_column=ycol_name, well=well))
                continue
            variant, control, vname = found[0], found[1], f"{wcol} (plate map)"
        if control not in CONTROL_NAMES:
            out.append(RawRow(line, variant, _Bad(ccol or "control", (
                f"{control!r} is not a control; write parent, blank or reference, or leave it empty")),
                variant_column=vname, value_column=ycol_name, well=well))
            continue
        if not known:
            out.append(RawRow(line, variant, _Bad(scol or "status", (
                f"{status!r} is not a well status; write one of {list(FAILED_MARKERS)} for a failed well, "
                "or leave it empty")), variant_column=vname, value_column=ycol_name, well=well))
            continue
        failed = failed or value.strip().lower() in FAILED_MARKERS
        extras = tuple((name, _decimal(cells[index[col]], decimal), col) for name, col in further)
        out.append(RawRow(line, variant, _decimal(value, decimal), failed, cells[index[rcol]] if rcol else None,
                          vname, ycol_name, rcol or "replicate", well=well, control=CONTROL_NAMES[control],
                          extras=extras))
    return _number_well_replicates(out) if by_well else out


def _map_lookup(plate_map: PlateMap, table: Table) -> Callable[[str, str, int], tuple[str, str] | None | RowProblem]:
    """A function from a reader's ``(well, plate cell, line)`` to the map's ``(variant, control)``,
    ``None`` for a well the map leaves empty, or a :class:`RowProblem`."""
    table_map = plate_map.wells
    plates = sorted({int(p) for p in table_map["plate"]})
    entries: dict[tuple[int, str], tuple[str, str]] = {}
    for r in table_map.itertuples(index=False):
        entries[(int(r.plate), str(r.well))] = (str(r.variant), str(r.control))
    if plate_map.plate is not None and plate_map.plate not in plates:
        raise RecordError(table.source, [RowProblem(0, "plate", (
            f"plate {plate_map.plate}: {plate_map.source} has plates {plates}"))])

    def lookup(well: str, plate_cell: str, line: int) -> tuple[str, str] | None | RowProblem:
        try:
            name = well_name(well, 384)
        except ValueError as exc:
            return RowProblem(line, "well", str(exc))
        number = plate_map.plate
        if plate_cell:
            if not plate_cell.isdigit():
                return RowProblem(line, "plate", f"{plate_cell!r} is not a plate number")
            number = int(plate_cell)
        if number is None:
            if len(plates) > 1:
                return RowProblem(line, "plate", (
                    f"{plate_map.source} has plates {plates}: say which plate this file is (--plate, or a "
                    "plate column)"))
            number = plates[0] if plates else 1
        return entries.get((number, name))

    return lookup


def _number_well_replicates(rows: list[RawRow]) -> list[RawRow]:
    """Wells of one variant on one plate read by well are its replicates (numbered in file order)."""
    counts: dict[str, int] = {}
    for r in rows:
        if not r.control and not isinstance(r.value, _Bad) and r.replicate in (None, ""):
            counts[str(r.variant)] = counts.get(str(r.variant), 0) + 1
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        v = str(r.variant)
        if not r.control and counts.get(v, 0) > 1 and r.replicate in (None, "") and not isinstance(r.value, _Bad):
            seen[v] = seen.get(v, 0) + 1
            r = RawRow(**(r.__dict__ | {"replicate": seen[v]}))
        out.append(r)
    return out


@dataclass(frozen=True)
class _Bad:
    """A cell that is wrong before any checking (an unknown status or control, a well off the map)."""

    column: str
    problem: str


def _decimal(text: str, decimal: str) -> str:
    text = text.strip()
    if decimal == "," and text.count(",") == 1:
        return text.replace(".", "").replace(",", ".")
    return text


def assay_spec_rows(spec: AssayResultSpec) -> list[RawRow]:
    """The measurements of an AssayResult, each named by its field path."""
    out = []
    for i, m in enumerate(spec.measurements):
        path = f"spec.measurements[{i}]"
        out.append(RawRow(i, m.variant, "" if m.value is None else m.value, m.failed, m.replicate,
                          f"{path}.variant", f"{path}.value", f"{path}.replicate", path,
                          well=m.well or "", control=m.control or "",
                          extras=tuple((k, v, f"{path}.values.{k}") for k, v in m.values.items())))
    return out


def _control_name(row: RawRow, parser: VariantParser, problems: list[RowProblem]) -> str | None:
    """The stored variant of a control row (``WT`` for the parent, empty for a blank)."""
    text = str(row.variant or "").strip()
    if row.control == "blank":
        return ""
    if row.control == "parent" and not text:
        return "WT"
    try:
        name = parser.name(text, "variant")
    except VariantError as exc:
        problems.append(RowProblem(row.line, row.variant_column, exc.problem))
        return None
    if row.control == "parent" and name != "WT":
        problems.append(RowProblem(row.line, row.variant_column, f"a parent control is the parent (WT), not {name}"))
        return None
    return name


def check_rows(
    rows: Sequence[RawRow], spec: CampaignSpec, library: Library | None, source: str,
    decimal: str = ".",
) -> pd.DataFrame:
    """Canonical rows (:data:`ROW_COLUMNS` and ``well, control``) of checked measurements, or
    :class:`RecordError` listing every problem with its line and column.

    A control well's variant is the parent (``WT``, which a parent control may leave empty), a
    reference variant (any variant of the parent, in the library or not), or nothing (a blank).
    """
    parser = (library.parser if library is not None
              else VariantParser(spec.parent_sequence, tuple(spec.library.positions)))
    problems: list[RowProblem] = []
    further = [o.name for o in spec.further_objectives]
    out: list[tuple[str, float, bool, int | None, str, str, dict[str, float]]] = []
    seen: dict[tuple[str, int | None], str] = {}
    wells: dict[str, str] = {}
    for row in rows:
        bad = False
        if isinstance(row.value, _Bad):
            problems.append(RowProblem(row.line, row.value.column, row.value.problem))
            continue
        if row.control:
            control_name = _control_name(row, parser, problems)
            name, bad = (control_name or "", control_name is None)
        else:
            try:
                name = parser.name(str(row.variant), "variant")
            except VariantError as exc:
                problems.append(RowProblem(row.line, row.variant_column, exc.problem))
                name, bad = "", True
            if not bad and library is not None and not library.contains(name):
                problems.append(RowProblem(row.line, row.variant_column, f"{name} is not in the campaign's library"))
                bad = True
        well = ""
        if row.well:
            try:
                well = well_name(row.well, 384)
            except ValueError as exc:
                problems.append(RowProblem(row.line, "well", str(exc)))
                bad = True
            if well and well in wells:
                problems.append(RowProblem(row.line, "well", f"well {well} repeats {wells[well]}"))
                bad = True
            elif well:
                wells[well] = row.where
        value = math.nan
        extras, extra_bad = _further_values(row, further, decimal, problems)
        bad = bad or extra_bad
        if not row.failed and not (extras and _empty(row.value)):
            value, problem = _number(row.value, decimal)
            if problem:
                problems.append(RowProblem(row.line, row.value_column, problem))
                bad = True
        replicate, problem = _replicate(row.replicate)
        if problem:
            problems.append(RowProblem(row.line, row.replicate_column, problem))
            bad = True
        if bad:
            continue
        if not row.control:
            key = (name, replicate)
            if key in seen:
                what = f"replicate {replicate} of {name}" if replicate else name
                problems.append(RowProblem(row.line, row.variant_column, (
                    f"{what} repeats {seen[key]}; number replicates in a 'replicate' column")))
                continue
            seen[key] = row.where
        out.append((name, value, bool(row.failed), replicate, well, row.control, extras))
    if problems:
        raise RecordError(source, problems)
    if not out:
        raise RecordError(source, [RowProblem(1, "", "no measurements: the table has a header and no rows")])
    if all(r[5] for r in out):
        raise RecordError(source, [RowProblem(1, "", "only control wells: no variant was measured")])
    df = pd.DataFrame([r[:6] for r in out], columns=[*ROW_COLUMNS, "well", "control"])
    df["replicate"] = df["replicate"].astype("Int64")
    for o in further:
        df[objective_column(o)] = [r[6].get(o, math.nan) for r in out]
    return df


def _empty(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _further_values(row: RawRow, further: Sequence[str], decimal: str,
                    problems: list[RowProblem]) -> tuple[dict[str, float], bool]:
    """A row's further objectives' values (empty cells left out) and whether any cell was bad."""
    out: dict[str, float] = {}
    bad = False
    for name, raw, where in row.extras:
        if name not in further:
            problems.append(RowProblem(row.line, where, (
                f"{name!r} is not one of the campaign's further objectives {further}" if further
                else "the campaign has one objective: give its value in value")))
            bad = True
            continue
        if _empty(raw):
            continue
        if row.failed:
            problems.append(RowProblem(row.line, where, "a failed well has no value"))
            bad = True
            continue
        number, problem = _number(raw, decimal)
        if problem:
            problems.append(RowProblem(row.line, where, problem))
            bad = True
        else:
            out[name] = number
    return out, bad


def _number(raw: object, decimal: str) -> tuple[float, str | None]:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        v = float(raw)
    else:
        text = str(raw).strip() if raw is not None else ""
        if not text:
            return math.nan, "empty; give a number, or mark a failed well with status 'failed'"
        try:
            v = float(text)
        except ValueError:
            if decimal == "." and re.fullmatch(r"[-+]?\d+,\d+", text):
                return math.nan, f"{text!r} is not a number (a decimal comma? pass --decimal ,)"
            return math.nan, (f"{text!r} is not a number (a failed well: write one of "
                              f"{', '.join(FAILED_MARKERS[:8])} ...)")
    if not math.isfinite(v):
        return math.nan, f"{raw!r} is not a finite number"
    if abs(v) > MAX_VALUE:
        return math.nan, f"{raw!r} is too large to be a measurement (over {MAX_VALUE:g} in size); check its units"
    return v, None


def _replicate(raw: object) -> tuple[int | None, str | None]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    text = str(raw).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if text.isdigit() and int(text) >= 1:
        return int(text), None
    return None, f"{raw!r} is not a whole number from 1"


def plate_rows(
    path_or_table: str | Path | Table,
    spec: CampaignSpec,
    library: Library | None,
    *,
    value_column: str | None = None,
    decimal: str = "auto",
    sheet: str | None = None,
    plate_map: PlateMap | None = None,
    skip_rows: int | None = None,
) -> pd.DataFrame:
    """Read and check a plate: canonical rows, or :class:`RecordError` listing every problem."""
    table = path_or_table if isinstance(path_or_table, Table) else read_table(
        path_or_table, sheet=sheet, known=[spec.objective.name], skip_rows=skip_rows)
    if decimal not in (".", ",", "auto"):
        raise RecordError(table.source, [RowProblem(0, "decimal", f"{decimal!r}: use '.', ',' or auto")])
    raw = table_rows(table, spec, value_column, decimal, plate_map)
    try:
        rows = check_rows(raw, spec, library, table.source, decimal_used(table, spec, value_column, decimal))
    except RecordError as exc:
        raise RecordError(table.source, table.problems + exc.problems, len(table.problems) + exc.total) from None
    if table.problems:
        raise RecordError(table.source, table.problems)
    return rows


# ------------------------------------------------------------------------------------ storing


@dataclass(frozen=True)
class StoredAssay:
    """Metadata of one stored assay (``assays/<name>.json``)."""

    name: str
    sha256: str
    rows: int
    failed: int
    supersedes: tuple[str, ...] = ()
    replicates: str = "mean"
    source: str = ""
    declared_round: int | None = None
    arrived_round: int = 0
    accepted_at: str = ""
    recorded_by: str = ""
    """Who recorded the plate (a workstation user, or the Kubernetes username on a cluster)."""
    idempotency_key: str | None = None
    """SHA-256 of the ``Idempotency-Key`` the plate was sent with (the same key with other
    results is refused)."""
    normalize: str = "none"
    """How the plate's values are normalised by its parent wells (the campaign's
    ``plates.normalize`` when it was recorded): none, parentRatio or parentDifference."""
    original: str = ""
    """The file as the lab sent it (its key in the store), when it came as a file."""
    unit: str = ""
    """The values' unit, where the file's column name or the AssayResult gave one."""
    earlier: bool = False
    """Measured before the campaign (earlier data): marked as such, trained on from round 0."""
    task: str = ""
    """A related assay's name (another temperature, another substrate): its values are a second
    task for the surrogate, never the campaign's results; empty for the campaign's own assay."""

    def to_json(self) -> bytes:
        """The stored JSON form."""
        d = self.__dict__ | {"supersedes": list(self.supersedes)}
        return json.dumps(d, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> StoredAssay:
        """Read the stored JSON form."""
        d = json.loads(data)
        d["supersedes"] = tuple(d.get("supersedes", ()))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


PLACE_COLUMNS = ["well", "control"]
"""Columns a stored assay has only when its plate gave wells or controls (so that a plate
without them keeps the content hash it always had)."""


def assay_bytes(rows: pd.DataFrame) -> bytes:
    """The stored CSV form of checked rows; its SHA-256 is the assay's content hash."""
    extra = [c for c in PLACE_COLUMNS if c in rows and rows[c].fillna("").astype(str).str.len().gt(0).any()]
    further = objective_columns(rows)
    out = rows[ROW_COLUMNS + extra + further].copy()
    for c in ["value", *further]:
        out[c] = [("" if f or not math.isfinite(v) else repr(float(v))) for v, f in zip(rows[c], rows["failed"])]
    out["failed"] = rows["failed"].astype(int)
    return out.to_csv(index=False, lineterminator="\n").encode()


def content_hash(rows: pd.DataFrame) -> str:
    """SHA-256 of the rows' stored form: the same measurements give the same hash."""
    return sha256_bytes(assay_bytes(rows))


def list_assays(store: ArtifactStore) -> list[StoredAssay]:
    """Every stored assay, by name."""
    names = [n for n in map(keys.assay_name, store.list(keys.ASSAYS)) if n is not None]
    return [StoredAssay.from_json(store.get_bytes(keys.assay_meta(n))) for n in names]


def read_assay_rows(store: ArtifactStore, name: str) -> pd.DataFrame:
    """The canonical rows of a stored assay."""
    return parse_assay_rows(store.get_bytes(keys.assay_rows(name)))


def parse_assay_rows(data: bytes) -> pd.DataFrame:
    """Canonical rows from their stored CSV (:func:`assay_bytes`)."""
    df = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype={"variant": str, "value": str})
    for c in ["value", *objective_columns(df)]:
        df[c] = pd.to_numeric(df[c].astype(str).replace("", math.nan))
    df["failed"] = df["failed"].astype(bool)
    df["replicate"] = pd.to_numeric(df["replicate"].replace("", math.nan)).astype("Int64")
    for c in PLACE_COLUMNS:
        df[c] = df[c].astype(str) if c in df else ""
    return df


def store_assay(store: ArtifactStore, meta: StoredAssay, rows: pd.DataFrame,
                after_rows: Callable[[], None] | None = None) -> StoredAssay:
    """Store checked rows under ``meta.name``; idempotent (same name and content: nothing new).

    The rows are written first, the metadata last (the commit point): an interrupted write leaves
    no assay. ``after_rows`` is called between the two (a test's failpoint).
    """
    body = assay_bytes(rows)
    sha = sha256_bytes(body)
    key = keys.assay_meta(meta.name)
    if store.exists(key):
        old = StoredAssay.from_json(store.get_bytes(key))
        if old.sha256 == sha:
            return old
    meta = StoredAssay(**(meta.__dict__ | {"sha256": sha, "rows": int(len(rows)),
                                           "failed": int(rows["failed"].sum())}))
    store.put_bytes(keys.assay_rows(meta.name), body)
    if after_rows is not None:
        after_rows()
    store.put_bytes(key, meta.to_json())
    return meta


def assay_fingerprint(assays: Iterable[StoredAssay]) -> str:
    """A hash of which assays exist and what they hold (changes whenever measurements may)."""
    items = sorted((a.name, a.sha256, a.supersedes) for a in assays)
    return sha256_bytes(json.dumps(items).encode())


def superseded_names(assays: Iterable[StoredAssay]) -> set[str]:
    """Names of stored assays that a stored correction supersedes."""
    return {s for a in assays for s in a.supersedes}


def _combine(values: pd.Series, keys: pd.Series, how: str) -> pd.Series:
    """``values`` combined per key (``mean`` or ``median``) without overflow: scaled by their
    largest magnitude first (two replicates of 1e308 average to 1e308, not to infinity)."""
    scale = float(values.abs().max()) if len(values) else 1.0
    scale = scale if math.isfinite(scale) and scale > 1.0 else 1.0
    return (values / scale).groupby(keys, sort=False).agg(how) * scale


def variant_values(rows: pd.DataFrame, replicates: str, normalize: str) -> pd.DataFrame:
    """One row per variant of one plate's rows (``variant, value, n``): its control wells left
    out, its values normalised by its parent wells (``normalize``), its replicates combined
    (``replicates``); a variant whose wells all failed has no value."""
    rows = controls.normalized(rows, normalize)
    rows = rows[rows["control"] == ""]
    ok = rows[~rows["failed"]]
    tried = pd.Index(rows["variant"].unique())
    count = ok.groupby("variant", sort=False)["value"].size()
    out = pd.DataFrame({"variant": tried, "n": count.reindex(tried).fillna(0).astype(int).to_numpy()})
    for c in ["value", *objective_columns(rows)]:  # each objective's replicates combined on their own
        has = ok[ok[c].notna()]
        out[c] = _combine(has[c], has["variant"], replicates).reindex(tried).to_numpy()
    return out[["variant", "value", "n", *objective_columns(rows)]]


def _per_variant(replicates: str, normalize: str) -> Callable[[bytes], pd.DataFrame]:
    def aggregate(data: bytes) -> pd.DataFrame:
        return variant_values(parse_assay_rows(data), replicates, normalize)

    return aggregate


def assay_values(store: ArtifactStore, assay: StoredAssay) -> pd.DataFrame:
    """One row per variant of one plate (``variant, value, n``): its control wells left out, its
    values normalised as the plate says (``normalize``), its replicates combined by its rule
    (parsed once per content: the store's parsed cache)."""
    return store.parsed(keys.assay_rows(assay.name), _per_variant(assay.replicates, assay.normalize),
                        tag=f"{assay.replicates}/{assay.normalize}")


def measurements(store: ArtifactStore, assays: Sequence[StoredAssay] | None = None, task: str = "") -> pd.DataFrame:
    """One row per variant from the stored assays of the campaign's own assay (of the related
    assay ``task``, if given) (:data:`MEASUREMENT_COLUMNS`); see the module docstring for how
    replicates, plates, corrections and failed wells combine."""
    assays = list_assays(store) if assays is None else list(assays)
    gone = superseded_names(assays)
    per_assay = []
    for a in assays:
        if a.name in gone or a.task != task:
            continue
        values = assay_values(store, a)
        if values.empty:
            continue
        per_assay.append(values.assign(assay=a.name, arrived_round=a.arrived_round))
    if not per_assay:
        return EMPTY_MEASUREMENTS.copy()
    allr = pd.concat(per_assay, ignore_index=True)
    grouped = allr.groupby("variant", sort=True)
    further = objective_columns(allr)
    out = pd.DataFrame({
        # each plate counts once; NaN only if every plate's wells failed
        "value": _combine(allr["value"], allr["variant"], "mean").sort_index(),
        "n": grouped["n"].sum(),
        "assays": grouped["assay"].agg(lambda s: " ".join(sorted(set(s)))),
        "arrived_round": grouped["arrived_round"].min(),
    }).reset_index()
    for c in further:
        has = allr[allr[c].notna()]
        out[c] = _combine(has[c], has["variant"], "mean").reindex(out["variant"]).to_numpy()
    # failed: no value for any objective (a variant measured for a further objective only is tried)
    out["failed"] = out[["value", *further]].isna().all(axis=1)
    return out[MEASUREMENT_COLUMNS + further]


RELATED_COLUMNS = ["task", "variant", "value"]
"""Columns of the related assays' measurements (``related_measurements``)."""


def related_measurements(store: ArtifactStore, assays: Sequence[StoredAssay] | None = None) -> pd.DataFrame:
    """The related assays' values (:data:`RELATED_COLUMNS`): one row per task and variant with a
    value, tasks in name order."""
    assays = list_assays(store) if assays is None else list(assays)
    parts = [fitted(measurements(store, assays, task)).assign(task=task)
             for task in sorted({a.task for a in assays if a.task})]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(RELATED_COLUMNS, [str, str, float])})
    return pd.concat(parts, ignore_index=True)[RELATED_COLUMNS]


EMPTY_MEASUREMENTS = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
    MEASUREMENT_COLUMNS, [str, float, bool, int, str, int])})
"""The measurements of a campaign with none."""


def read_measurements_csv(data: bytes) -> pd.DataFrame:
    """Parse a measurements table written by :func:`measurements_csv`."""
    df = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype={"variant": str, "assays": str})
    for c in ["value", *objective_columns(df)]:
        df[c] = pd.to_numeric(df[c].astype(str).replace("", math.nan))
    df["failed"] = df["failed"].astype(str).str.lower().isin(["true", "1"])
    return df


def measurements_csv(df: pd.DataFrame) -> bytes:
    """The CSV form of :func:`measurements` (deterministic bytes)."""
    return df[MEASUREMENT_COLUMNS + objective_columns(df)].to_csv(index=False, lineterminator="\n").encode()


def in_library(df: pd.DataFrame, library: Library) -> pd.DataFrame:
    """The rows of ``df`` whose ``variant`` is in ``library``."""
    mask = np.fromiter((library.contains(v) for v in df["variant"]), dtype=bool, count=len(df))
    return df.loc[mask].reset_index(drop=True)


def fitted(df: pd.DataFrame) -> pd.DataFrame:
    """The variants a model of the first objective is fitted on: those with a value (``variant``,
    ``value``)."""
    return df.loc[~df["failed"] & df["value"].notna(), ["variant", "value"]].reset_index(drop=True)


# ------------------------------------------------------------------------- plates -> cluster


def dns_label(text: str) -> str:
    """``text`` as a lower-case DNS label (for AssayResult names); ``plate`` if nothing is left."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:50].strip("-") or "plate"


def rows_as_measurements(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Checked rows as AssayResult ``measurements`` entries."""
    out = []
    further = objective_columns(rows)
    for i, r in enumerate(rows.itertuples(index=False)):
        m: dict[str, Any] = {"variant": r.variant}
        values = {c[len(OBJECTIVE_PREFIX):]: float(rows[c].iat[i]) for c in further if pd.notna(rows[c].iat[i])}
        if r.failed:
            m["failed"] = True
        elif pd.notna(r.value):
            m["value"] = float(r.value)
        if values:
            m["values"] = values
        if not pd.isna(r.replicate):
            m["replicate"] = int(r.replicate)
        for c in PLACE_COLUMNS:
            if getattr(r, c, ""):
                m[c] = str(getattr(r, c))
        out.append(m)
    return out


def assay_manifests(
    campaign: str,
    rows: pd.DataFrame,
    *,
    name: str,
    round_number: int | None = None,
    unit: str | None = None,
    replicates: str = "mean",
    supersedes: Sequence[str] = (),
    namespace: str | None = None,
    earlier: bool = False,
    task: str = "",
) -> list[dict[str, Any]]:
    """AssayResult objects for checked rows, split into parts of at most 4,096 measurements
    (``earlier``, ``task``: see :class:`StoredAssay`).

    A plate's replicates of one variant always land in the same part.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in rows_as_measurements(rows):
        groups.setdefault(m["variant"], []).append(m)
    chunks: list[list[dict[str, Any]]] = [[]]
    for variant in sorted(groups):
        if chunks[-1] and len(chunks[-1]) + len(groups[variant]) > MAX_PER_OBJECT:
            chunks.append([])
        chunks[-1].extend(groups[variant])
    base = dns_label(name)
    out = []
    for k, chunk in enumerate(chunks):
        spec: dict[str, Any] = {"campaign": campaign, "measurements": chunk}
        if round_number is not None:
            spec["round"] = round_number
        if earlier:
            spec["earlier"] = True
        if task:
            spec["task"] = task
        if unit:
            spec["unit"] = unit
        if replicates != "mean":
            spec["replicates"] = replicates
        if supersedes:
            spec["supersedes"] = list(supersedes)
        AssayResultSpec.model_validate(spec)  # the same checks the API server and operator make
        meta: dict[str, Any] = {"name": base if len(chunks) == 1 else f"{base}-{k + 1}",
                                "labels": {naming.LABEL_CAMPAIGN: campaign},
                                "annotations": {naming.ANNOTATION_CONTENT_SHA: content_hash(rows)}}
        if namespace:
            meta["namespace"] = namespace
        out.append({"apiVersion": API_VERSION, "kind": "AssayResult", "metadata": meta, "spec": spec})
    return out


__all__ = [
    "MEASUREMENT_COLUMNS",
    "FAILED_MARKERS",
    "PLACE_COLUMNS",
    "PlateMap",
    "RawRow",
    "StoredAssay",
    "Table",
    "assay_fingerprint",
    "assay_manifests",
    "assay_spec_rows",
    "check_rows",
    "decimal_used",
    "variant_values",
    "content_hash",
    "fitted",
    "list_assays",
    "measurements",
    "plate_rows",
    "read_assay_rows",
    "store_assay",
    "superseded_names",
]
