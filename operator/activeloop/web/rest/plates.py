"""Plates and the campaign's record: every plate recorded (who, when, what corrects it), one plate
with its wells, its file as sent, the activity feed, and the exports (measurements, the whole
campaign as an archive)."""

from __future__ import annotations

from fastapi.responses import Response

from activeloop.api.views import ActivityEntry, PlateDetail, PlateView
from activeloop.service import exports
from activeloop.web.deps import Caller, NamespaceQ, ServiceDep, run
from activeloop.web.rest.common import Format
from activeloop.web.rest.common import router as make_router

router = make_router("plates")


def attachment(body: bytes, media: str, filename: str) -> Response:
    """A download (the file name is made by the server, never taken from a request)."""
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/campaigns/{name}/plates", response_model=list[PlateView])
async def list_plates(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> list[PlateView]:
    """Every plate recorded (corrected ones too), newest first: who recorded it and when, its rows,
    failed wells, controls and drift, and what corrects it."""
    return await run(service.plates, user, name, namespace)


@router.get("/campaigns/{name}/plates/{plate}", response_model=PlateDetail)
async def get_plate(name: str, plate: str, user: Caller, service: ServiceDep,
                    namespace: NamespaceQ = None) -> PlateDetail:
    """One plate with its wells (values as measured and, where the campaign normalises, after)."""
    return await run(service.plate, user, name, plate, namespace)


@router.get("/campaigns/{name}/plates/{plate}/file", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The file as it was sent"}})
async def plate_file(name: str, plate: str, user: Caller, service: ServiceDep,
                     namespace: NamespaceQ = None) -> Response:
    """The plate's file exactly as the lab sent it (404 for a plate sent as JSON rows)."""
    data, filename = await run(service.plate_file, user, name, plate, namespace)
    suffix = filename.rsplit(".", 1)[-1]
    return attachment(data, exports.MEDIA.get(suffix, "application/octet-stream"), filename)


@router.get("/campaigns/{name}/activity", response_model=list[ActivityEntry])
async def activity(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> list[ActivityEntry]:
    """Who did what to the campaign, and what the loop did, newest first."""
    return await run(service.activity, user, name, namespace)


@router.get("/campaigns/{name}/measurements.{fmt}", response_class=Response,
            responses={200: {"content": {exports.MEDIA["csv"]: {}, exports.MEDIA["xlsx"]: {}},
                             "description": "One row per measured variant"}})
async def measurements(name: str, fmt: Format, user: Caller, service: ServiceDep,
                       namespace: NamespaceQ = None) -> Response:
    """Every measured variant: its value (plates combined, corrections applied), whether it failed,
    how many wells and which plates gave it."""
    table = await run(service.measurements, user, name, namespace)
    body = await run(exports.table_bytes, table, fmt.value, "measurements")
    return attachment(body, exports.MEDIA[fmt.value], f"{name}-measurements.{fmt.value}")


@router.get("/campaigns/{name}/archive.zip", response_class=Response,
            responses={200: {"content": {"application/zip": {}}, "description": "The campaign as one archive"}})
async def archive(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> Response:
    """The whole campaign as one zip archive (spec, plates and their files, rounds, proposals,
    activity, and a manifest of SHA-256 hashes); ``activeloop init --from`` starts it again."""
    body = await run(service.archive, user, name, namespace)
    return attachment(body, "application/zip", f"{name}-campaign.zip")


__all__ = ["attachment", "router"]
