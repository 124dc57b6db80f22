"""Assay results in: the one ingestion path of the workstation, the operator and plate import.

Every way results arrive goes through the same three stages, so replicates, failed wells,
duplicates and corrections mean the same everywhere:

1. **Read** a table as labs write it (:func:`read_table`): Excel ``.xlsx``, or text with ``,``
   ``;`` or tab between fields (detected from the header), trailing empty rows ignored; or the
   ``measurements`` of an AssayResult (:func:`assay_spec_rows`).
2. **Check** every row against the campaign (:func:`check_rows`): the variant parses against the
   parent and belongs to the library; the value is a finite number, or the well is marked failed
   (a ``status`` column saying ``failed``, or the value ``failed``); a replicate number, where
   given, is a whole number from 1; a variant appears once per replicate number. Every problem is
   reported with its line and column; if there is any, nothing is recorded.
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

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from activeloop.api import naming
from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import API_VERSION, AssayResultSpec
from activeloop.errors import RecordError, RowProblem, TooLargeError, VariantError
from activeloop.ml.library import Library
from activeloop.ml.sequences import VariantParser
from activeloop.store import keys
from activeloop.store.base import ArtifactStore, sha256_bytes

ROW_COLUMNS = ["variant", "value", "failed", "replicate"]
"""Columns of a stored assay (one row per measured well)."""
MEASUREMENT_COLUMNS = ["variant", "value", "failed", "n", "assays", "arrived_round"]
"""Columns of :func:`measurements` (one row per variant)."""
MAX_VALUE = 1e100
"""The largest magnitude a measured value may have (so that no combination of values can overflow)."""
MAX_PER_OBJECT = 4096
"""Measurements per AssayResult object (the CRD's ``maxItems``); larger plates are split."""
FAILED_MARKERS = frozenset({"failed", "fail", "failure", "no value", "nd", "n.d.", "error"})
OK_MARKERS = frozenset({"", "ok", "pass", "passed", "valid", "measured"})
VARIANT_COLUMNS = ("variant", "variants", "mutant", "mutation", "mutations", "sequence")
REPLICATE_COLUMNS = ("replicate", "rep")
STATUS_COLUMNS = ("status", "failed", "well status")


# ------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Table:
    """A table read from a file: string cells, the line of each row, and its source name."""

    source: str
    columns: list[str]
    rows: list[list[str]]
    lines: list[int]
    problems: list[RowProblem] = field(default_factory=list)


@dataclass(frozen=True)
class ReadLimits:
    """How much of a plate file is read: a file over a limit is refused as soon as it is seen,
    before the rest is read (a workbook's rows are counted while they stream)."""

    max_rows: int | None = None
    """Rows of data (``None``: no limit)."""
    max_columns: int = 256
    """Columns of the header."""
    max_field: int = 10_000
    """Characters in one cell."""
    max_unpacked: int = 100 * 2**20
    """Bytes a workbook (a zip archive) may unpack to."""


DEFAULT_LIMITS = ReadLimits()


def read_table(path: str | Path, *, sheet: str | None = None, limits: ReadLimits = DEFAULT_LIMITS) -> Table:
    """Read a plate file (``.xlsx``, or CSV/TSV/semicolon-separated text)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordError(str(path), [RowProblem(0, "", f"cannot read the file: {exc.strerror}")]) from None
    return read_table_bytes(data, path.name, sheet=sheet, limits=limits)


def read_table_bytes(data: bytes, filename: str, *, sheet: str | None = None,
                     limits: ReadLimits = DEFAULT_LIMITS) -> Table:
    """Read a plate from its bytes; ``filename``'s suffix (or the content) says whether it is Excel."""
    if filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        return _read_excel(data, filename, sheet, limits)
    return _read_text(_decode(data, filename), filename, limits)


def _decode(data: bytes, source: str) -> str:
    """The text of a plate file: UTF-8 (with or without a byte-order mark), UTF-16 with its mark
    (Excel's "Unicode text"), else Latin-1; text that is none of these is refused."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif b"\x00" not in data[:4096]:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    raise RecordError(source, [RowProblem(1, "", (
        "this is not text that can be read (a binary file, or UTF-16 without its byte-order mark); "
        "save it as 'CSV UTF-8 (comma delimited)' or as an Excel workbook (.xlsx)"))])


def _check_header(columns: list[str], source: str, line: int, limits: ReadLimits) -> None:
    if len(columns) > limits.max_columns:
        raise TooLargeError(f"{source}: the header has {len(columns):,} columns; the limit is {limits.max_columns}")
    seen: dict[str, int] = {}
    problems = []
    for i, c in enumerate(columns):
        key = c.lower().strip()
        if key and key in seen:
            problems.append(RowProblem(line, c, f"column {c!r} appears twice (columns {seen[key] + 1} and {i + 1}): "
                                                "rename or remove one"))
        seen.setdefault(key, i)
    if problems:
        raise RecordError(source, problems)


def _read_text(text: str, source: str, limits: ReadLimits) -> Table:
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        raise RecordError(source, [RowProblem(1, "", "the file is empty")])
    header_line = lines[header_at]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    if header_line.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO("\n".join(lines[header_at:])), delimiter=delimiter)
    rows: list[list[str]] = []
    numbers: list[int] = []
    problems: list[RowProblem] = []
    try:
        columns = [c.strip() for c in next(reader)]
        _check_header(columns, source, header_at + 1, limits)
        for record in reader:
            line = header_at + reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines and Excel's trailing ",,," rows
            if limits.max_rows is not None and len(rows) >= limits.max_rows:
                raise TooLargeError(f"{source}: the plate has more than {limits.max_rows:,} rows")
            if len(record) > len(columns):
                hint = (" (a decimal comma in a comma-separated file? quote such values, or separate "
                        "fields with ';' and pass --decimal ,)") if delimiter == "," else ""
                problems.append(RowProblem(line, "", f"{len(record)} fields where the header has "
                                                     f"{len(columns)}{hint}"))
                continue
            if any(len(c) > limits.max_field for c in record):
                problems.append(RowProblem(line, "", f"a cell is longer than {limits.max_field:,} characters"))
                continue
            rows.append([c.strip() for c in record] + [""] * (len(columns) - len(record)))
            numbers.append(line)
    except csv.Error as exc:  # a quote never closed, a field over the csv module's own limit
        line = header_at + reader.line_num
        raise RecordError(source, [*problems, RowProblem(line, "", f"not readable as a table: {exc}")]) from None
    return Table(source, columns, rows, numbers, problems)


def _sheet_rows(data: bytes, source: str, sheet: str | None) -> Iterator[tuple[int, list[object]]]:
    """A workbook sheet's rows as they stream: ``(row number, values)``.

    openpyxl's read-only mode first reads a whole sheet that does not state its size (a sheet
    without a ``<dimension>``, as a crafted file of a million rows in a few hundred kilobytes), so
    the sheet is read here with openpyxl's own row parser, which yields row by row and lets a
    limit stop it at once.
    """
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.worksheet._reader import WorkSheetParser

    try:
        reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        sheets = [(ws.name, rel.target) for ws, rel in reader.parser.find_sheets()
                  if rel.target in reader.valid_files and "chartsheet" not in rel.Type]
    except Exception as exc:  # openpyxl raises several kinds for a file that is not a workbook
        raise RecordError(source, [RowProblem(1, "", f"not a readable Excel workbook ({exc})")]) from None
    names = [n for n, _ in sheets]
    target = next((t for n, t in sheets if n == sheet), None) if sheet else (sheets[0][1] if sheets else None)
    if target is None:
        raise RecordError(source, [RowProblem(1, "", f"no sheet {sheet!r}; sheets: {names}" if sheet
                                              else "the workbook has no sheet")])
    with reader.archive.open(target) as src:
        parser = WorkSheetParser(src, reader.shared_strings, data_only=True, epoch=reader.wb.epoch,
                                 date_formats=reader.wb._date_formats, timedelta_formats=reader.wb._timedelta_formats)
        for number, cells in parser.parse():
            values: list[object] = []
            for cell in cells:
                column = int(cell["column"])
                values += [None] * (column - 1 - len(values))
                values.append(cell["value"])
            yield number, values


def _read_excel(data: bytes, source: str, sheet: str | None, limits: ReadLimits) -> Table:
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise RecordError(source, [RowProblem(1, "", f"not a readable Excel workbook ({exc})")]) from None
    if unpacked > limits.max_unpacked:
        raise TooLargeError(f"{source}: the workbook unpacks to {unpacked:,} bytes; the limit is "
                            f"{limits.max_unpacked:,} (a sheet of many empty or formatted rows? copy the "
                            "table into a new workbook)")
    columns: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    # the sheet streams: a bound is enforced as rows arrive, not after
    for number, values in _sheet_rows(data, source, sheet):
        if len(values) > limits.max_columns + 1:
            values = values[: limits.max_columns + 1]
        cells = ["" if v is None else (repr(v) if isinstance(v, float) else str(v)).strip() for v in values]
        if not any(cells):
            continue
        if columns is None:
            columns = cells
            while columns and not columns[-1]:
                columns.pop()
            _check_header(columns, source, number, limits)
            continue
        if limits.max_rows is not None and len(rows) >= limits.max_rows:
            raise TooLargeError(f"{source}: the plate has more than {limits.max_rows:,} rows")
        rows.append(cells[: len(columns)] + [""] * (len(columns) - len(cells)))
        numbers.append(number)
    if columns is None:
        raise RecordError(source, [RowProblem(1, "", "the sheet is empty")])
    return Table(source, columns, [r[: len(columns)] for r in rows], numbers)


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

    @property
    def where(self) -> str:
        """Where the row is: :attr:`place`, else its line."""
        return self.place or f"line {self.line}"


def _find(columns: Sequence[str], names: Iterable[str]) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    return next((lower[n.lower()] for n in names if n and n.lower() in lower), None)


def table_rows(
    table: Table, spec: CampaignSpec, value_column: str | None = None, decimal: str = "."
) -> list[RawRow]:
    """The rows of a plate table, its columns found by name (case-insensitive).

    Raises :class:`RecordError` if a needed column is missing, naming the columns found.
    """
    vcol = _find(table.columns, VARIANT_COLUMNS)
    if value_column is not None:
        ycol = _find(table.columns, [value_column])
        if ycol is None:
            raise RecordError(table.source, [RowProblem(1, value_column, (
                f"no column {value_column!r}; the file has {table.columns}"))])
    else:
        ycol = _find(table.columns, ["value", spec.objective.name, "fitness"])
    missing = []
    if vcol is None:
        missing.append(RowProblem(1, "variant", f"no variant column (one of {list(VARIANT_COLUMNS)}); "
                                                f"the file has {table.columns}"))
    if ycol is None:
        missing.append(RowProblem(1, "value", (
            f"no value column ('value', '{spec.objective.name}' or 'fitness'); the file has "
            f"{table.columns}: name the one to use with --value-column (case-insensitive)")))
    if missing or vcol is None or ycol is None:
        raise RecordError(table.source, missing)
    rcol = _find(table.columns, REPLICATE_COLUMNS)
    scol = _find(table.columns, STATUS_COLUMNS)
    index = {c: i for i, c in enumerate(table.columns)}
    boolean_status = scol is not None and scol.lower().strip() == "failed"
    out: list[RawRow] = []
    for line, cells in zip(table.lines, table.rows):
        value = cells[index[ycol]]
        status = cells[index[scol]].strip().lower() if scol is not None else ""
        if boolean_status:
            failed, known = status in ("true", "yes", "1", "x", "failed"), status in (
                "", "false", "no", "0", "true", "yes", "1", "x", "failed")
        else:
            failed, known = status in FAILED_MARKERS, status in FAILED_MARKERS | OK_MARKERS
        if not known:
            out.append(RawRow(line, cells[index[vcol]], _BadStatus(scol or "status", status),
                              variant_column=vcol, value_column=ycol))
            continue
        failed = failed or value.strip().lower() in FAILED_MARKERS
        out.append(RawRow(line, cells[index[vcol]], _decimal(value, decimal), failed,
                          cells[index[rcol]] if rcol else None, vcol, ycol, rcol or "replicate"))
    return out


@dataclass(frozen=True)
class _BadStatus:
    column: str
    text: str


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
        out.append(RawRow(i, m.variant, m.value, m.failed, m.replicate,
                          f"{path}.variant", f"{path}.value", f"{path}.replicate", path))
    return out


def check_rows(
    rows: Sequence[RawRow], spec: CampaignSpec, library: Library | None, source: str,
    decimal: str = ".",
) -> pd.DataFrame:
    """Canonical rows (:data:`ROW_COLUMNS`) of checked measurements, or :class:`RecordError`.

    Every row is checked; every problem is reported, with its line and column.
    """
    parser = library.parser if library is not None else VariantParser(spec.parent_sequence, tuple(spec.library.sites))
    problems: list[RowProblem] = []
    out: list[tuple[str, float, bool, int | None]] = []
    seen: dict[tuple[str, int | None], str] = {}
    for row in rows:
        bad = False
        try:
            name = parser.name(str(row.variant), "variant")
        except VariantError as exc:
            problems.append(RowProblem(row.line, row.variant_column, exc.problem))
            name, bad = "", True
        if not bad and library is not None and not library.contains(name):
            problems.append(RowProblem(row.line, row.variant_column, f"{name} is not in the campaign's library"))
            bad = True
        value = math.nan
        if isinstance(row.value, _BadStatus):
            problems.append(RowProblem(row.line, row.value.column, (
                f"{row.value.text!r} is not a well status; write 'failed' for a failed well or "
                "leave it empty")))
            bad = True
        elif not row.failed:
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
        key = (name, replicate)
        if key in seen:
            what = f"replicate {replicate} of {name}" if replicate else name
            problems.append(RowProblem(row.line, row.variant_column, (
                f"{what} repeats {seen[key]}; number replicates in a 'replicate' column")))
            continue
        seen[key] = row.where
        out.append((name, value, bool(row.failed), replicate))
    if problems:
        raise RecordError(source, problems)
    if not out:
        raise RecordError(source, [RowProblem(1, "", "no measurements: the table has a header and no rows")])
    df = pd.DataFrame(out, columns=ROW_COLUMNS)
    df["replicate"] = df["replicate"].astype("Int64")
    return df


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
            return math.nan, f"{text!r} is not a number"
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
    decimal: str = ".",
    sheet: str | None = None,
) -> pd.DataFrame:
    """Read and check a plate: canonical rows, or :class:`RecordError` listing every problem."""
    table = path_or_table if isinstance(path_or_table, Table) else read_table(path_or_table, sheet=sheet)
    if decimal not in (".", ","):
        raise RecordError(table.source, [RowProblem(0, "decimal", f"{decimal!r}: use '.' or ','")])
    raw = table_rows(table, spec, value_column, decimal)
    try:
        rows = check_rows(raw, spec, library, table.source, decimal)
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


def assay_bytes(rows: pd.DataFrame) -> bytes:
    """The stored CSV form of checked rows; its SHA-256 is the assay's content hash."""
    out = rows[ROW_COLUMNS].copy()
    out["value"] = [("" if f else repr(float(v))) for v, f in zip(rows["value"], rows["failed"])]
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
    df["value"] = pd.to_numeric(df["value"].replace("", math.nan))
    df["failed"] = df["failed"].astype(bool)
    df["replicate"] = pd.to_numeric(df["replicate"].replace("", math.nan)).astype("Int64")
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


