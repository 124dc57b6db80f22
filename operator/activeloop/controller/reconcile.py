"""What the handlers decide, one function per resource event; every function is idempotent.

Handlers (``handlers.py``) are thin: they call these with the object and the operator config.
Kubernetes calls go through :mod:`activeloop.controller.kube`, artifacts through the store.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

import pandas as pd
from pydantic import ValidationError

from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import (
    AssayResultSpec,
    CampaignPhase,
    CampaignResourceSpec,
    LoopRoundSpec,
    RoundPhase,
    StudentModelSpec,
)
from activeloop.controller import builders, kube
from activeloop.controller.config import OperatorConfig
from activeloop.controller.state import PHASE_OF_STEP, after_step, job_outcome, now, set_condition
from activeloop.errors import format_validation_error
from activeloop.ml.sequences import VariantLibrary
from activeloop.steps.data import (
    SPEC_KEY,
    aggregate,
    assay_csv,
    assay_manifest,
    build_library,
    check_measurements,
    dump_spec,
    put_assay,
    read_measurements,
    read_proposals,
    rebuild_measurements,
    round_prefix,
)
from activeloop.store import ArtifactStore, sha256_bytes, store_from_uri

log = logging.getLogger(__name__)


class InvalidResource(ValueError):
    """A resource whose spec can never be accepted as it is (the handler raises PermanentError)."""


class CampaignMissing(LookupError):
    """The Campaign a resource names does not exist (yet): retry later (GitOps may sync it next)."""


def parse(model: type, spec: dict[str, Any], kind: str) -> Any:
    """Validate ``spec`` with a pydantic model; errors name the field as ``spec.<path>``."""
    try:
        return model.model_validate(spec)
    except ValidationError as exc:
        raise InvalidResource(f"{kind} {format_validation_error(exc, 'spec')}") from None


@lru_cache(maxsize=16)
def _library(spec_json: str) -> VariantLibrary:
    return build_library(CampaignSpec.model_validate_json(spec_json))


def campaign_store(config: OperatorConfig, namespace: str, name: str) -> ArtifactStore:
    """The artifact store of one campaign."""
    return store_from_uri(config.campaign_store(namespace, name))


# ----------------------------------------------------------------------------------- campaigns


def reconcile_campaign(
    name: str, namespace: str, body: dict[str, Any], config: OperatorConfig
) -> dict[str, Any]:
    """Store the campaign's spec and make sure round 1 exists; returns the status patch."""
    generation = body.get("metadata", {}).get("generation", 0)
    status = body.get("status") or {}
    spec = parse(CampaignResourceSpec, body.get("spec") or {}, "Campaign")
    core = spec.core()
    _library(core.model_dump_json())  # a bad library fails here, before any Job
    store = campaign_store(config, namespace, name)
    text = dump_spec(core)
    if not store.exists(SPEC_KEY) or store.get_bytes(SPEC_KEY) != text:
        store.put_bytes(SPEC_KEY, text)
    patch: dict[str, Any] = {
        "storeUri": config.campaign_store(namespace, name),
        "observedGeneration": generation,
        "conditions": set_condition(status.get("conditions"), "Ready", "True", "SpecAccepted", "", generation),
    }
    if not status.get("currentRound") and not spec.suspend:
        body_round = builders.build_loopround(name, 1)
        _adopt(body_round, body)
        kube.create_custom_if_absent("looprounds", namespace, body_round)
        patch.update(phase=CampaignPhase.RUNNING.value, currentRound=1)
    elif not status.get("phase") or status.get("phase") == CampaignPhase.FAILED.value:
        # suspended before its first round (it still ingests assays), or a fixed spec
        patch["phase"] = CampaignPhase.PENDING.value if not status.get("currentRound") else CampaignPhase.RUNNING.value
    return patch


