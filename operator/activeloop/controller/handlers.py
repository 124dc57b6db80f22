"""kopf glue: indexes, wake-ups, and one reconcile loop per Campaign. No decisions here.

* **Indexes** (``@kopf.index``) hold every LoopRound, AssayResult, StudentModel and step Job by
  ``(namespace, campaign)``, so a pass never lists objects from the API server.
* **Wake-ups**: a watch event on any of them (or on the Campaign) wakes its campaign's loop
  (``@kopf.on.event`` handlers only set a flag: kopf never retries them, so they do nothing that
  must happen).
* **The loop** (``@kopf.daemon`` on Campaigns): observe the indexes, run one pass
  (:class:`~activeloop.controller.loop.CampaignLoop`: decide with ``machine``, act, write
  statuses), post the Events, sleep until woken, the requeue time, or the resync interval. A pass
  that fails is retried with backoff; every pass starts from what is observed, so a retry, a
  restart or a kill never duplicates a Job or loses a result.

Run with ``kopf run -m activeloop.controller.handlers`` (the operator image does), or in-process
with :func:`activeloop.controller.run_in_thread`. The configuration is read from the environment
at startup, not at import.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Hashable, Mapping
from typing import Any

import kopf

from activeloop.api import naming
from activeloop.api.resources import API_VERSION, GROUP, VERSION
from activeloop.controller.config import OperatorConfig
from activeloop.controller.kube import Kube
from activeloop.controller.loop import CampaignLoop, Observed
from activeloop.controller.metrics import Metrics
from activeloop.controller.tenancy import store_credentials
from activeloop.lifecycle import notify

MANAGED = {naming.LABEL_MANAGED_BY: naming.MANAGED_BY}
log = logging.getLogger(__name__)


class Wakeups:
    """One asyncio flag per campaign: set by events, awaited by the campaign's loop."""

    def __init__(self) -> None:
        self._flags: dict[Hashable, asyncio.Event] = {}

    def flag(self, key: Hashable) -> asyncio.Event:
        """The flag of ``key`` (made on first use)."""
        if key not in self._flags:
            self._flags[key] = asyncio.Event()
        return self._flags[key]

    def wake(self, key: Hashable) -> None:
        """Wake the loop of ``key``."""
        self.flag(key).set()

    def forget(self, key: Hashable) -> None:
        """Drop the flag of a deleted campaign."""
        self._flags.pop(key, None)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Settings, and the operator's state in ``memo``: config, API client, loop, metrics endpoint."""
    settings.posting.level = logging.INFO
    settings.peering.standalone = True
    # the CRDs are installed before the operator (Helm), and namespaces are named, not globbed
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    memo.config = OperatorConfig.from_env()
    settings.networking.request_timeout = memo.config.api_timeout
    memo.kube = await asyncio.to_thread(Kube, None, memo.config.api_timeout)
    memo.metrics = Metrics()
    memo.loop = CampaignLoop(memo.kube, memo.config, memo.metrics,
                             credentials=store_credentials(memo.config, memo.kube),
                             notifier=notify.Notifier(notify.from_env()))
    memo.wakeups = Wakeups()
    memo.metrics_server = None
    if memo.config.metrics_port >= 0:
        from prometheus_client import start_http_server

        server, _thread = start_http_server(memo.config.metrics_port, registry=memo.metrics.registry)
        memo.metrics_server = server
        memo.metrics_port = server.server_port
        logger.info(f"metrics on :{server.server_port}/metrics")


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop serving metrics."""
    server = getattr(memo, "metrics_server", None)
    if server is not None:
        server.shutdown()
        server.server_close()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: the ServiceAccount. Elsewhere: the kubeconfig named by ``KUBECONFIG``."""
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    return info or kopf.login_via_client(**kwargs)


# ------------------------------------------------------------------------------------ indexes


Key = tuple[str, str]
"""``(namespace, campaign)``: how indexes and wake-ups name a campaign."""


def _key(namespace: str | None, campaign: object) -> Key:
    return (namespace or "", str(campaign or ""))


def _entry(name: str, namespace: str | None, meta: Mapping[str, Any], spec: Mapping[str, Any],
           status: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "uid": meta.get("uid"),
            "generation": meta.get("generation"), "spec": copy.deepcopy(dict(spec)),
            "status": copy.deepcopy(dict(status))}


@kopf.index(GROUP, VERSION, "looprounds")
def rounds_by_campaign(name: str, namespace: str | None, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
                       **_: Any) -> dict[Key, dict[str, Any]]:
    """LoopRounds by ``(namespace, campaign)``."""
    return {_key(namespace, spec.get("campaign")): _entry(name, namespace, meta, spec, status)}


