"""The REST API against its own OpenAPI document (schemathesis): a few hundred generated requests,
no 5xx, every response as the document says (status, content type, body schema)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

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
CHECKED_AGAINST_THE_CAMPAIGN = {"POST /api/v1/campaigns", "POST /api/v1/campaigns/{name}/results",
                                "POST /api/v1/library-size", "POST /api/v1/campaigns/{name}/rounds:next"}


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_the_api_keeps_its_own_contract(operation):
    """Generated requests (derandomised: the same ones every run) for each operation; every
    answer as the document says."""
    @given(case=operation.as_strategy())
    @settings(max_examples=int(os.environ.get("ACTIVELOOP_SCHEMATHESIS_EXAMPLES", "25")), deadline=None,
              suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def check(case):
        # every check schemathesis has; but a body the schema allows may still be refused where it is
        # checked against the campaign (a plate's variants or picks must be in its library, a spec's
        # sites in its parent), which no schema can say: there "valid data is accepted" is not asked
        excluded = [positive_data_acceptance] if operation.label in CHECKED_AGAINST_THE_CAMPAIGN else []
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded)

    check()


def test_every_operation_is_generated():
    assert len(OPERATIONS) >= 14
