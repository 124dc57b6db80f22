"""kopf handlers: thin. Each decides nothing itself; it calls :mod:`reconcile` and writes status.

Run with ``kopf run -m activeloop.controller.handlers`` (the operator image does), or in-process
with :func:`activeloop.controller.run`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import kopf

from activeloop.api.resources import GROUP, VERSION
from activeloop.controller import builders, kube, reconcile
from activeloop.controller.config import OperatorConfig

CONFIG = OperatorConfig.from_env()
_MANAGED = {"app.kubernetes.io/managed-by": builders.MANAGED_BY}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Progress in annotations (statuses stay ours), events for handler logs, no peering, no
    scanning."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.peering.standalone = True
    # the CRDs are installed before the operator (Helm), and namespaces are named, not globbed:
    # no need to scan the cluster for resources or namespaces
    settings.scanning.disabled = True
    settings.execution.max_workers = 4
    settings.watching.server_timeout = 300


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: the ServiceAccount. Elsewhere: the kubeconfig named by ``KUBECONFIG`` (read now,
    not at import), then whatever the kubernetes client library can do (exec plugins ...)."""
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    return info or kopf.login_via_client(**kwargs)


def _status(plural: str, namespace: str, name: str, patch: dict[str, Any] | None) -> None:
    if patch:
        kube.patch_status(plural, namespace, name, patch)


def _reconcile(
    plural: str,
    fn: Callable[[str, str, dict[str, Any], OperatorConfig], dict[str, Any] | None],
    name: str,
    namespace: str,
    body: kopf.Body,
    refused: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """Run a reconciler and write its status patch. A spec that can never be accepted becomes a
    ``PermanentError`` (after ``refused`` wrote why into the status); a missing Campaign is retried."""
    try:
        patch = fn(name, namespace, dict(body), CONFIG)
    except ValueError as exc:  # InvalidResource, or a library that cannot be built
        if refused:
            _status(plural, namespace, name, refused(dict(body), str(exc)))
        raise kopf.PermanentError(str(exc)) from None
    except reconcile.CampaignMissing as exc:
        raise kopf.TemporaryError(str(exc), delay=10) from None
    _status(plural, namespace, name, patch)
    return patch


# ---------------------------------------------------------------------------------- Campaign


@kopf.on.resume(GROUP, VERSION, "campaigns")
@kopf.on.create(GROUP, VERSION, "campaigns")
@kopf.on.update(GROUP, VERSION, "campaigns", field="spec")
def campaign_spec(name: str, namespace: str, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """Accept the spec (store it, start round 1) or refuse it with a status naming the field."""
    patch = _reconcile("campaigns", reconcile.reconcile_campaign, name, namespace, body,
                       reconcile.campaign_failed_patch)
    kopf.info(body, reason="Accepted", message=f"artifacts in {patch['storeUri']}")


@kopf.timer(GROUP, VERSION, "campaigns", interval=CONFIG.timer_interval, idle=0)
def campaign_tick(name: str, namespace: str, body: kopf.Body, **_: Any) -> None:
    """Merge new assays, update the summary, and start the next round when it is due."""
    patch = reconcile.tick_campaign(name, namespace, dict(body), CONFIG)
    before = dict(body.get("status") or {})
    if patch and any(before.get(k) != v for k, v in patch.items()):
        _status("campaigns", namespace, name, patch)
        if patch.get("currentRound", 0) > before.get("currentRound", 0):
            kopf.info(body, reason="RoundStarted", message=f"round {patch['currentRound']} started")


# --------------------------------------------------------------------------------- LoopRound


@kopf.on.resume(GROUP, VERSION, "looprounds")
@kopf.on.create(GROUP, VERSION, "looprounds")
def round_start(name: str, namespace: str, body: kopf.Body, **_: Any) -> None:
    """Create the Job of the round's current step (if absent) and record it."""
    _reconcile("looprounds", reconcile.reconcile_round, name, namespace, body)


@kopf.on.event("batch", "v1", "jobs", labels=_MANAGED)
def job_changed(body: kopf.Body, **_: Any) -> None:
    """A step Job changed: when it has finished, advance (or fail) its round."""
    result = reconcile.on_job_event(dict(body), CONFIG)
    if result is None:
        return
    rname, patch = result
    namespace = body["metadata"]["namespace"]
    step = body["metadata"]["labels"][builders.LABEL_STEP]
    if step == "distil":
        _status("studentmodels", namespace, rname, patch)
        return
    _status("looprounds", namespace, rname, patch)
    rnd = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "LoopRound",
           "metadata": {"name": rname, "namespace": namespace}}
    if patch["phase"] == "Failed":
        kopf.warn(rnd, reason="StepFailed", message=patch[step].get("message") or f"{step} failed")
    else:
        kopf.info(rnd, reason="StepSucceeded", message=f"{step} done; phase {patch['phase']}")


# ------------------------------------------------------------------------------- AssayResult


@kopf.on.resume(GROUP, VERSION, "assayresults")
@kopf.on.create(GROUP, VERSION, "assayresults")
@kopf.on.update(GROUP, VERSION, "assayresults", field="spec")
def assay(name: str, namespace: str, body: kopf.Body, **_: Any) -> None:
    """Validate measurements against the campaign and store them, or refuse naming the field."""
    try:
        patch = _reconcile("assayresults", reconcile.reconcile_assay, name, namespace, body,
                           reconcile.assay_rejected_patch)
    except kopf.PermanentError as exc:
        kopf.warn(body, reason="Rejected", message=str(exc)[:1000])
        raise
    kopf.info(body, reason="Accepted", message=patch["message"])


# ------------------------------------------------------------------------------- StudentModel


@kopf.on.resume(GROUP, VERSION, "studentmodels")
@kopf.on.create(GROUP, VERSION, "studentmodels")
def student(name: str, namespace: str, body: kopf.Body, **_: Any) -> None:
    """Start the distil Job of a StudentModel (if absent)."""
    _reconcile("studentmodels", reconcile.reconcile_student, name, namespace, body,
               lambda _body, message: {"phase": "Failed", "message": message})