@kopf.index(GROUP, VERSION, "assayresults")
def assays_by_campaign(name: str, namespace: str | None, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
                       **_: Any) -> dict[Key, dict[str, Any]]:
    """AssayResults by ``(namespace, campaign)``, with who recorded each and where its file is."""
    notes = meta.get("annotations") or {}
    kept = {k: str(notes[k]) for k in (naming.ANNOTATION_RECORDED_BY, naming.ANNOTATION_ORIGINAL) if k in notes}
    return {_key(namespace, spec.get("campaign")): {**_entry(name, namespace, meta, spec, status), "annotations": kept}}


@kopf.index(GROUP, VERSION, "studentmodels")
def students_by_campaign(name: str, namespace: str | None, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
                         **_: Any) -> dict[Key, dict[str, Any]]:
    """StudentModels by ``(namespace, campaign)``."""
    return {_key(namespace, spec.get("campaign")): _entry(name, namespace, meta, spec, status)}


@kopf.index("batch", "v1", "jobs", labels=MANAGED)
def jobs_by_campaign(name: str, namespace: str | None, labels: kopf.Labels, status: kopf.Status,
                     **_: Any) -> dict[Key, dict[str, Any]]:
    """Step Jobs by ``(namespace, campaign)``: name, labels and status only."""
    return {_key(namespace, labels.get(naming.LABEL_CAMPAIGN)): {
        "name": name, "namespace": namespace, "labels": dict(labels), "status": copy.deepcopy(dict(status))}}


# ----------------------------------------------------------------------------------- wake-ups


@kopf.on.event(GROUP, VERSION, "looprounds")
@kopf.on.event(GROUP, VERSION, "assayresults")
@kopf.on.event(GROUP, VERSION, "studentmodels")
async def wake_campaign_of(namespace: str | None, spec: kopf.Spec, memo: kopf.Memo, **_: Any) -> None:
    """Something of a campaign changed: wake its loop."""
    memo.wakeups.wake(_key(namespace, spec.get("campaign")))


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)
async def wake_campaign_of_job(namespace: str | None, labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> None:
    """A step Job changed: wake its campaign's loop."""
    memo.wakeups.wake(_key(namespace, labels.get(naming.LABEL_CAMPAIGN)))


@kopf.on.event(GROUP, VERSION, "campaigns")
async def wake_campaign(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    """The Campaign itself changed (its spec, or its status as written): wake its loop."""
    memo.wakeups.wake(_key(namespace, name))


# ---------------------------------------------------------------------------------- the loop


async def _sleep(flag: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Until ``flag`` is set, the daemon is stopped, or ``seconds`` have passed."""
    waiters = [asyncio.ensure_future(flag.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


# kopf passes its indexes as keyword arguments named after them; its DaemonFn protocol only has them
# in **kwargs, hence the ignore
@kopf.daemon(GROUP, VERSION, "campaigns", cancellation_timeout=30)  # type: ignore[arg-type]
async def campaign_loop(
    name: str, namespace: str | None, body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped,
    logger: kopf.Logger, rounds_by_campaign: kopf.Index, assays_by_campaign: kopf.Index,
    students_by_campaign: kopf.Index, jobs_by_campaign: kopf.Index, **_: Any,
) -> None:
    """The campaign's reconcile loop (see the module docstring)."""
    key = _key(namespace, name)
    flag = memo.wakeups.flag(key)
    backoff = 1.0
    while not stopped:
        flag.clear()
        # copies, taken here in the event loop's thread: kopf keeps updating the indexes
        obs = Observed(
            key[0], name, copy.deepcopy(dict(body)),
            [copy.deepcopy(r) for r in rounds_by_campaign.get(key, [])],
            [copy.deepcopy(a) for a in assays_by_campaign.get(key, [])],
            [copy.deepcopy(s) for s in students_by_campaign.get(key, [])],
            [copy.deepcopy(j) for j in jobs_by_campaign.get(key, [])],
        )
        started = asyncio.get_running_loop().time()
        try:
            result = await asyncio.to_thread(memo.loop.run, obs)
        except Exception as exc:  # retried: the next pass starts again from what it observes
            memo.metrics.reconciles.labels(outcome="error").inc()
            logger.warning(f"pass failed, again in {backoff:.0f}s: {type(exc).__name__}: {exc}")
            await _sleep(flag, stopped, backoff)
            backoff = min(backoff * 2, 60.0)
            continue
        memo.metrics.reconciles.labels(outcome="ok").inc()
        log.debug("pass over %s/%s: %.3f s, %d writes", namespace, name,
                  asyncio.get_running_loop().time() - started, result.writes)
        backoff = 1.0
        for ref, event in result.events:
            obj = kopf.Body({"apiVersion": API_VERSION, "kind": ref.kind,
                             "metadata": {"name": ref.name, "namespace": key[0], "uid": ref.uid}})
            kopf.event(obj, type=event.type, reason=event.reason, message=event.message[:1000])
        delay = memo.config.timer_interval if result.requeue_after is None else result.requeue_after
        if delay > 0:
            await _sleep(flag, stopped, delay)
    memo.loop.forget(*key)
    memo.wakeups.forget(key)
    memo.metrics.rounds.forget(*key)


__all__ = ["Wakeups", "campaign_loop"]
