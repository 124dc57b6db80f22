"""What every REST router shares: its dependencies (identity first, no unknown query parameter)
and the error responses the OpenAPI document lists."""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any

from fastapi import APIRouter, Depends

from activeloop.api.views import ErrorDetail, ProblemReport
from activeloop.api.wells import PLATES
from activeloop.web.deps import AUTHENTICATED, known_query_only

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "No credentials, or credentials no longer accepted"},
    403: {"model": ErrorDetail, "description": "The caller may not do this"},
    404: {"model": ErrorDetail, "description": "No such campaign, round or artifact"},
    422: {"model": ProblemReport, "description": "Bad input: every problem named, nothing changed"},
}
"""Responses every route may give."""
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorDetail, "description": "The campaign's state does not allow this now, or a name is taken"}}
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    408: {"model": ErrorDetail, "description": "The request's body stopped arriving"},
    413: {"model": ErrorDetail, "description": "Over the upload limits (bytes, rows or cells)"}}


PlateLayout = IntEnum("PlateLayout", {f"WELLS_{n}": n for n in PLATES})  # type: ignore[misc]
"""Plate formats a plate map can be laid out on (96 or 384 wells)."""


class Format(str, Enum):
    """A table's download format."""

    csv = "csv"
    xlsx = "xlsx"


def router(tag: str) -> APIRouter:
    """A REST router: under ``/api/v1``, the caller's identity checked first, unknown query
    parameters refused."""
    return APIRouter(prefix="/api/v1", tags=[tag], responses={**ERRORS, **TOO_LARGE},
                     dependencies=[*AUTHENTICATED, Depends(known_query_only)])


__all__ = ["CONFLICT", "ERRORS", "TOO_LARGE", "Format", "PlateLayout", "router"]
