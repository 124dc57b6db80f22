"""The operator's state machine as pure functions: every transition, no cluster."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from activeloop.api.campaign import RoundTrigger
from activeloop.api.resources import (
    AssayResultStatus,
    CampaignPhase,
    CampaignResourceSpec,
    CampaignStatus,
    LoopRoundStatus,
    RoundInputsStatus,
    RoundPhase,
    StepStatus,
    StudentModelSpec,
    StudentModelStatus,
)
from activeloop.errors import ConfigError, StateError
from activeloop.landscapes import GB1_PARENT
from activeloop.lifecycle import machine as m
from activeloop.lifecycle.rounds import RoundProgress

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
NAMES = {"tune": "c-r1-tune", "acquire": "c-r1-acquire"}
INPUTS = RoundInputsStatus(spec_sha256="a" * 64, measurements_sha256="b" * 64, assays=2, measured=10)
TRIGGER = RoundTrigger(min_fraction_measured=1.0, debounce_seconds=30)


def view(status: LoopRoundStatus | None = None, **kw) -> m.RoundView:
    return m.RoundView(name="c-r1", number=1, generation=1, status=status or LoopRoundStatus(),
                       job_names=NAMES, **kw)


def ok_job(step: str, failures: int = 0) -> m.JobView:
    return m.JobView(NAMES[step], True, failures, "2026-11-23T11:00:00Z", "2026-11-23T11:01:00Z")


TUNED = m.StepOutput("file:///s/tune.json", {"tuned": False, "reason": "fixed encoding"})
PROPOSED = m.StepOutput("file:///s/acquire.json", {"proposals_uri": "file:///s/p.csv", "proposals_sha256": "c" * 64,
                                                   "cost": {"wall_seconds": 2.0, "cpu_seconds": 3.0,
                                                            "energy_kwh": 1e-5}},
                        proposals=("V39A", "V39C", "V39D", "V39E"))


def test_a_new_round_first_pins_its_inputs_then_creates_its_tune_job():
    d = m.decide_round(view(), TRIGGER, NOW)
    assert d.actions == (m.TakeSnapshot(1),) and d.status.phase == RoundPhase.PENDING
    d = m.decide_round(view(inputs=INPUTS), TRIGGER, NOW)
    assert d.actions == (m.CreateStepJob(1, "tune"),)
    assert d.status.phase == RoundPhase.TUNING and d.status.inputs == INPUTS
    assert d.status.measurements_sha256 == "b" * 64 and d.status.started_at == "2026-11-23T12:00:00Z"
    assert d.status.tune == StepStatus(job="c-r1-tune", state="Pending")
    assert [e.reason for e in d.events] == ["RoundStarted"]


def test_a_running_job_is_followed_and_creates_nothing():
    st = LoopRoundStatus(phase=RoundPhase.TUNING, inputs=INPUTS)
    d = m.decide_round(view(st, inputs=INPUTS, jobs={"tune": m.JobView("c-r1-tune", None, 1, "t0")}), TRIGGER, NOW)
    assert d.actions == () and d.status.phase == RoundPhase.TUNING
    assert d.status.tune.state == "Running" and d.status.tune.attempts == 2


def test_a_succeeded_tune_records_its_outcome_and_asks_for_the_acquire_job():
    st = LoopRoundStatus(phase=RoundPhase.TUNING, inputs=INPUTS)
    d = m.decide_round(view(st, inputs=INPUTS, jobs={"tune": ok_job("tune")}, outputs={"tune": TUNED}), TRIGGER, NOW)
    assert d.status.phase == RoundPhase.ACQUIRING and d.actions == (m.CreateStepJob(1, "acquire"),)
    assert d.status.tune.state == "Succeeded" and d.status.tune.record_uri == TUNED.uri
    assert d.status.tune.finished_at == "2026-11-23T11:01:00Z"
    assert {c.type for c in d.status.conditions} == {"Tuned"}


def test_both_steps_done_in_one_look_lead_to_waiting_for_assays_with_the_proposals():
    st = LoopRoundStatus(phase=RoundPhase.TUNING, inputs=INPUTS)
    d = m.decide_round(view(st, inputs=INPUTS, jobs={"tune": ok_job("tune"), "acquire": ok_job("acquire", 1)},
                            outputs={"tune": TUNED, "acquire": PROPOSED}), TRIGGER, NOW)
    assert d.actions == () and d.status.phase == RoundPhase.WAITING_FOR_ASSAYS
    assert d.status.proposals == list(PROPOSED.proposals) and d.status.proposals_sha256 == "c" * 64
    assert d.status.acquire.attempts == 2 and d.status.acquire.cost.wall_seconds == 2.0
    assert d.status.pending == 4


def test_a_failed_job_fails_the_round_with_the_pods_reason():
    st = LoopRoundStatus(phase=RoundPhase.TUNING, inputs=INPUTS)
    job = m.JobView("c-r1-tune", False, 3, "t0", "t1")
    d = m.decide_round(view(st, inputs=INPUTS, jobs={"tune": job},
                            failures={"tune": "OOMKilled (exit 137): CUDA out of memory"}), TRIGGER, NOW)
    assert d.status.phase == RoundPhase.FAILED and d.actions == ()
    failed = next(c for c in d.status.conditions if c.type == "Failed")
    assert failed.reason == "TuneJobFailed" and "CUDA out of memory" in failed.message
    assert d.status.tune.state == "Failed" and d.status.tune.attempts == 3
    assert d.events[0].type == "Warning"


def test_a_succeeded_job_without_its_record_fails_the_round_rather_than_guessing():
    st = LoopRoundStatus(phase=RoundPhase.ACQUIRING, inputs=INPUTS)
    d = m.decide_round(view(st, inputs=INPUTS, jobs={"acquire": ok_job("acquire")}), TRIGGER, NOW)
    assert d.status.phase == RoundPhase.FAILED and "wrote no record" in d.status.acquire.message


def waiting(pending: int) -> LoopRoundStatus:
    return LoopRoundStatus(phase=RoundPhase.WAITING_FOR_ASSAYS, inputs=INPUTS, proposals=list(PROPOSED.proposals),
                           pending=pending)


@pytest.mark.parametrize(("progress", "trigger", "close", "quiet", "phase"), [
    (RoundProgress(4, 3, 0), TRIGGER, False, 100.0, RoundPhase.WAITING_FOR_ASSAYS),  # one pending
    (RoundProgress(4, 3, 1), TRIGGER, False, 100.0, RoundPhase.COMPLETED),  # a failed well counts
    (RoundProgress(4, 3, 1), TRIGGER, False, 5.0, RoundPhase.WAITING_FOR_ASSAYS),  # not quiet yet
    (RoundProgress(4, 3, 0), RoundTrigger(min_fraction_measured=0.75, debounce_seconds=0), False, 0.0,
     RoundPhase.COMPLETED),
    (RoundProgress(4, 1, 0), TRIGGER, True, 0.0, RoundPhase.COMPLETED),  # closed by the lab
])
def test_a_waiting_round_completes_by_its_trigger_or_when_closed(progress, trigger, close, quiet, phase):
    d = m.decide_round(view(waiting(4), inputs=INPUTS, progress=progress, close=close, quiet_for=quiet), trigger, NOW)
    assert d.status.phase == phase and d.actions == ()
    assert (d.status.measured, d.status.failed, d.status.pending) == (progress.measured, progress.failed, progress.pending)
    if phase == RoundPhase.COMPLETED:
        cond = next(c for c in d.status.conditions if c.type == "Completed")
        assert cond.reason == ("ClosedByLab" if close else "AssaysRecorded")
        assert d.status.completed_at == "2026-11-23T12:00:00Z"


def test_debounce_asks_to_look_again_when_the_quiet_time_is_over():
    d = m.decide_round(view(waiting(0), inputs=INPUTS, progress=RoundProgress(4, 4, 0), quiet_for=12.0), TRIGGER, NOW)
    assert d.status.phase == RoundPhase.WAITING_FOR_ASSAYS and d.requeue_after == pytest.approx(18.0)


def test_terminal_rounds_keep_their_phase_and_late_results_still_count_as_theirs():
    failed = LoopRoundStatus(phase=RoundPhase.FAILED)
    assert m.decide_round(view(failed, progress=RoundProgress(4, 1, 0)), TRIGGER, NOW).status is failed
    closed = LoopRoundStatus(phase=RoundPhase.COMPLETED, proposals=["A", "B", "C", "D"], measured=1, pending=3)
    d = m.decide_round(view(closed, progress=RoundProgress(4, 3, 1)), TRIGGER, NOW)
    assert d.actions == () and d.status.phase == RoundPhase.COMPLETED
    assert (d.status.measured, d.status.failed, d.status.pending) == (3, 1, 0)
    assert m.decide_round(view(closed), TRIGGER, NOW).status is closed


def test_deciding_twice_from_the_same_observation_gives_the_same_status():
    st = LoopRoundStatus(phase=RoundPhase.TUNING, inputs=INPUTS)
    v = view(st, inputs=INPUTS, jobs={"tune": ok_job("tune")}, outputs={"tune": TUNED})
    a = m.decide_round(v, TRIGGER, NOW)
    b = m.decide_round(v, TRIGGER, NOW + timedelta(hours=1))
    assert a.actions == b.actions
    # a later look keeps the transition times of conditions that did not change
    again = m.decide_round(view(a.status, inputs=INPUTS, jobs={"tune": ok_job("tune")}), TRIGGER, NOW + timedelta(hours=1))
    assert [c.last_transition_time for c in again.status.conditions] == [c.last_transition_time for c in a.status.conditions]


# ------------------------------------------------------------------------------------ campaign

SPEC = CampaignResourceSpec.model_validate({"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]},
                                            "rounds": 2})


def cview(rounds=None, status=None, spec=SPEC, **kw) -> m.CampaignView:
    return m.CampaignView("c", 1, status or CampaignStatus(), "s3://b/lab/c", spec=spec, rounds=rounds or {}, **kw)


def test_a_new_campaign_creates_round_one_unless_suspended():
    d = m.decide_campaign(cview(), NOW)
    assert d.actions == (m.CreateRound(1),) and d.status.phase == CampaignPhase.RUNNING
    assert d.status.current_round == 1 and d.status.rounds_planned == 3
    d = m.decide_campaign(cview(suspend=True), NOW)
    assert d.actions == () and d.status.phase == CampaignPhase.PENDING


def test_where_the_lab_starts_rounds_a_completed_round_waits_to_be_asked():
    done = LoopRoundStatus(phase=RoundPhase.COMPLETED)
    for kw in ({"automatic": False}, {"suspend": True}):
        d = m.decide_campaign(cview({1: done}, **kw), NOW)
        assert d.actions == () and d.status.phase == CampaignPhase.READY_FOR_NEXT_ROUND
        assert d.status.current_round == 1
    d = m.decide_campaign(cview({1: done}, automatic=False, start_requested=True), NOW)
    assert d.actions == (m.CreateRound(2),) and d.status.phase == CampaignPhase.RUNNING
    assert m.decide_campaign(cview(automatic=False), NOW).status.phase == CampaignPhase.PENDING
    assert m.decide_campaign(cview({1: done}, suspend=True, start_requested=True), NOW).actions == ()


def test_a_close_made_before_the_proposals_landed_is_refused():
    """A round closed while still tuning would complete the moment its batch appears, and the
    batch would never be assayed: the close counts only when made after the proposals landed."""
    st = LoopRoundStatus(phase=RoundPhase.ACQUIRING, inputs=INPUTS)
    jobs = {"tune": ok_job("tune"), "acquire": ok_job("acquire")}
    outputs = {"tune": TUNED, "acquire": PROPOSED}
    early = m.decide_round(view(st, inputs=INPUTS, jobs=jobs, outputs=outputs, close=True,
                                progress=RoundProgress(4, 0, 0)), TRIGGER, NOW)
    assert early.status.phase == RoundPhase.WAITING_FOR_ASSAYS and early.status.waiting_generation == 1
    assert [c.reason for c in early.status.conditions if c.type == "CloseRefused"] == ["ClosedBeforeProposals"]
    # looked at again with the same spec: still refused; a later change of the spec closes it
    again = m.decide_round(m.RoundView(name="c-r1", number=1, generation=1, status=early.status, job_names=NAMES,
                                       close=True, progress=RoundProgress(4, 0, 0)), TRIGGER, NOW)
    assert again.status.phase == RoundPhase.WAITING_FOR_ASSAYS
    later = m.decide_round(m.RoundView(name="c-r1", number=1, generation=3, status=early.status, job_names=NAMES,
                                       close=True, progress=RoundProgress(4, 0, 0)), TRIGGER, NOW)
    assert later.status.phase == RoundPhase.COMPLETED
    assert not [c for c in later.status.conditions if c.type == "CloseRefused"]
    assert {c.reason for c in later.status.conditions if c.type == "Completed"} == {"ClosedByLab"}


@pytest.mark.parametrize(("current", "phase", "plan"), [
    (0, None, m.NextRound(start=1)),
    (2, RoundPhase.WAITING_FOR_ASSAYS, m.NextRound(start=3, close=2)),
    (2, RoundPhase.COMPLETED, m.NextRound(start=3)),
    (2, RoundPhase.FAILED, m.NextRound(start=2, retry=True)),
])
def test_the_next_round_is_planned_from_where_the_campaign_stands(current, phase, plan):
    assert m.plan_next_round(current, phase, 4, "extend it") == plan


def test_the_next_round_is_refused_while_one_is_prepared_or_when_rounds_are_done():
    for phase in (RoundPhase.PENDING, RoundPhase.TUNING, RoundPhase.SCORING, RoundPhase.ACQUIRING):
        with pytest.raises(StateError, match=f"round 2 is being prepared \\({phase.value}\\)"):
            m.plan_next_round(2, phase, 4, "extend it")
        # where nobody prepares it (a workstation command ended), the round is finished instead
        assert m.plan_next_round(2, phase, 4, "", nobody_prepares=True) == m.NextRound(start=2, resume=True)
    with pytest.raises(StateError, match=r"done its 3 rounds .*; to go on, extend it"):
        m.plan_next_round(3, RoundPhase.WAITING_FOR_ASSAYS, 3, "extend it")


def test_only_a_round_waiting_for_results_can_be_closed_and_rounds_only_grow():
    m.check_close(2, RoundPhase.WAITING_FOR_ASSAYS)
    for phase in set(RoundPhase) - {RoundPhase.WAITING_FOR_ASSAYS}:
        with pytest.raises(StateError, match=f"round 2 is {phase.value}: only a round waiting for assay results"):
            m.check_close(2, phase)
    m.check_extend(5, 4)
    with pytest.raises(ConfigError, match="rounds: 3 is below the campaign's 4"):
        m.check_extend(3, 4)


def test_a_completed_round_starts_the_next_until_rounds_plus_one_are_done():
    done = LoopRoundStatus(phase=RoundPhase.COMPLETED)
    d = m.decide_campaign(cview({1: done}), NOW)
    assert d.actions == (m.CreateRound(2),) and d.status.current_round == 2
    d = m.decide_campaign(cview({1: done, 2: done, 3: done}), NOW)
    assert d.actions == () and d.status.phase == CampaignPhase.COMPLETED
    # extending the spec's rounds lets a completed campaign go on
    more = SPEC.model_copy(update={"rounds": 3})
    d = m.decide_campaign(cview({1: done, 2: done, 3: done}, status=d.status, spec=more), NOW)
    assert d.actions == (m.CreateRound(4),) and d.status.phase == CampaignPhase.RUNNING


def test_a_failed_round_fails_the_campaign_with_its_reason_and_an_invalid_spec_says_why():
    failed = LoopRoundStatus(phase=RoundPhase.FAILED, conditions=m.with_condition(
        [], "Failed", "True", "TuneJobFailed", "OOMKilled", 1, NOW))
    d = m.decide_campaign(cview({1: failed}), NOW)
    assert d.status.phase == CampaignPhase.FAILED
    assert "round 1: OOMKilled" in next(c.message for c in d.status.conditions if c.type == "RoundFailed")
    d = m.decide_campaign(cview(spec=None, spec_error="Campaign spec.parentSequence: residue 3 is 'B'"), NOW)
    assert d.status.phase == CampaignPhase.FAILED and d.actions == ()
    ready = next(c for c in d.status.conditions if c.type == "Ready")
    assert ready.status == "False" and "residue 3" in ready.message


def test_the_campaign_reports_the_data_summary_and_the_current_rounds_pending():
    r = LoopRoundStatus(phase=RoundPhase.WAITING_FOR_ASSAYS, pending=5)
    d = m.decide_campaign(cview({1: r}, data=m.DataSummary(12, 1, "V39F", 3.5)), NOW)
    s = d.status
    assert (s.phase, s.measured, s.failed, s.best_variant, s.best_value, s.proposals_pending) == (
        CampaignPhase.WAITING_FOR_ASSAYS, 12, 1, "V39F", 3.5, 5)
    assert s.phase_since == "2026-11-23T12:00:00Z"
    later = m.decide_campaign(cview({1: r}, status=s), NOW + timedelta(minutes=5)).status
    assert later.phase_since == s.phase_since


# -------------------------------------------------------------------------------------- assays

GOOD = m.AssayCheck(True, rows=8, failed=1, sha256="d" * 64)


def test_a_valid_assay_is_stored_and_accepted_an_invalid_one_rejected_naming_the_field():
    d = m.decide_assay(m.AssayView("p1", 1, AssayResultStatus(), check=GOOD), NOW)
    assert d.actions == (m.StoreAssay("p1"),)
    assert (d.status.phase, d.status.accepted, d.status.failed, d.status.sha256) == ("Accepted", 8, 1, "d" * 64)
    bad = m.AssayCheck(False, problems="spec.measurements[1].variant: V39Z: 'Z' is not one of the 20 amino acids")
    d = m.decide_assay(m.AssayView("p2", 1, AssayResultStatus(), check=bad), NOW)
    assert d.actions == () and d.status.phase == "Rejected" and "spec.measurements[1].variant" in d.status.message


def test_stored_but_unrecorded_assays_are_accepted_without_storing_again():
    d = m.decide_assay(m.AssayView("p1", 1, AssayResultStatus(), check=GOOD, stored_sha256="d" * 64), NOW)
    assert d.actions == () and d.status.phase == "Accepted" and d.status.accepted == 8


def test_an_edit_of_an_accepted_assay_is_refused_and_a_correction_supersedes_it():
    accepted = m.decide_assay(m.AssayView("p1", 1, AssayResultStatus(), check=GOOD), NOW).status
    edited = m.AssayCheck(True, rows=8, sha256="e" * 64)
    d = m.decide_assay(m.AssayView("p1", 2, accepted, check=edited, stored_sha256="d" * 64), NOW)
    assert d.actions == () and d.status.phase == "Accepted" and d.status.sha256 == "d" * 64
    assert "immutable" in d.status.message and "supersedes: [p1]" in d.status.message
    d = m.decide_assay(m.AssayView("p1", 2, d.status, stored_sha256="d" * 64, superseded_by="p1-fix"), NOW)
    assert d.status.phase == "Superseded" and d.status.superseded_by == "p1-fix"


# ------------------------------------------------------------------------------------ students

def sview(**kw) -> m.StudentView:
    spec = StudentModelSpec(campaign="c", round=2)
    return m.StudentView("small", 1, kw.pop("status", StudentModelStatus()), "small-distil", spec, **kw)


def test_a_student_waits_for_its_round_then_runs_and_reports():
    assert m.decide_student(sview(), NOW).status.phase == "Pending"
    d = m.decide_student(sview(round_ready=True), NOW)
    assert d.actions == (m.CreateDistilJob("small"),) and d.status.phase == "Running"
    metrics = {"members": [{"uri": "s3://b/students/small/member-1.onnx", "sha256": "f" * 64}], "parameters": 3000,
               "bytes": 20000, "latency_ms": 0.002, "spearman_teacher": 0.97, "spearman_measured": 0.5,
               "cost": {"wall_seconds": 9.0}}
    d = m.decide_student(sview(round_ready=True, job=m.JobView("small-distil", True), metrics=metrics), NOW)
    assert d.status.phase == "Succeeded" and d.status.parameters == 3000 and d.status.cost.wall_seconds == 9.0
    d = m.decide_student(sview(round_ready=True, job=m.JobView("small-distil", False), failure="OOMKilled"), NOW)
    assert d.status.phase == "Failed" and d.status.message == "OOMKilled"


@pytest.mark.parametrize(("status", "expected"), [
    (None, None),
    ({"active": 1}, None),
    ({"succeeded": 1}, True),
    ({"conditions": [{"type": "Complete", "status": "True"}]}, True),
    ({"failed": 3, "conditions": [{"type": "Failed", "status": "True"}]}, False),
    ({"failed": 1, "active": 1}, None),  # still retrying
])
def test_job_outcome(status, expected):
    assert m.job_outcome(status) is expected


def test_conditions_keep_transition_time_when_status_is_unchanged():
    a = m.with_condition([], "Ready", "True", "Ok", "", 1, NOW)
    b = m.with_condition(a, "Ready", "True", "StillOk", "", 2, NOW + timedelta(hours=1))
    assert b[0].last_transition_time == a[0].last_transition_time and b[0].reason == "StillOk"
    c = m.with_condition(b, "Failed", "True", "X", "m", 2, NOW)
    assert [x.type for x in c] == ["Failed", "Ready"]


SHARD_NAMES = {**NAMES, "score": "c-r1-score"}


def test_a_sharded_round_runs_the_score_indexed_job_between_tune_and_acquire():
    st = LoopRoundStatus(phase=RoundPhase.TUNING, inputs=INPUTS)
    tuned = m.StepOutput("file:///s/tune.json", {"tuned": False, "shards": 4})
    v = m.RoundView(name="c-r1", number=1, generation=1, status=st, job_names=SHARD_NAMES, inputs=INPUTS,
                    jobs={"tune": ok_job("tune")}, outputs={"tune": tuned})
    d = m.decide_round(v, TRIGGER, NOW)
    assert d.status.phase == RoundPhase.SCORING and d.status.shards == 4
    assert d.actions == (m.CreateStepJob(1, "score", 4),)
    scored = m.StepOutput("file:///s/shards/", {"shards": 4, "ranked": 1000, "cost": {"wall_seconds": 3.0}})
    v = m.RoundView(name="c-r1", number=1, generation=1, status=d.status, job_names=SHARD_NAMES, inputs=INPUTS,
                    jobs={"tune": ok_job("tune"), "score": m.JobView("c-r1-score", True)},
                    outputs={"score": scored})
    d = m.decide_round(v, TRIGGER, NOW)
    assert d.status.phase == RoundPhase.ACQUIRING and d.actions == (m.CreateStepJob(1, "acquire", 4),)
    assert d.status.score.state == "Succeeded" and d.status.score.cost.wall_seconds == 3.0
    assert next(c for c in d.status.conditions if c.type == "Scored").message == "1,000 candidates ranked in 4 shards"


def test_a_failed_shard_fails_the_round_with_its_reason_and_no_acquire_job():
    st = LoopRoundStatus(phase=RoundPhase.SCORING, inputs=INPUTS, shards=4)
    v = m.RoundView(name="c-r1", number=1, generation=1, status=st, job_names=SHARD_NAMES, inputs=INPUTS,
                    jobs={"tune": ok_job("tune"), "score": m.JobView("c-r1-score", False, 2)},
                    failures={"score": "shard 2: OOMKilled (exit 137): "})
    d = m.decide_round(v, TRIGGER, NOW)
    assert d.status.phase == RoundPhase.FAILED and d.actions == ()
    failed = next(c for c in d.status.conditions if c.type == "Failed")
    assert failed.reason == "ScoreJobFailed" and failed.message.startswith("shard 2: OOMKilled")
