"""Pure builders of the objects the operator creates: plain dicts, no API calls.

Names are deterministic (campaign, round, step), so creating an object twice is a conflict the
handlers treat as "already done": a restart or a retry never duplicates a Job or a round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from activeloop.api.names import GPU_STEPS, STEP_NAMES, Step
from activeloop.api.naming import LABEL_OWNER, distil_job_name, job_name, labels, round_name
from activeloop.api.resources import API_VERSION, CampaignResourceSpec, StudentModelSpec
from activeloop.controller.config import OperatorConfig
from activeloop.controller.policy import placement_for
from activeloop.controller.tenancy import STORE_SECRET

TMP_SIZE = "20Gi"
"""The most a step pod may write to ``/tmp`` (model files, a language model's download cache)."""


def build_loopround(campaign: str, round_number: int) -> dict[str, Any]:
    """A LoopRound for round ``round_number`` of ``campaign``."""
    return {
        "apiVersion": API_VERSION,
        "kind": "LoopRound",
        "metadata": {"name": round_name(campaign, round_number), "labels": labels(campaign, round_number)},
        "spec": {"campaign": campaign, "round": round_number},
    }


def adopt(child: dict[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    """Make ``owner`` the controller of ``child`` (same namespace; deleted with it)."""
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
    return child


def _env(config: OperatorConfig, store_uri: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "ACTIVELOOP_STORE_URI", "value": store_uri},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "HF_HOME", "value": "/tmp/hf"},
    ]
    if config.s3_endpoint:
        env.append({"name": "MINIO_ENDPOINT", "value": config.s3_endpoint})
        env.append({"name": "MINIO_SECURE", "value": "true" if config.s3_secure else "false"})
    if config.uses_s3:  # the namespace's own credentials (a pod can name no Secret of another namespace)
        for var, key in (("MINIO_ACCESS_KEY", "accessKey"), ("MINIO_SECRET_KEY", "secretKey")):
            env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": STORE_SECRET, "key": key}}})
    return env


def build_step_job(
    campaign: str,
    spec: CampaignResourceSpec,
    round_number: int,
    step: str,
    config: OperatorConfig,
    store_uri: str,
    shards: int = 1,
    namespace: str = "",
    attempt: int = 0,
) -> dict[str, Any]:
    """The ``batch/v1`` Job that runs ``python -m activeloop.steps STEP`` for one round (its
    ``attempt``: a round started again runs new Jobs).

    The pod runs as non-root with a read-only root filesystem (``/tmp`` is a size-limited
    emptyDir), gets its namespace's own store credentials (``controller.tenancy``), runs on the
    nodes the installation gives ``namespace`` (``controller.policy``; check
    :func:`~activeloop.controller.policy.refusal` first), and asks for GPUs only for tune and distil.
    Failures are retried ``spec.jobs.backoffLimit`` times by the Job controller; the container's
    last log lines become its termination message, which the operator copies into the status.

    The score step of a sharded round is an Indexed Job: ``shards`` completions, at most
    ``acquisition.parallelism`` at once, each pod scoring the shard ``JOB_COMPLETION_INDEX``. A
    shard is retried ``backoffLimit`` times on its own (``backoffLimitPerIndex``), and the Job fails
    as soon as one shard has failed for good (``maxFailedIndexes: 0``).
    """
    if step not in STEP_NAMES:
        raise ValueError(f"unknown step {step!r}")
    step = Step(step).value
    jobs = spec.jobs
    resources: dict[str, dict[str, Any]] = {
        "requests": {"cpu": jobs.cpu, "memory": jobs.memory},
        "limits": {"memory": jobs.memory},
    }
    if jobs.gpu and step in GPU_STEPS:
        resources["limits"][config.gpu_resource] = jobs.gpu
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": step,
                "image": jobs.image or config.worker_image,
                "args": ["python", "-m", "activeloop.steps", step, "--store", store_uri,
                         "--round", str(round_number)],
                "env": _env(config, store_uri),
                "resources": resources,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}}],
    }
    node_selector, tolerations = placement_for(jobs, namespace, config.job_policy)
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if config.job_service_account:
        pod_spec["serviceAccountName"] = config.job_service_account
    if config.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in config.image_pull_secrets]
    lbl = labels(campaign, round_number, step)
    job_spec: dict[str, Any] = {
        "backoffLimit": jobs.backoff_limit,
        "activeDeadlineSeconds": jobs.active_deadline_seconds,
        "ttlSecondsAfterFinished": 7 * 24 * 3600,
        "template": {"metadata": {"labels": lbl}, "spec": pod_spec},
    }
    if step == Step.SCORE:
        del job_spec["backoffLimit"]
        job_spec.update(completionMode="Indexed", completions=shards,
                        parallelism=min(spec.acquisition.parallelism, shards),
                        backoffLimitPerIndex=jobs.backoff_limit, maxFailedIndexes=0)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(campaign, round_number, step, attempt), "labels": lbl},
        "spec": job_spec,
    }


def build_distil_job(
    student: str,
    spec: StudentModelSpec,
    campaign_spec: CampaignResourceSpec,
    config: OperatorConfig,
    store_uri: str,
    namespace: str = "",
) -> dict[str, Any]:
    """The Job of a StudentModel: the distil step of the teacher's round, named after the student."""
    job = build_step_job(spec.campaign, campaign_spec, spec.round, Step.DISTIL, config, store_uri,
                         namespace=namespace)
    job["metadata"]["name"] = distil_job_name(student)
    job["metadata"]["labels"][LABEL_OWNER] = student
    job["spec"]["template"]["metadata"]["labels"][LABEL_OWNER] = student
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    args += ["--student", student, "--architecture", spec.architecture,
             "--channels", str(spec.channels), "--ensemble", str(spec.ensemble)]
    if not spec.match_variance:
        args.append("--mean-only")
    return job
