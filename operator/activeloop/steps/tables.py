"""Plate files in, as labs and plate readers write them: the reading half of ingestion.

:func:`read_table_bytes` turns a file into a :class:`Table` of string cells, every row with its line:

* **formats**: Excel ``.xlsx`` (streamed row by row, so a limit stops a huge sheet at once), or
  text with ``,`` ``;`` or tab between fields (detected from the header line), in UTF-8 (with or
  without a byte-order mark), UTF-16 with its mark (Excel's "Unicode text"), or Latin-1;
* **title rows**: readers write a title, a date or the instrument above the header
  (``Plate reader export 2026-12-02, GB1 binding assay``); the header is the first row, among the
  first :data:`HEADER_SEARCH` non-blank ones, that names a column ActiveLoop knows (a variant, a
  well, a value, a status), and the rows above it are skipped (``skip_rows`` says how many instead);
* **units in names**: ``Fitness (a.u.)`` or ``Value [RFU]`` is the column ``fitness`` or ``value``
  (:func:`column_key`), its unit kept;
* **bounds**: rows, columns, cell length and a workbook's unpacked size (:class:`ReadLimits`) are
  checked while the file is read; a file over a limit is refused as soon as it is seen.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from activeloop.errors import RecordError, RowProblem, TooLargeError

VARIANT_COLUMNS = ("variant", "variants", "mutant", "mutation", "mutations", "sequence")
WELL_COLUMNS = ("well", "well position", "wellposition", "position", "well id")
REPLICATE_COLUMNS = ("replicate", "rep")
STATUS_COLUMNS = ("status", "failed", "well status")
CONTROL_COLUMNS = ("control", "controls", "control kind")
PLATE_COLUMNS = ("plate", "plate number")
VALUE_COLUMNS = ("value", "fitness")
KNOWN_COLUMNS = frozenset(VARIANT_COLUMNS + WELL_COLUMNS + STATUS_COLUMNS + VALUE_COLUMNS + CONTROL_COLUMNS)
"""Column names that mark a row as the header (with the objective's own name)."""
HEADER_SEARCH = 30
"""Non-blank rows searched for the header (the rows above it are titles)."""
_UNIT = re.compile(r"^(.*?)\s*[\(\[]([^\)\]]*)[\)\]]\s*$")


@dataclass(frozen=True)
class Table:
    """A table read from a file: string cells, the line of each row, and where it came from.

    ``raw`` is the file as sent (kept with the recorded plate, for people to download);
    ``skipped`` the title rows above the header; ``units`` the unit each column's name gave.
    """

    source: str
    columns: list[str]
    rows: list[list[str]]
    lines: list[int]
    problems: list[RowProblem] = field(default_factory=list)
    raw: bytes = b""
    header_line: int = 1
    skipped: int = 0
    delimiter: str = ""

    @property
    def units(self) -> dict[str, str]:
        """Each column's unit, where its name gives one (``Fitness (a.u.)``: ``a.u.``)."""
        return {c: u for c in self.columns if (u := column_key(c)[1])}


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


def column_key(name: str) -> tuple[str, str]:
    """A column's name as matched (lower case, its unit removed) and its unit:
    ``Fitness (a.u.)`` -> ``("fitness", "a.u.")``."""
    text = name.strip()
    m = _UNIT.match(text)
    if m and m.group(1).strip():
        return m.group(1).strip().lower(), m.group(2).strip()
    return text.lower(), ""


def find_column(columns: Sequence[str], names: Iterable[str]) -> str | None:
    """The first of ``columns`` whose name (units aside, any case) is one of ``names``."""
    keyed: dict[str, str] = {}
    for c in columns:
        keyed.setdefault(column_key(c)[0], c)
        keyed.setdefault(c.strip().lower(), c)
    return next((keyed[n.lower()] for n in names if n and n.lower() in keyed), None)


def read_table(path: str | Path, *, sheet: str | None = None, limits: ReadLimits = DEFAULT_LIMITS,
               skip_rows: int | None = None, known: Iterable[str] = ()) -> Table:
    """Read a plate file (``.xlsx``, or CSV/TSV/semicolon-separated text)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordError(str(path), [RowProblem(0, "", f"cannot read the file: {exc.strerror}")]) from None
    return read_table_bytes(data, path.name, sheet=sheet, limits=limits, skip_rows=skip_rows, known=known)


def read_table_bytes(data: bytes, filename: str, *, sheet: str | None = None, limits: ReadLimits = DEFAULT_LIMITS,
                     skip_rows: int | None = None, known: Iterable[str] = ()) -> Table:
    """Read a plate from its bytes; ``filename``'s suffix (or the content) says whether it is Excel.

    ``skip_rows``: title rows above the header (default: found, see the module's docstring);
    ``known``: more column names that mark the header (the campaign's objective).
    """
    if skip_rows is not None and skip_rows < 0:
        raise RecordError(filename, [RowProblem(0, "skip_rows", f"{skip_rows}: give 0 or more rows to skip")])
    names = KNOWN_COLUMNS | {k.lower() for k in known}
    if filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        return _read_excel(data, filename, sheet, limits, skip_rows, names)
    return _read_text(data, _decode(data, filename), filename, limits, skip_rows, names)


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


def _is_header(cells: Sequence[str], names: frozenset[str] | set[str]) -> bool:
    return any(column_key(c)[0] in names or c.strip().lower() in names for c in cells if c.strip())


def _delimiter(line: str) -> str:
    best = max((",", ";", "\t"), key=line.count)
    return best if line.count(best) else ","


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def _header_index(candidates: Sequence[tuple[int, list[str]]], skip_rows: int | None,
                  names: frozenset[str] | set[str]) -> int:
    """Which of the first non-blank rows is the header (an index into ``candidates``)."""
    if skip_rows is not None:
        return next((i for i, (number, _) in enumerate(candidates) if number > skip_rows), len(candidates))
    return next((i for i, (_, cells) in enumerate(candidates) if _is_header(cells, names)), 0)


def _read_text(raw: bytes, text: str, source: str, limits: ReadLimits, skip_rows: int | None,
               names: frozenset[str] | set[str]) -> Table:
    lines = text.splitlines()
    candidates: list[tuple[int, list[str]]] = []
    for i, text_line in enumerate(lines):
        if text_line.strip():
            candidates.append((i + 1, _split(text_line, _delimiter(text_line))))
            if len(candidates) >= HEADER_SEARCH:
                break
    if not candidates:
        raise RecordError(source, [RowProblem(1, "", "the file is empty")])
    pick = _header_index(candidates, skip_rows, names)
    if pick >= len(candidates):
        raise RecordError(source, [RowProblem(1, "", f"nothing is left after skipping {skip_rows} rows")])
    header_at = candidates[pick][0] - 1
    delimiter = _delimiter(lines[header_at])
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
                        "fields with ';')") if delimiter == "," else ""
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
    return Table(source, columns, rows, numbers, problems, raw=raw, header_line=header_at + 1,
                 skipped=sum(1 for n, _ in candidates if n <= header_at), delimiter=delimiter)


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


def _cell(value: object) -> str:
    return "" if value is None else (repr(value) if isinstance(value, float) else str(value)).strip()


def _read_excel(data: bytes, source: str, sheet: str | None, limits: ReadLimits, skip_rows: int | None,
                names: frozenset[str] | set[str]) -> Table:
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
    header_line = 1
    head: list[tuple[int, list[str]]] = []  # the first non-blank rows, until the header is known
    rows: list[list[str]] = []
    numbers: list[int] = []

    def take(number: int, cells: list[str]) -> None:
        if limits.max_rows is not None and len(rows) >= limits.max_rows:
            raise TooLargeError(f"{source}: the plate has more than {limits.max_rows:,} rows")
        assert columns is not None
        rows.append(cells[: len(columns)] + [""] * (len(columns) - len(cells)))
        numbers.append(number)

    def settle() -> None:
        nonlocal columns, header_line
        pick = _header_index(head, skip_rows, names)
        if pick >= len(head):
            return
        header_line, columns = head[pick][0], list(head[pick][1])
        while columns and not columns[-1]:
            columns.pop()
        _check_header(columns, source, header_line, limits)
        for number, cells in head[pick + 1:]:
            take(number, cells)

    # the sheet streams: a bound is enforced as rows arrive, not after
    for number, values in _sheet_rows(data, source, sheet):
        cells = [_cell(v) for v in values[: limits.max_columns + 1]]
        if not any(cells):
            continue
        if columns is not None:
            take(number, cells)
            continue
        head.append((number, cells))
        found = (skip_rows is not None and number > skip_rows) or (skip_rows is None and _is_header(cells, names))
        if found or len(head) >= HEADER_SEARCH:
            settle()
    if columns is None and head:
        settle()
    if columns is None:
        raise RecordError(source, [RowProblem(1, "", "the sheet is empty" if not head
                                              else f"nothing is left after skipping {skip_rows} rows")])
    return Table(source, columns, [r[: len(columns)] for r in rows], numbers, raw=data, header_line=header_line,
                 skipped=sum(1 for n, _ in head if n < header_line))


__all__ = [
    "CONTROL_COLUMNS",
    "DEFAULT_LIMITS",
    "KNOWN_COLUMNS",
    "PLATE_COLUMNS",
    "REPLICATE_COLUMNS",
    "STATUS_COLUMNS",
    "VALUE_COLUMNS",
    "VARIANT_COLUMNS",
    "WELL_COLUMNS",
    "ReadLimits",
    "Table",
    "column_key",
    "find_column",
    "read_table",
    "read_table_bytes",
]
