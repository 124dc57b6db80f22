"""Campaigns: list, read, create, extend; and who is calling."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import Query, Request
from pydantic import ValidationError

from activeloop import __version__
from activeloop.api.views import (
    CampaignCreate,
    CampaignDetail,
    CampaignSummary,
    HistoryPoint,
    LibraryCheck,
    LibrarySize,
    ParetoFront,
)
from activeloop.errors import InputError, format_validation_error
from activeloop.steps.data import library_size
from activeloop.web.deps import Caller, NamespaceQ, ServiceDep, run
from activeloop.web.rest.common import CONFLICT
from activeloop.web.rest.common import router as make_router

router = make_router("campaigns")


@router.get("/whoami")
async def whoami(user: Caller, service: ServiceDep) -> dict[str, Any]:
    """Who the server thinks you are, and which backend it serves."""
    return {"user": user.name, "backend": service.kind, "namespaces": list(service.namespaces),
            "version": __version__}


@router.get("/campaigns", response_model=list[CampaignSummary])
async def list_campaigns(user: Caller, service: ServiceDep) -> list[CampaignSummary]:
    """Every campaign you may see."""
    return await run(service.campaigns, user)


@router.post("/campaigns", response_model=CampaignDetail, status_code=201, responses=CONFLICT,
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/CampaignCreate"}},
                 "application/yaml": {"schema": {"type": "string"}}}, "required": True}})
async def create_campaign(request: Request, user: Caller, service: ServiceDep,
                          namespace: NamespaceQ = None) -> CampaignDetail:
    """Start a campaign: JSON ``{name, spec}``, or YAML (a Campaign manifest, or ``name:`` and ``spec:``)."""
    body = b"".join([chunk async for chunk in request.stream()])
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    try:
        doc = yaml.safe_load(body) if "yaml" in kind else json.loads(body or b"null")
    except (yaml.YAMLError, ValueError) as exc:
        raise InputError("body", f"not valid {'YAML' if 'yaml' in kind else 'JSON'}: {exc}") from None
    if isinstance(doc, dict) and doc.get("kind") == "Campaign":
        doc = {"name": (doc.get("metadata") or {}).get("name"), "spec": doc.get("spec")}
    try:
        create = CampaignCreate.model_validate(doc)
    except ValidationError as exc:
        raise InputError("body", format_validation_error(exc)) from None
    return await run(service.create_campaign, user, create.name, create.spec, namespace)


@router.post("/library-size", response_model=LibrarySize,
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/LibraryCheck"}}}, "required": True}})
async def size_library(request: Request, user: Caller) -> LibrarySize:
    """How many variants a site library holds under its constraints (per-site residues,
    maxSubstitutions, forbidden, exclude), before a campaign starts: ``{parentSequence, library}``."""
    body = b"".join([chunk async for chunk in request.stream()])
    try:
        check = LibraryCheck.model_validate_json(body or b"null")
    except ValidationError as exc:
        raise InputError("body", format_validation_error(exc)) from None
    return await run(library_size, check)


@router.get("/campaigns/{name}", response_model=CampaignDetail)
async def get_campaign(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> CampaignDetail:
    """A campaign: spec, phase, current round, best so far, pending, conditions."""
    return await run(service.campaign, user, name, namespace)


@router.post("/campaigns/{name}:extend", response_model=CampaignDetail, responses=CONFLICT)
async def extend(name: str, user: Caller, service: ServiceDep,
                 rounds: Annotated[int, Query(ge=1, le=1000, description="Rounds after the first batch")],
                 namespace: NamespaceQ = None) -> CampaignDetail:
    """Let the campaign run more rounds than its spec planned (never fewer)."""
    return await run(service.extend, user, name, rounds, namespace)


@router.get("/campaigns/{name}/history", response_model=list[HistoryPoint])
async def history(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> list[HistoryPoint]:
    """Best value found by the end of each round."""
    return await run(service.history, user, name, namespace)


@router.get("/campaigns/{name}/pareto", response_model=ParetoFront)
async def pareto(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> ParetoFront:
    """The Pareto front of the variants measured for every objective, its reference point and hypervolume
    (a campaign with several objectives; empty for one)."""
    return await run(service.pareto, user, name, namespace)


__all__ = ["router"]
