"""Results: a plate recorded (a file, a CSV body, or JSON rows), all of it or nothing."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header, Query, Request

from activeloop.api.views import ErrorDetail, ProblemReport, RecordResult
from activeloop.service.plates import RecordOptions
from activeloop.web.deps import Caller, NamespaceQ, ServiceDep, run
from activeloop.web.rest.common import PlateLayout
from activeloop.web.rest.common import router as make_router
from activeloop.web.uploads import read_plate

router = make_router("results")


@router.post("/campaigns/{name}/results", response_model=RecordResult,
             responses={409: {"model": ErrorDetail, "description": "The Idempotency-Key or the plate's name was used "
                                                                   "for other results"},
                        422: {"model": ProblemReport, "description": "Bad rows: every one listed, nothing recorded"}},
             openapi_extra={"requestBody": {"content": {
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"},
                     "map": {"type": "string", "format": "binary",
                             "description": "A plate map (well, variant, control) for a file by well"}},
                     "required": ["file"]}},
                 "text/csv": {"schema": {"type": "string"}},
                 "application/json": {"schema": {"$ref": "#/components/schemas/ResultsUpload"}}}, "required": True}})
async def record_results(
    request: Request, name: str, user: Caller, service: ServiceDep,
    dry_run: Annotated[bool, Query(alias="dryRun", description="Check only: record nothing")] = False,
    value_column: Annotated[str | None, Query(alias="valueColumn", max_length=200,
                                              description="The value column (case-insensitive)")] = None,
    decimal: Annotated[Literal[".", ",", "auto"], Query(
        description="Decimal mark: '.', ',' or auto (',' when values are written 12,5 and none 12.5)")] = "auto",
    sheet: Annotated[str | None, Query(max_length=200, description="Excel: the sheet to read")] = None,
    skip_rows: Annotated[int | None, Query(alias="skipRows", ge=0, le=1000, description=(
        "Title rows above the header (default: found, as the first row naming a known column)"))] = None,
    plate: Annotated[str | None, Query(max_length=200, description="Name of the plate")] = None,
    layout: Annotated[PlateLayout | None, Query(description=(
        "A file by well: read it with the round's plate map of this many wells"))] = None,
    plate_number: Annotated[int | None, Query(alias="plateNumber", ge=1, le=1000, description=(
        "A file by well: which plate of the map it is (when the map has several)"))] = None,
    supersedes: Annotated[list[str] | None, Query(description="Earlier plates this one corrects")] = None,
    replicates: Annotated[Literal["mean", "median"], Query(description="How replicates combine")] = "mean",
    round: Annotated[int | None, Query(ge=1, description="The round whose proposals were assayed")] = None,
    earlier: Annotated[bool, Query(description="Measured before the campaign started (earlier data)")] = False,
    task: Annotated[str | None, Query(max_length=63, description=(
        "A related assay's name (another temperature, another substrate): a second task for the model, "
        "not the campaign's results"))] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    namespace: NamespaceQ = None,
) -> RecordResult:
    """Record a plate: all its rows, or nothing (422 lists every bad row). Re-sending the same
    plate records nothing twice; corrections name what they supersede (with ``dryRun``, the
    answer lists what the correction would change). A reader's export by well is read with the
    round's plate map (``layout``) or a map file sent beside it (``map``)."""
    table, upload, plate_map = await read_plate(request, name, sheet, skip_rows)
    options = RecordOptions(value_column=value_column, decimal=decimal, sheet=sheet,
                            name=plate or (upload.name if upload else None),
                            supersedes=tuple(supersedes or (upload.supersedes if upload else ())),
                            replicates=upload.replicates if upload else replicates,
                            round=round or (upload.round if upload else None), dry_run=dry_run,
                            idempotency_key=idempotency_key, skip_rows=skip_rows,
                            layout=int(layout) if layout is not None else None,
                            plate=plate_number, map=plate_map, earlier=earlier or bool(upload and upload.earlier),
                            task=task or (upload.task if upload else None))
    return await run(service.record, user, name, table, options, namespace)


__all__ = ["router"]
