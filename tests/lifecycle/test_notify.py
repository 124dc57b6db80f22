"""Notifications, received by real local receivers (an HTTP server for the webhook, an SMTP
server for e-mail): a round's proposals, a failed round, a plate whose controls drift; at most one
message per event, whatever repeats (a second pass, a second service, a restart)."""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from activeloop.api.campaign import NotifySpec
from activeloop.api.resources import LoopRoundStatus
from activeloop.lifecycle import notify
from activeloop.store import LocalStore
from activeloop.testing.receivers import webhook
from activeloop.testing.web import SPEC, make_campaign, plate_csv


@pytest.fixture
def hook():
    """A webhook receiver on 127.0.0.1: every JSON body it gets."""
    with webhook() as receiver:
        yield receiver


@pytest.fixture
def smtp():
    """An SMTP receiver on 127.0.0.1 (aiosmtpd): every message it gets."""
    from aiosmtpd.controller import Controller

    got: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            got.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield SimpleNamespace(port=port, got=got)
    controller.stop()


def settings(smtp=None, hosts=None) -> notify.Settings:
    return notify.Settings(smtp_host="127.0.0.1" if smtp else None, smtp_port=smtp.port if smtp else 25,
                           smtp_starttls=False, webhook_hosts=hosts, page_url="http://lab.example")