def _per_variant(replicates: str) -> Callable[[bytes], pd.DataFrame]:
    def aggregate(data: bytes) -> pd.DataFrame:
        rows = parse_assay_rows(data)
        ok = rows[~rows["failed"]]
        agg = _combine(ok["value"], ok["variant"], replicates)
        count = ok.groupby("variant", sort=False)["value"].size()
        tried = pd.Index(rows["variant"].unique())
        return pd.DataFrame({"variant": tried, "value": agg.reindex(tried).to_numpy(),
                             "n": count.reindex(tried).fillna(0).astype(int).to_numpy()})

    return aggregate


def assay_values(store: ArtifactStore, assay: StoredAssay) -> pd.DataFrame:
    """One row per variant of one plate (``variant, value, n``): its replicates combined by the
    plate's rule (parsed once per content: the store's parsed cache)."""
    return store.parsed(keys.assay_rows(assay.name), _per_variant(assay.replicates), tag=assay.replicates)


def measurements(store: ArtifactStore, assays: Sequence[StoredAssay] | None = None) -> pd.DataFrame:
    """One row per variant from the stored assays (:data:`MEASUREMENT_COLUMNS`); see the module
    docstring for how replicates, plates, corrections and failed wells combine."""
    assays = list_assays(store) if assays is None else list(assays)
    gone = superseded_names(assays)
    per_assay = []
    for a in assays:
        if a.name in gone:
            continue
        values = assay_values(store, a)
        if values.empty:
            continue
        per_assay.append(values.assign(assay=a.name, arrived_round=a.arrived_round))
    if not per_assay:
        return EMPTY_MEASUREMENTS.copy()
    allr = pd.concat(per_assay, ignore_index=True)
    grouped = allr.groupby("variant", sort=True)
    out = pd.DataFrame({
        # each plate counts once; NaN only if every plate's wells failed
        "value": _combine(allr["value"], allr["variant"], "mean").sort_index(),
        "n": grouped["n"].sum(),
        "assays": grouped["assay"].agg(lambda s: " ".join(sorted(set(s)))),
        "arrived_round": grouped["arrived_round"].min(),
    }).reset_index()
    out["failed"] = out["value"].isna()
    return out[MEASUREMENT_COLUMNS]


