"""Artifacts: a campaign's files a person may download (proposals, records, plates, students)."""

from __future__ import annotations

from fastapi.responses import Response

from activeloop.service.base import check_artifact_key
from activeloop.web.deps import Caller, NamespaceQ, ServiceDep, run
from activeloop.web.rest.common import router as make_router

router = make_router("artifacts")
MEDIA = {"csv": "text/csv", "json": "application/json", "yaml": "text/yaml"}


@router.get("/campaigns/{name}/artifacts/{key:path}",
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The artifact"}})
async def artifact(name: str, key: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> Response:
    """An artifact of the campaign, streamed by the server."""
    check_artifact_key(key)
    data = await run(service.artifact, user, name, key, namespace)
    media = MEDIA.get(key.rsplit(".", 1)[-1], "application/octet-stream")
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{key.rsplit("/", 1)[-1]}"'})


__all__ = ["router"]
