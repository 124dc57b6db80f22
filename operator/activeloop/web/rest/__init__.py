"""The REST API (``/api/v1``): one router per resource, each depending on the caller's identity
first. The OpenAPI document is generated from the models of ``activeloop.api.views``."""

from __future__ import annotations

from fastapi import APIRouter

from activeloop.web.rest import artifacts, campaigns, docs, live, plates, results, rounds, students

PREFIX = "/api/v1"
ROUTERS: tuple[APIRouter, ...] = (campaigns.router, rounds.router, results.router, plates.router,
                                  students.router, artifacts.router, live.router, docs.router)

__all__ = ["PREFIX", "ROUTERS"]
