"""Bodies in, bounded: every request body is counted while it streams and cut off at its limit
(:class:`BodyLimit`, before anything is spooled past it), and plates are read into one form: a
multipart file (CSV, TSV or Excel), a ``text/csv`` body, or JSON rows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from activeloop.api.resources import AssayResultSpec
from activeloop.api.views import ResultsUpload
from activeloop.errors import (
    InputError,
    RecordError,
    RowProblem,
    StalledError,
    TooLargeError,
    format_validation_error,
)
from activeloop.service.plates import Plate
from activeloop.steps import tables

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """How much one request may hold."""

    max_bytes: int = 5 * 2**20
    """A plate file (or body), in bytes."""
    max_rows: int = 20_000
    """Rows of a plate."""
    max_form_bytes: int = 64 * 2**10
    """Any other body (sign-in, a new campaign, a form without a file)."""
    framing: int = 64 * 2**10
    """What a multipart body may add around the file (boundaries, headers, other fields)."""
    stall_seconds: float = 30.0
    """A body that sends nothing for this long is given up (408): a stuck or slow client holds no
    worker (idle keep-alive connections are closed by uvicorn after 5 s)."""


UPLOAD_PATHS = ("/results", "/upload")
"""Routes that take a plate (their path ends so): bodies up to ``max_bytes``, others ``max_form_bytes``."""


class BodyLimit:
    """ASGI middleware: a body over its limit is refused at the limit (413), whether or not it
    declares its length: the declared length is checked first, then every chunk as it arrives."""

    def __init__(self, app: ASGIApp, limits: Callable[[], Limits]) -> None:
        self.app = app
        self.limits = limits

    def limit_of(self, path: str) -> int:
        """The most bytes a body sent to ``path`` may have."""
        lim = self.limits()
        return lim.max_bytes + lim.framing if path.endswith(UPLOAD_PATHS) else lim.max_form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with its body counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope.get("path", ""))
        stall = self.limits().stall_seconds
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            scope["activeloop.too_large"] = f"the request is {int(declared):,} bytes; the limit is {limit:,}"
        seen = 0
        complete = False

        async def bounded() -> Message:
            nonlocal seen, complete
            if complete:  # the body is in: what follows is the wait for a disconnect (a live stream's)
                return await receive()
            if "activeloop.too_large" in scope:
                raise TooLargeError(scope["activeloop.too_large"])
            try:
                message = await asyncio.wait_for(receive(), stall)
            except asyncio.TimeoutError:
                raise StalledError(f"the request's body stopped arriving for {stall:g} s; send it again") from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLargeError(f"the request is over the limit of {limit:,} bytes")
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, bounded, send)


async def read_form(request: Request) -> FormData:
    """The request's form (cached for the route): at most two files (a plate and its map), a few
    fields, each part within the limits; a malformed body is :class:`InputError` (422), an oversized
    one 413."""
    limits: Limits = request.app.state.settings.limits
    try:
        return await request.form(max_files=2, max_fields=60, max_part_size=limits.max_form_bytes)
    except HTTPException as exc:  # Starlette's "invalid multipart data" and friends
        raise InputError("body", f"not a readable form: {exc.detail}") from None


async def _body(request: Request) -> bytes:
    chunks = [chunk async for chunk in request.stream()]
    return b"".join(chunks)


def _rows(plate: Plate, limits: Limits) -> Plate:
    n = len(plate.rows) if isinstance(plate, tables.Table) else len(plate.measurements)
    if n > limits.max_rows:
        raise TooLargeError(f"the plate has {n:,} rows; the limit is {limits.max_rows:,}")
    return plate


async def uploaded_file(request: Request, field: str = "file", required: bool = True) -> tuple[bytes, str] | None:
    """The bytes and name of the form's ``field`` file (within ``max_bytes``); ``None`` when it is
    optional and absent."""
    limits: Limits = request.app.state.settings.limits
    upload = (await read_form(request)).get(field)
    if not isinstance(upload, UploadFile) or (not required and not upload.filename):
        if not required:
            return None
        raise InputError(field, f"send the plate as a form field named {field!r} (CSV, TSV or .xlsx)")
    data = await upload.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise TooLargeError(f"the file is over the limit of {limits.max_bytes:,} bytes")
    return data, upload.filename or "plate.csv"


async def parse_table(request: Request, data: bytes, filename: str, sheet: str | None = None,
                      skip_rows: int | None = None, known: tuple[str, ...] = ()) -> tables.Table:
    """A plate file's table, read in a worker thread (a workbook takes CPU: the server goes on
    answering) with the row limit enforced while it is read."""
    limits: Limits = request.app.state.settings.limits
    read = tables.ReadLimits(max_rows=limits.max_rows)
    table = await asyncio.to_thread(tables.read_table_bytes, data, filename, sheet=sheet, limits=read,
                                    skip_rows=skip_rows, known=known)
    _rows(table, limits)
    return table


async def read_plate(request: Request, campaign: str, sheet: str | None = None,
                     skip_rows: int | None = None) -> tuple[Plate, ResultsUpload | None, tables.Table | None]:
    """The plate in the request, the JSON body's own options (if it was JSON), and the plate map
    sent with it (a multipart form's ``map`` file), if any."""
    limits: Limits = request.app.state.settings.limits
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        sent = await uploaded_file(request)
        assert sent is not None
        mapped = await uploaded_file(request, "map", required=False)
        plate_map = await parse_table(request, *mapped) if mapped is not None else None
        return await parse_table(request, *sent, sheet, skip_rows), None, plate_map
    body = await _body(request)
    if kind in ("text/csv", "text/plain", "text/tab-separated-values"):
        return await parse_table(request, body, "plate.tsv" if "tab" in kind else "plate.csv",
                                 skip_rows=skip_rows), None, None
    if kind in ("application/json", ""):
        try:
            rows = ResultsUpload.model_validate_json(body or b"{}")
        except ValidationError as exc:
            if any(e["type"] == "too_long" for e in exc.errors()):
                raise TooLargeError(f"the plate has more than {limits.max_rows:,} rows") from None
            raise InputError("body", format_validation_error(exc)) from None
        # the rows are valid Measurements already; ingest checks them against the campaign
        # (duplicates included), and recording splits plates of more than 4,096 rows
        spec = AssayResultSpec.model_construct(campaign=campaign, measurements=list(rows.measurements))
        return _rows(spec, limits), rows, None
    raise RecordError("body", [RowProblem(0, "Content-Type", (
        f"{kind!r} is not a plate: send multipart/form-data (field 'file'), text/csv or application/json"))])


__all__ = ["UPLOAD_PATHS", "BodyLimit", "Limits", "parse_table", "read_form", "read_plate", "uploaded_file"]