EMPTY_MEASUREMENTS = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
    MEASUREMENT_COLUMNS, [str, float, bool, int, str, int])})
"""The measurements of a campaign with none."""


def read_measurements_csv(data: bytes) -> pd.DataFrame:
    """Parse a measurements table written by :func:`measurements_csv`."""
    df = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype={"variant": str, "assays": str})
    df["value"] = pd.to_numeric(df["value"].replace("", math.nan))
    df["failed"] = df["failed"].astype(str).str.lower().isin(["true", "1"])
    return df


def measurements_csv(df: pd.DataFrame) -> bytes:
    """The CSV form of :func:`measurements` (deterministic bytes)."""
    return df[MEASUREMENT_COLUMNS].to_csv(index=False, lineterminator="\n").encode()


def in_library(df: pd.DataFrame, library: Library) -> pd.DataFrame:
    """The rows of ``df`` whose ``variant`` is in ``library``."""
    mask = np.fromiter((library.contains(v) for v in df["variant"]), dtype=bool, count=len(df))
    return df.loc[mask].reset_index(drop=True)


def fitted(df: pd.DataFrame) -> pd.DataFrame:
    """The variants a model is fitted on: those with a value (``variant``, ``value``)."""
    return df.loc[~df["failed"], ["variant", "value"]].reset_index(drop=True)


# ------------------------------------------------------------------------- plates -> cluster


def dns_label(text: str) -> str:
    """``text`` as a lower-case DNS label (for AssayResult names); ``plate`` if nothing is left."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:50].strip("-") or "plate"


def rows_as_measurements(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Checked rows as AssayResult ``measurements`` entries."""
    out = []
    for r in rows.itertuples(index=False):
        m: dict[str, Any] = {"variant": r.variant}
        if r.failed:
            m["failed"] = True
        else:
            m["value"] = float(r.value)
        if not pd.isna(r.replicate):
            m["replicate"] = int(r.replicate)
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
) -> list[dict[str, Any]]:
    """AssayResult objects for checked rows, split into parts of at most 4,096 measurements.

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
    "RawRow",
    "StoredAssay",
    "Table",
    "assay_fingerprint",
    "assay_manifests",
    "assay_spec_rows",
    "check_rows",
    "content_hash",
    "fitted",
    "list_assays",
    "measurements",
    "plate_rows",
    "read_assay_rows",
    "read_table",
    "read_table_bytes",
    "store_assay",
    "superseded_names",
]
