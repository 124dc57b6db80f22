"""Every route of the app, walked: identity is a dependency of each (a route cannot exist
without it), checked before any body is read, and every status a route answers is documented."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from activeloop.testing.web import TOKEN
from activeloop.web.app import PUBLIC_PATHS
from activeloop.web.deps import caller


def _routes(app):
    """Every route of the app: those of the routers it includes (and nothing is added otherwise)."""
    assert len(app.routes) == len(app.state.routers) + 2  # the routers, the static files, Swagger UI's
    return [r for router in app.state.routers for r in router.routes if isinstance(r, APIRoute)]


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:path)?\}", lambda m: {"number": "1", "key": "campaign.yaml", "fmt": "csv"}.get(m.group(1), "gb1"), path)


def test_every_route_but_sign_in_and_health_refuses_an_anonymous_caller(app):
    routes = _routes(app)
    assert len(routes) >= 25
    with TestClient(app) as anon:
        for route in routes:
            path = _concrete(route.path)
            for method in sorted(route.methods - {"HEAD"}):
                res = anon.request(method, path, headers={"Accept": "application/json"}, follow_redirects=False)
                if route.path not in PUBLIC_PATHS:
                    assert res.status_code == 401, (method, path, res.status_code)
        # sign-in and the health check answer anyone
        assert anon.get("/login").status_code == 200 and anon.get("/healthz").json() == {"status": "ok"}
        signed_in = anon.post("/login", data={"token": TOKEN, "next": "/"}, follow_redirects=False)
        assert signed_in.status_code == 303 and "activeloop_session" in signed_in.cookies
    # the static files are the only mounts: stylesheets, scripts, icons, and the API page's Swagger UI
    assert [m.path for m in app.routes if isinstance(m, Mount)] == ["/static/swagger-ui", "/static"]


def test_identity_is_a_dependency_of_every_router_and_no_route_reads_a_body_before_it(app):
    for router in app.state.routers:
        paths = {r.path for r in router.routes}
        if paths <= set(PUBLIC_PATHS):
            continue
        assert router.dependencies and router.dependencies[0].dependency is caller, paths
    for route in _routes(app):
        # FastAPI reads a declared body before dependencies: routes read theirs themselves
        assert not route.dependant.body_params, f"{route.path} declares a body"


def test_an_anonymous_upload_is_refused_without_reading_it(app):
    """A chunked body without a token is not read at all: 401 at once."""
    sent = []

    def body():
        for _ in range(1000):
            sent.append(1)
            yield b"x" * 65536

    with TestClient(app) as anon:
        res = anon.post("/api/v1/campaigns/gb1/results", content=body(), headers={"Content-Type": "text/csv"})
    assert res.status_code == 401 and len(sent) < 1000


def test_every_status_a_route_answers_is_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"401", "403", "404", "408", "413", "422"} <= codes, (method, path, codes)
    # every reference resolves
    text = client.get("/api/v1/openapi.json").text
    for ref in set(re.findall(r'"\$ref": ?"#/components/schemas/(\w+)"', text)):
        assert ref in doc["components"]["schemas"], ref