def wait_for(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
    return check()


def test_a_workstation_tells_the_lab_once_when_proposals_are_ready(tmp_path, hook, smtp):
    from activeloop.service.rundir import RunDirService, local_user

    spec = {**SPEC, "notify": {"webhook": hook.url, "email": ["lab@example.org"]}}
    make_campaign(tmp_path, "gb1", spec)
    service = RunDirService(tmp_path / "runs", notifier=notify.Notifier(settings(smtp)))
    user = local_user()
    service.next_round(user, "gb1", wait=True)
    assert wait_for(lambda: len(hook.got) == 1 and len(smtp.got) == 1)
    (message,) = hook.got
    assert message["event"] == "proposalsReady" and message["id"] == "round-001-proposals"
    assert message["text"].startswith("gb1: round 1's 12 proposals are ready to assay")
    assert message["url"] == "http://lab.example/campaigns/gb1"
    mail = smtp.got[0]
    assert mail.rcpt_tos == ["lab@example.org"] and b"round 1's 12 proposals" in mail.content
    # the same state seen again, by this service or another (a second process): nothing more
    again = RunDirService(tmp_path / "runs", notifier=notify.Notifier(settings(smtp)))
    run = again.run("gb1")
    state = run.state()
    again._notify(run, state.spec, notify.round_events("gb1", {n: d.status for n, d in state.rounds.items()}))
    time.sleep(0.3)
    assert len(hook.got) == 1 and len(smtp.got) == 1
    # a plate recorded and the next round: one message for round 2's proposals
    variants = [p.variant for p in service.round(user, "gb1", 1).proposals]
    from activeloop.service.plates import RecordOptions
    from activeloop.steps.tables import read_table_bytes

    service.record(user, "gb1", read_table_bytes(plate_csv(variants).encode(), "p.csv"), RecordOptions())
    service.next_round(user, "gb1", wait=True)
    assert wait_for(lambda: [m["id"] for m in hook.got] == ["round-001-proposals", "round-002-proposals"])


def test_a_drifting_plate_is_reported_and_a_failed_send_is_not_repeated(tmp_path, hook):
    from activeloop.service.plates import RecordOptions
    from activeloop.service.rundir import RunDirService, local_user
    from activeloop.steps.tables import read_table_bytes

    spec = {**SPEC, "plates": {"controls": [{"kind": "parent", "wells": ["H12"]}], "controlTolerance": 0.1},
            "notify": {"webhook": hook.url, "events": ["controlsDrift"]}}
    make_campaign(tmp_path, "gb1", spec)
    service = RunDirService(tmp_path / "runs", notifier=notify.Notifier(settings()))
    user = local_user()
    service.next_round(user, "gb1", wait=True)
    assert hook.got == []  # proposalsReady is not among the events this campaign wants
    variants = [p.variant for p in service.round(user, "gb1", 1).proposals]

    def plate(parents: tuple[float, ...], part: list[str]) -> bytes:
        rows = plate_csv(part).splitlines()
        rows[0] += ",control"
        rows = [rows[0]] + [r + "," for r in rows[1:]] + [f"WT,{v},parent" for v in parents]
        return ("\n".join(rows) + "\n").encode()

    service.record(user, "gb1", read_table_bytes(plate((1.0, 1.02), variants[:4]), "a.csv"), RecordOptions())
    assert hook.got == []
    out = service.record(user, "gb1", read_table_bytes(plate((0.5, 1.5), variants[4:8]), "b.csv"), RecordOptions())
    assert out.drift and wait_for(lambda: len(hook.got) == 1)
    assert hook.got[0]["event"] == "controlsDrift" and hook.got[0]["plate"] == "b"
    assert hook.got[0]["url"] == "http://lab.example/campaigns/gb1/plates/b"
    # a host this installation does not post to: the failure is recorded, and never retried
    store = LocalStore(tmp_path / "runs" / "gb1")
    blocked = notify.Notifier(settings(hosts=("hooks.slack.com",)))
    event = notify.Event("roundFailed", "round-001-failed-0", "gb1", "gb1: round 1 failed")
    spec_notify = NotifySpec(webhook=hook.url)
    assert blocked.deliver(store, spec_notify, [event]) == []
    record = json.loads(store.get_bytes("notifications/round-001-failed-0.json"))
    assert "not one this installation posts to" in record["errors"][0]
    assert notify.Notifier(settings()).deliver(store, spec_notify, [event]) == []  # at most once
    assert len(hook.got) == 1


def test_the_operator_sends_each_event_once_over_passes_and_restarts(tmp_path, hook):
    from activeloop.controller.config import OperatorConfig
    from activeloop.controller.loop import CampaignLoop, StoreCache
    from activeloop.controller.metrics import Metrics
    from activeloop.landscapes import GB1_PARENT
    from activeloop.steps import get_step
    from activeloop.testing.fakes import FakeKube

    class OneStore(StoreCache):
        def __init__(self, store):
            self.store = store

        def get(self, namespace, campaign):
            return self.store

    kube = FakeKube()
    store = LocalStore(tmp_path / "store")
    config = OperatorConfig(store_uri=(tmp_path / "store").as_uri())
    kube.create_if_absent("campaigns", "lab", {"apiVersion": "activeloop.dev/v1alpha1", "kind": "Campaign",
                                               "metadata": {"name": "c", "namespace": "lab"}, "spec": {
        "parentSequence": GB1_PARENT, "library": {"sites": [39, 40]}, "initialBatchSize": 10,
        "acquisition": {"batchSize": 4}, "rounds": 1, "trigger": {"debounceSeconds": 0},
        "notify": {"webhook": hook.url}}})
    now = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)

    def loop():
        return CampaignLoop(kube, config, Metrics(), OneStore(store), notifier=notify.Notifier(settings()))

    first = loop()
    for _ in range(6):  # passes: the round starts, its Jobs run in-process, its proposals land
        first.run(kube.observe("lab", "c"), now)
        for name, job in list(kube.jobs.items()):
            if not (job.get("status") or {}).get("succeeded"):
                step, n = name.rsplit("-", 1)[1], int(name.split("-r")[1].split("-")[0])
                get_step(step)(store, n)
                kube.finish_job(name)
    assert wait_for(lambda: len(hook.got) == 1) and hook.got[0]["id"] == "round-001-proposals"
    for _ in range(3):
        first.run(kube.observe("lab", "c"), now)
    loop().run(kube.observe("lab", "c"), now)  # a restarted operator: its memory is empty
    time.sleep(0.3)
    assert len(hook.got) == 1


def test_round_events_name_each_attempt_of_a_failed_round():
    failed = LoopRoundStatus.lenient({"phase": "Failed", "retries": 1, "conditions": [
        {"type": "Failed", "status": "True", "message": "tune: OOMKilled"}]})
    (event,) = notify.round_events("c", {2: failed})
    assert (event.kind, event.id) == ("roundFailed", "round-002-failed-1") and "OOMKilled" in event.text
    assert notify.from_env({"ACTIVELOOP_WEBHOOK_HOSTS": "hooks.slack.com, chat.lab.org"}).webhook_hosts == (
        "hooks.slack.com", "chat.lab.org")
    assert notify.from_env({}).webhook_hosts is None
