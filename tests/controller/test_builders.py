"""Pure builders, the round state machine and conditions: no cluster needed."""

import pytest

from activeloop.api.naming import dns_name, job_name
from activeloop.api.resources import CampaignResourceSpec, StudentModelSpec
from activeloop.controller.builders import adopt, build_distil_job, build_loopround, build_step_job
from activeloop.controller.config import OperatorConfig
from activeloop.landscapes import GB1_PARENT

SPEC = CampaignResourceSpec.model_validate({
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40]},
    "jobs": {"gpu": 1, "nodeSelector": {"accelerator": "a100"},
             "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
             "backoffLimit": 3},
})
CONFIG = OperatorConfig(worker_image="worker:1", store_uri="s3://activeloop", s3_endpoint="minio:9000",
                        job_service_account="activeloop-steps")


def test_names_are_deterministic_and_fit_kubernetes_limits():
    assert job_name("gb1", 2, "tune") == "gb1-r2-tune"
    long = job_name("a" * 80, 12, "acquire")
    assert len(long) == 63 and long == job_name("a" * 80, 12, "acquire")
    assert long != job_name("a" * 81, 12, "acquire")
    assert dns_name("GB1", "R1") == "gb1-r1"


def test_step_job_runs_the_step_with_store_credentials_and_hardened_pod():
    job = build_step_job("gb1", SPEC, 2, "tune", CONFIG, "s3://activeloop/lab/gb1")
    assert job["metadata"]["name"] == "gb1-r2-tune"
    assert job["metadata"]["labels"]["activeloop.dev/step"] == "tune"
    assert job["spec"]["backoffLimit"] == 3
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"] == ["python", "-m", "activeloop.steps", "tune", "--store", "s3://activeloop/lab/gb1", "--round", "2"]
    assert c["image"] == "worker:1"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = {e["name"]: e for e in c["env"]}
    assert env["MINIO_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "activeloop-store", "key": "accessKey"}
    assert env["MINIO_ENDPOINT"]["value"] == "minio:9000"
    assert c["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["nodeSelector"] == {"accelerator": "a100"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "activeloop-steps"
    # acquire needs no GPU even when the campaign asks for one for tuning
    acq = build_step_job("gb1", SPEC, 2, "acquire", CONFIG, "s3://x")
    assert "nvidia.com/gpu" not in acq["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    with pytest.raises(ValueError, match="unknown step"):
        build_step_job("gb1", SPEC, 2, "train", CONFIG, "s3://x")


def test_score_job_is_an_indexed_job_with_one_completion_per_shard_retried_per_shard():
    job = build_step_job("gb1", SPEC, 3, "score", CONFIG, "s3://x", shards=8)
    assert job["metadata"]["name"] == "gb1-r3-score"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == 8
    assert spec["parallelism"] == SPEC.acquisition.parallelism == 2
    assert spec["backoffLimitPerIndex"] == 3 and spec["maxFailedIndexes"] == 0 and "backoffLimit" not in spec
    c = spec["template"]["spec"]["containers"][0]
    assert c["args"][3] == "score" and "--shard" not in c["args"]  # the pod reads JOB_COMPLETION_INDEX
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert build_step_job("gb1", SPEC, 3, "score", CONFIG, "s3://x", shards=1)["spec"]["parallelism"] == 1


def test_distil_job_is_named_after_the_student_and_carries_its_options():
    spec = StudentModelSpec(campaign="gb1", round=3, channels=16, ensemble=4)
    job = build_distil_job("gb1-small", spec, SPEC, CONFIG, "s3://x")
    assert job["metadata"]["name"] == "gb1-small-distil"
    assert job["metadata"]["labels"]["activeloop.dev/owner"] == "gb1-small"
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[3] == "distil" and args[-6:] == ["--architecture", "cnn", "--channels", "16", "--ensemble", "4"]


def test_loopround_builder_and_adoption():
    r = build_loopround("gb1", 4)
    assert r["metadata"]["name"] == "gb1-r4" and r["spec"] == {"campaign": "gb1", "round": 4}
    owner = {"apiVersion": "activeloop.dev/v1alpha1", "kind": "Campaign",
             "metadata": {"name": "gb1", "namespace": "lab", "uid": "u-1"}}
    adopt(r, owner)
    assert r["metadata"]["namespace"] == "lab"
    assert r["metadata"]["ownerReferences"] == [{"apiVersion": "activeloop.dev/v1alpha1", "kind": "Campaign",
                                                 "name": "gb1", "uid": "u-1", "controller": True,
                                                 "blockOwnerDeletion": True}]


def test_the_namespaces_placement_applies_to_every_pod_and_a_campaigns_choice_adds_to_it():
    cfg = OperatorConfig.from_env({"ACTIVELOOP_JOB_NODE_SELECTOR": '{"pool": "cpu"}',
                                   "ACTIVELOOP_JOB_TOLERATIONS": '[{"key": "batch", "operator": "Exists"}]'})
    plain = CampaignResourceSpec.model_validate({"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]}})
    pod = build_step_job("c", plain, 1, "acquire", cfg, "s3://x")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "cpu"} and pod["tolerations"] == [{"key": "batch", "operator": "Exists"}]
    pod = build_step_job("c", SPEC, 1, "acquire", cfg, "s3://x")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"accelerator": "a100", "pool": "cpu"}
    assert pod["tolerations"] == [{"key": "batch", "operator": "Exists"},
                                  {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
