"""Rounds: the timeline, one round with its proposals, the proposals as a plate map, and the lab's
two actions on rounds (close one, start the next)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from activeloop.api.views import NextRoundRequest, NextRoundResult, RoundDetail, RoundSummary
from activeloop.errors import InputError, format_validation_error
from activeloop.service import exports
from activeloop.web.deps import Caller, NamespaceQ, ServiceDep, run
from activeloop.web.rest.common import CONFLICT, Format, PlateLayout
from activeloop.web.rest.common import router as make_router

router = make_router("rounds")


@router.get("/campaigns/{name}/rounds", response_model=list[RoundSummary])
async def list_rounds(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> list[RoundSummary]:
    """The campaign's rounds: phase, times, counts, each step's cost."""
    return await run(service.rounds, user, name, namespace)


@router.get("/campaigns/{name}/rounds/{number}", response_model=RoundDetail)
async def get_round(name: str, number: int, user: Caller, service: ServiceDep,
                    namespace: NamespaceQ = None) -> RoundDetail:
    """One round: its proposals with predicted mean and standard deviation, and their results."""
    return await run(service.round, user, name, number, namespace)


@router.get("/campaigns/{name}/rounds/{number}/proposals.{fmt}", response_class=Response,
            responses={200: {"content": {exports.MEDIA["csv"]: {}, exports.MEDIA["xlsx"]: {}},
                             "description": "The proposals as CSV or an Excel workbook"}})
async def proposals_file(name: str, number: int, fmt: Format, user: Caller, service: ServiceDep,
                         layout: Annotated[PlateLayout | None,
                                           Query(description="96 or 384: a plate map with the campaign's control "
                                                             "wells, ready to fill")] = None,
                         namespace: NamespaceQ = None) -> Response:
    """A round's proposals to download, each prediction in measured units with its 95% interval and
    an empty value column; with ``layout``, laid out on plates (wells in pipetting order)."""
    _, table = await run(service.proposals, user, name, number, namespace)
    detail = await run(service.campaign, user, name, namespace)
    sheet = exports.proposals_sheet(table, int(layout) if layout is not None else None, detail.spec.plates,
                                    [o.name for o in detail.spec.all_objectives])
    suffix = f"-plate{int(layout)}" if layout is not None else ""
    body = await run(exports.table_bytes, sheet, fmt.value, f"round {number}")
    return Response(body, media_type=exports.MEDIA[fmt.value],
                    headers={"Content-Disposition": f'attachment; filename="{name}-round{number}{suffix}.{fmt.value}"'})


@router.post("/campaigns/{name}/rounds:next", response_model=NextRoundResult, responses=CONFLICT,
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/NextRoundRequest"}}}, "required": False}})
async def next_round(request: Request, name: str, user: Caller, service: ServiceDep,
                     namespace: NamespaceQ = None) -> NextRoundResult:
    """Start the next round now ("update the model"): the current round closes, whatever is pending
    (a failed round is started again). An optional body ``{picks: [...]}`` adds your variants to
    the new round's batch; the model fills the rest (422 naming a bad pick, nothing changed)."""
    body = b"".join([chunk async for chunk in request.stream()])
    try:
        ask = NextRoundRequest.model_validate_json(body) if body.strip() else NextRoundRequest()
    except ValidationError as exc:
        raise InputError("body", format_validation_error(exc)) from None
    return await run(service.next_round, user, name, namespace, picks=ask.picks)


@router.post("/campaigns/{name}/rounds/{number}:close", response_model=NextRoundResult, responses=CONFLICT)
async def close_round(name: str, number: int, user: Caller, service: ServiceDep,
                      namespace: NamespaceQ = None) -> NextRoundResult:
    """Close a round now, whatever is pending; it must be waiting for assay results (409 otherwise)."""
    return await run(service.close_round, user, name, number, namespace)


__all__ = ["router"]
