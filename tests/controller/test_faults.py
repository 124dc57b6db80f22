"""The operator under faults (a short version of benchmarks/faults.py): killed at random points and
after creating Jobs, a fraction of its API calls failing; every invariant holds and the campaign
proposes what a fault-free run proposes."""

from __future__ import annotations

import pytest

from activeloop.testing.faults import check, run_campaign

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_kills_and_api_failures_break_no_invariant():
    base = run_campaign(rounds=2, seed=3)
    assert check(base) == []
    run = run_campaign(rounds=2, seed=3, kills=6, fault_rate=0.15, kill_after_job=0.5)
    assert run["kills"] >= 6 and sum(run["faults_injected"].values()) > 0
    assert check(run, base) == []
