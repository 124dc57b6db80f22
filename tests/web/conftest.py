"""Fixtures of the web tests: a workstation campaign served by the app, and its client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from activeloop.testing.web import TOKEN, make_campaign


@pytest.fixture
def runs(tmp_path) -> Path:
    make_campaign(tmp_path, "gb1")
    return tmp_path / "runs"


@pytest.fixture
def app(runs):
    from activeloop.service.rundir import RunDirService
    from activeloop.web.app import Settings, create_app
    from activeloop.web.auth import SharedToken
    from activeloop.web.uploads import Limits

    service = RunDirService(runs)
    return create_app(service, SharedToken(TOKEN), Settings(limits=Limits(max_bytes=200_000, max_rows=500),
                                                            poll_seconds=0.1))


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


