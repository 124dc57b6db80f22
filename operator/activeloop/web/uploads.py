"""Plates sent to the REST API, read into one form: a multipart file (CSV, TSV or Excel), a
``text/csv`` body, or JSON rows. Bodies larger than the limit, or with more rows than the limit,
are refused with 413 before anything is read into a table."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from activeloop.api.resources import AssayResultSpec
from activeloop.api.views import ResultsUpload
from activeloop.errors import InputError, RecordError, RowProblem, format_validation_error
from activeloop.steps import ingest
from activeloop.web.backend import Plate


@dataclass(frozen=True)
class Limits:
    """How much one upload may hold."""

    max_bytes: int = 5 * 2**20
    max_rows: int = 20_000


class TooLarge(Exception):
    """An upload over the limits (answered with 413)."""


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the upload is {int(declared):,} bytes; the limit is {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the upload is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _rows(plate: Plate, limits: Limits) -> Plate:
    n = len(plate.rows) if isinstance(plate, ingest.Table) else len(plate.measurements)
    if n > limits.max_rows:
        raise TooLarge(f"the plate has {n:,} rows; the limit is {limits.max_rows:,}")
    return plate


async def read_plate(request: Request, campaign: str, limits: Limits) -> tuple[Plate, ResultsUpload | None]:
    """The plate in the request, and the JSON body's own options (if it was JSON)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_bytes:
            raise TooLarge(f"the upload is {int(declared):,} bytes; the limit is {limits.max_bytes:,}")
        form = await request.form(max_files=1, max_fields=20, max_part_size=limits.max_bytes)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError("file", "send the plate as a form field named 'file' (CSV, TSV or .xlsx)")
        data = await upload.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            raise TooLarge(f"the file is over the limit of {limits.max_bytes:,} bytes")
        return _rows(ingest.read_table_bytes(data, upload.filename or "plate.csv"), limits), None
    body = await _body(request, limits.max_bytes)
    if kind in ("text/csv", "text/plain", "text/tab-separated-values"):
        return _rows(ingest.read_table_bytes(body, "plate.tsv" if "tab" in kind else "plate.csv"), limits), None
    if kind in ("application/json", ""):
        try:
            rows = ResultsUpload.model_validate_json(body or b"{}")
        except ValidationError as exc:
            if any(e["type"] == "too_long" for e in exc.errors()):
                raise TooLarge(f"the plate has more than {limits.max_rows:,} rows") from None
            raise InputError("body", format_validation_error(exc)) from None
        # the rows are valid Measurements already; ingest checks them against the campaign
        # (duplicates included), and recording splits plates of more than 4,096 rows
        spec = AssayResultSpec.model_construct(campaign=campaign, measurements=list(rows.measurements))
        return _rows(spec, limits), rows
    raise RecordError("body", [RowProblem(0, "Content-Type", (
        f"{kind!r} is not a plate: send multipart/form-data (field 'file'), text/csv or application/json"))])


__all__ = ["Limits", "TooLarge", "read_plate"]
