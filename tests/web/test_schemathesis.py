"""The REST API against its own OpenAPI document (schemathesis): a few hundred generated requests,
no 5xx, every response as the document says (status, content type, body schema)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from activeloop.testing.web import TOKEN, make_campaign

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _app():
    import tempfile
    from pathlib import Path

    from activeloop.service.rundir import RunDirService
    from activeloop.web.app import Settings, create_app
    from activeloop.web.auth import SharedToken

    folder = Path(tempfile.mkdtemp(prefix="activeloop-schemathesis-"))
    make_campaign(folder, "gb1")
    return create_app(RunDirService(folder / "runs"), SharedToken(TOKEN), Settings(poll_seconds=0.05))


APP = _app()
# the event stream is long-lived by design (it is tested in test_api_local.py)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP, headers={"Authorization": f"Bearer {TOKEN}"}
                                        ).exclude(path_regex=r"/events$")


OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_the_api_keeps_its_own_contract(operation):
    """Generated requests (derandomised: the same ones every run) for each operation; every
    answer as the document says."""
    @given(case=operation.as_strategy())
    @settings(max_examples=int(os.environ.get("ACTIVELOOP_SCHEMATHESIS_EXAMPLES", "25")), deadline=None,
              suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def check(case):
        case.call_and_validate(
            headers={"Authorization": f"Bearer {TOKEN}"},
            checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                    response_schema_conformance])

    check()


def test_every_operation_is_generated():
    assert len(OPERATIONS) >= 14