def _adopt(child: dict[str, Any], owner: dict[str, Any]) -> None:
    meta = owner["metadata"]
    child["metadata"]["namespace"] = meta.get("namespace")
    child["metadata"]["ownerReferences"] = [
        {
            "apiVersion": owner.get("apiVersion"),
            "kind": owner.get("kind"),
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def campaign_failed_patch(body: dict[str, Any], message: str) -> dict[str, Any]:
    """Status of a campaign whose spec was refused."""
    generation = body.get("metadata", {}).get("generation", 0)
    conditions = (body.get("status") or {}).get("conditions")
    return {
        "phase": CampaignPhase.FAILED.value,
        "observedGeneration": generation,
        "conditions": set_condition(conditions, "Ready", "False", "InvalidSpec", message, generation),
    }


def tick_campaign(
    name: str, namespace: str, body: dict[str, Any], config: OperatorConfig
) -> dict[str, Any] | None:
    """Periodic check: merge new assays, summarise, and start the next round when it is due.

    Debounced: the next round starts only when the last round's proposals are measured to
    ``trigger.minFractionMeasured`` and no AssayResult arrived for ``trigger.debounceSeconds``.
    """
    status = body.get("status") or {}
    if status.get("phase") in (CampaignPhase.FAILED.value, None):
        return None
    try:
        spec = CampaignResourceSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None
    store = campaign_store(config, namespace, name)
    rebuild_measurements(store)  # corrections keep arriving after the last round
    data = aggregate(read_measurements(store))
    measured = set(data["variant"])
    current = int(status.get("currentRound") or 0)
    patch: dict[str, Any] = {"measured": len(data)}
    if len(data):
        best = data.loc[data["value"].idxmax() if spec.objective.direction == "maximize" else data["value"].idxmin()]
        patch.update(bestValue=float(best["value"]), bestVariant=str(best["variant"]))
    props = read_proposals(store, current) if current else None
    pending = 0 if props is None else sum(v not in measured for v in props["variant"])
    patch["proposalsPending"] = pending
    rnd = kube.get_custom("looprounds", namespace, builders.round_name(name, current)) if current else None
    if rnd is None or props is None:
        return patch
    done = len(props) - pending
    if (rnd.get("status") or {}).get("measured") != done:
        kube.patch_status("looprounds", namespace, rnd["metadata"]["name"], {"measured": done})
    if (rnd.get("status") or {}).get("phase") != RoundPhase.WAITING_FOR_ASSAYS.value:
        return patch
    if status.get("phase") == CampaignPhase.COMPLETED.value:
        return patch
    patch["phase"] = CampaignPhase.WAITING_FOR_ASSAYS.value
    enough = done >= spec.trigger.min_fraction_measured * len(props)
    last = max((m["accepted_at"] for m in assay_manifest(store)), default="")
    quiet = _seconds_since(last) >= spec.trigger.debounce_seconds
    if not (enough and quiet) or spec.suspend:
        return patch
    kube.patch_status(
        "looprounds", namespace, rnd["metadata"]["name"],
        {"phase": RoundPhase.COMPLETED.value,
         "conditions": set_condition((rnd.get("status") or {}).get("conditions"), "Completed", "True",
                                     "AssaysRecorded", f"{done} of {len(props)} proposals measured")},
    )
    if current >= spec.rounds:
        patch["phase"] = CampaignPhase.COMPLETED.value
        return patch
    nxt = builders.build_loopround(name, current + 1)
    _adopt(nxt, body)
    kube.create_custom_if_absent("looprounds", namespace, nxt)
    patch.update(phase=CampaignPhase.RUNNING.value, currentRound=current + 1)
    return patch


def _seconds_since(timestamp: str) -> float:
    if not timestamp:
        return float("inf")
    from datetime import datetime, timezone

    then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - then).total_seconds()


# -------------------------------------------------------------------------------------- rounds


def _campaign_spec(namespace: str, campaign: str) -> tuple[dict[str, Any], CampaignResourceSpec]:
    obj = kube.get_custom("campaigns", namespace, campaign)
    if obj is None:
        raise CampaignMissing(f"Campaign {campaign} does not exist (yet)")
    return obj, parse(CampaignResourceSpec, obj.get("spec") or {}, "Campaign")


def reconcile_round(
    name: str, namespace: str, body: dict[str, Any], config: OperatorConfig
) -> dict[str, Any] | None:
    """Make sure the Job of the round's current step exists; returns a status patch."""
    spec = parse(LoopRoundSpec, body.get("spec") or {}, "LoopRound")
    status = body.get("status") or {}
    phase = status.get("phase") or RoundPhase.PENDING.value
    if phase in (RoundPhase.WAITING_FOR_ASSAYS.value, RoundPhase.COMPLETED.value, RoundPhase.FAILED.value):
        return None
    step = "tune" if phase == RoundPhase.PENDING.value else {"Tuning": "tune", "Acquiring": "acquire"}[phase]
    campaign, cspec = _campaign_spec(namespace, spec.campaign)
    _ensure_job(campaign, cspec, spec.round, step, config, body)
    generation = body.get("metadata", {}).get("generation", 0)
    return {
        "phase": PHASE_OF_STEP[step].value,
        step: {"job": builders.job_name(spec.campaign, spec.round, step), "state": "Running"},
        "observedGeneration": generation,
    }


def _ensure_job(
    campaign: dict[str, Any], cspec: CampaignResourceSpec, round_number: int, step: str,
    config: OperatorConfig, owner: dict[str, Any],
) -> bool:
    name = campaign["metadata"]["name"]
    namespace = campaign["metadata"]["namespace"]
    job = builders.build_step_job(
        name, cspec, round_number, step, config, config.campaign_store(namespace, name)
    )
    _adopt(job, owner)
    created = kube.create_job_if_absent(namespace, job)
    if created:
        log.info("created Job %s", job["metadata"]["name"])
    return created


def on_job_event(job: dict[str, Any], config: OperatorConfig) -> tuple[str, dict[str, Any]] | None:
    """A step Job changed: advance its round if the Job finished. Returns (round name, patch)."""
    meta = job.get("metadata") or {}
    lbl = meta.get("labels") or {}
    if lbl.get("app.kubernetes.io/managed-by") != builders.MANAGED_BY or builders.LABEL_OWNER in lbl:
        return on_student_job(job, config) if builders.LABEL_OWNER in lbl else None
    outcome = job_outcome(job.get("status"))
    if outcome is None:
        return None
    step = lbl[builders.LABEL_STEP]
    campaign_name = lbl[builders.LABEL_CAMPAIGN]
    round_number = int(lbl[builders.LABEL_ROUND])
    namespace = meta["namespace"]
    rname = builders.round_name(campaign_name, round_number)
    rnd = kube.get_custom("looprounds", namespace, rname)
    if rnd is None:
        return None
    status = rnd.get("status") or {}
    if status.get("phase") != PHASE_OF_STEP[step].value:
        return None  # already handled (a replayed event, or the operator restarted)
    message = "" if outcome else kube.job_failure_message(namespace, meta["name"])
    tr = after_step(step, outcome, message)
    generation = rnd.get("metadata", {}).get("generation", 0)
    store = campaign_store(config, namespace, campaign_name)
    record_key = f"{round_prefix(round_number)}/{step}.json"
    patch: dict[str, Any] = {
        "phase": tr.phase.value,
        step: {
            "job": meta["name"],
            "state": "Succeeded" if outcome else "Failed",
            "attempts": int((job.get("status") or {}).get("failed") or 0) + (1 if outcome else 0),
            "recordUri": store.uri(record_key) if outcome else None,
            "message": message or None,
        },
        "conditions": set_condition(status.get("conditions"), *tr.condition, generation),
    }
    if outcome and step == "tune" and store.exists(record_key):
        rec = json.loads(store.get_bytes(record_key))
        patch["measurementsSha256"] = rec.get("measurements_sha256")
        patch["modelSha256"] = (rec.get("model_sha256") or {}).get("adapter_model.safetensors")
    if outcome and step == "acquire" and store.exists(record_key):
        rec = json.loads(store.get_bytes(record_key))
        props = read_proposals(store, round_number)
        patch.update(
            proposals=list(props["variant"]) if props is not None else [],
            proposalsUri=rec.get("proposals_uri"),
            proposalsSha256=rec.get("proposals_sha256"),
            measurementsSha256=rec.get("measurements_sha256"),
        )
    if tr.next_step:
        campaign, cspec = _campaign_spec(namespace, campaign_name)
        _ensure_job(campaign, cspec, round_number, tr.next_step, config, rnd)
        patch[tr.next_step] = {"job": builders.job_name(campaign_name, round_number, tr.next_step), "state": "Running"}
    return rname, patch


# ------------------------------------------------------------------------------------- assays


def reconcile_assay(
    name: str, namespace: str, body: dict[str, Any], config: OperatorConfig
) -> dict[str, Any]:
    """Validate an AssayResult against its campaign and store it; returns the status patch.

    An accepted AssayResult is immutable: an edit of its measurements is refused (the stored,
    accepted copy stays as it was). Corrections are new objects with ``spec.supersedes``.
    """
    status = body.get("status") or {}
    generation = body.get("metadata", {}).get("generation", 0)
    spec = parse(AssayResultSpec, body.get("spec") or {}, "AssayResult")
    _, cspec = _campaign_spec(namespace, spec.campaign)
    core = cspec.core()
    library = _library(core.model_dump_json())
    names, values, errors = check_measurements(
        [m.variant for m in spec.measurements], [m.value for m in spec.measurements], core, library
    )
    if errors:
        shown = "; ".join(f"spec.measurements[{i}].{msg}" for i, msg in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        raise InvalidResource(f"AssayResult {name}: {len(errors)} invalid measurement(s): {shown}{more}")
    rows = pd.DataFrame({"variant": names, "value": values})
    how = spec.replicates
    rows = rows.groupby("variant", sort=True)["value"].agg(how).reset_index()
    rows["round"] = spec.round or 0
    store = campaign_store(config, namespace, spec.campaign)
    if status.get("phase") == "Accepted" and status.get("sha256"):
        stored = f"assays/{name}.csv"
        if store.exists(stored) and store.content_hash(stored) != sha256_bytes(assay_csv(rows, name)):
            raise InvalidResource(
                f"AssayResult {name} was accepted and its measurements are immutable; "
                "create a new AssayResult with spec.supersedes: [" + name + "]"
            )
    sha = put_assay(store, name, rows, spec.supersedes, now())
    return {
        "phase": "Accepted",
        "accepted": int(len(rows)),
        "sha256": sha,
        "message": f"{len(spec.measurements)} measurement(s) of {len(rows)} variant(s) accepted",
        "observedGeneration": generation,
        "conditions": set_condition(status.get("conditions"), "Accepted", "True", "Validated", "", generation),
    }


def assay_rejected_patch(body: dict[str, Any], message: str) -> dict[str, Any]:
    """Status of a refused AssayResult (an accepted one keeps phase Accepted)."""
    status = body.get("status") or {}
    generation = body.get("metadata", {}).get("generation", 0)
    accepted = status.get("phase") == "Accepted"
    return {
        "phase": "Accepted" if accepted else "Rejected",
        "message": message,
        "observedGeneration": generation,
        "conditions": set_condition(
            status.get("conditions"), "Accepted", "True" if accepted else "False",
            "EditRefused" if accepted else "Invalid", message, generation,
        ),
    }


# ----------------------------------------------------------------------------------- students


def reconcile_student(
    name: str, namespace: str, body: dict[str, Any], config: OperatorConfig
) -> dict[str, Any] | None:
    """Make sure the distil Job of a StudentModel exists; returns the status patch."""
    spec = parse(StudentModelSpec, body.get("spec") or {}, "StudentModel")
    status = body.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    _, cspec = _campaign_spec(namespace, spec.campaign)
    job = builders.build_distil_job(
        name, spec, cspec, config, config.campaign_store(namespace, spec.campaign)
    )
    _adopt(job, body)
    kube.create_job_if_absent(namespace, job)
    return {"phase": "Running", "job": job["metadata"]["name"],
            "observedGeneration": body.get("metadata", {}).get("generation", 0)}


def on_student_job(job: dict[str, Any], config: OperatorConfig) -> tuple[str, dict[str, Any]] | None:
    """A distil Job finished: copy the student's figures into its StudentModel's status."""
    meta = job.get("metadata") or {}
    student = (meta.get("labels") or {}).get(builders.LABEL_OWNER)
    outcome = job_outcome(job.get("status"))
    if student is None or outcome is None:
        return None
    namespace = meta["namespace"]
    obj = kube.get_custom("studentmodels", namespace, student)
    if obj is None or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return None
    generation = obj.get("metadata", {}).get("generation", 0)
    conditions = (obj.get("status") or {}).get("conditions")
    if not outcome:
        message = kube.job_failure_message(namespace, meta["name"]) or "the distil Job failed"
        return student, {"phase": "Failed", "message": message,
                         "conditions": set_condition(conditions, "Ready", "False", "DistilJobFailed", message, generation)}
    spec = StudentModelSpec.model_validate(obj["spec"])
    store = campaign_store(config, namespace, spec.campaign)
    m = json.loads(store.get_bytes(f"students/{student}/metrics.json"))
    first = m["members"][0]
    return student, {
        "phase": "Succeeded",
        "artifactUri": first["uri"] if len(m["members"]) == 1 else first["uri"].rsplit("/", 1)[0],
        "sha256": first["sha256"],
        "parameters": m["parameters"],
        "bytes": m["bytes"],
        "latencyMs": m["latency_ms"],
        "spearmanTeacher": m["spearman_teacher"],
        "spearmanMeasured": m["spearman_measured"],
        "spearmanStdTeacher": m.get("spearman_std_teacher"),
        "message": f"{len(m['members'])} student(s) distilled from round {spec.round}",
        "conditions": set_condition(conditions, "Ready", "True", "Distilled", "", generation),
    }


__all__ = [
    "CampaignMissing",
    "on_student_job",
    "reconcile_student",
    "InvalidResource",
    "assay_rejected_patch",
    "campaign_failed_patch",
    "on_job_event",
    "reconcile_assay",
    "reconcile_campaign",
    "reconcile_round",
    "tick_campaign",
]
