"""Students: the campaign's distilled models and their figures."""

from __future__ import annotations

from activeloop.api.views import StudentView
from activeloop.web.deps import Caller, NamespaceQ, ServiceDep, run
from activeloop.web.rest.common import router as make_router

router = make_router("students")


@router.get("/campaigns/{name}/students", response_model=list[StudentView])
async def students(name: str, user: Caller, service: ServiceDep, namespace: NamespaceQ = None) -> list[StudentView]:
    """Distilled students and their figures."""
    return await run(service.students, user, name, namespace)


__all__ = ["router"]
