"""Live updates: a version string to poll, and server-sent events when it changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from activeloop.api.views import Version
from activeloop.errors import ActiveLoopError
from activeloop.web.deps import Caller, NamespaceQ, ServiceDep, run
from activeloop.web.rest.common import router as make_router

router = make_router("live updates")


@router.get("/campaigns/{name}/version", response_model=Version)
async def version(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> Version:
    """The polling contract: ``version`` changes whenever the campaign page would change."""
    return await run(service.version, user, name, namespace)


@router.get("/campaigns/{name}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "Server-sent events: 'state' with a Version when it changes"}})
async def events(request: Request, name: str, user: Caller, service: ServiceDep,
                 timeout: Annotated[float, Query(gt=0, le=3600, description="Close after this many seconds")] = 600,
                 namespace: NamespaceQ = None) -> StreamingResponse:
    """Server-sent events: an ``event: state`` with the campaign's :class:`Version` at once and
    whenever it changes (checked every few seconds), a comment every 15 s to keep proxies open."""
    first = await run(service.version, user, name, namespace)
    poll = request.app.state.settings.poll_seconds

    async def stream() -> AsyncIterator[str]:
        last = first
        yield f"event: state\ndata: {json.dumps(first.dump())}\n\n"
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        quiet = 0.0
        while loop.time() < end and not await request.is_disconnected():
            await asyncio.sleep(poll)
            quiet += poll
            try:
                now = await run(service.version, user, name, namespace)
            except ActiveLoopError as exc:
                yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n"
                return
            if now.version != last.version:
                last, quiet = now, 0.0
                yield f"event: state\ndata: {json.dumps(now.dump())}\n\n"
            elif quiet >= 15:
                quiet = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


__all__ = ["router"]
