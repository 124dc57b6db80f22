"""Labs that share an installation cannot reach each other: each namespace's step pods get store
credentials limited to its own prefix (the policy, enforced by a real S3 engine), Jobs name only
their own namespace's Secret, the operator runs only the images and placements the installation
allows, and a campaign that asks for more fails its round saying why."""

from __future__ import annotations

import socket
from datetime import datetime, timezone

import pytest

from activeloop.api.resources import CampaignResourceSpec
from activeloop.controller.builders import adopt, build_step_job
from activeloop.controller.config import OperatorConfig
from activeloop.controller.loop import CampaignLoop, StoreCache
from activeloop.controller.metrics import Metrics
from activeloop.controller.policy import JobPolicy, Placement, image_allowed, refusal
from activeloop.controller.tenancy import (
    STORE_SECRET,
    MinioCredentials,
    ProvidedCredentials,
    StoreCredentialsMissing,
    namespace_policy,
    store_credentials,
)
from activeloop.landscapes import GB1_PARENT
from activeloop.store import LocalStore
from activeloop.testing.fakes import FakeKube

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
SPEC = {"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]}, "initialBatchSize": 10,
        "acquisition": {"batchSize": 4}, "rounds": 1}


@pytest.fixture(scope="module")
def s3_with_iam():
    """moto's S3 and IAM on loopback, checking every request's credentials against its policies."""
    import moto.settings
    from moto.server import ThreadedMotoServer

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    before = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")  # set up as the store's admin would
    try:
        yield f"127.0.0.1:{port}"
    finally:
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = before
        server.stop()


def _lab_keys(url: str, bucket: str, namespace: str) -> tuple[str, str]:
    import json

    import boto3

    iam = boto3.client("iam", endpoint_url=f"http://{url}", region_name="us-east-1",
                       aws_access_key_id="admin", aws_secret_access_key="admin")
    iam.create_user(UserName=f"activeloop-{namespace}")
    iam.put_user_policy(UserName=f"activeloop-{namespace}", PolicyName="store",
                        PolicyDocument=json.dumps(namespace_policy(bucket, f"{namespace}/")))
    key = iam.create_access_key(UserName=f"activeloop-{namespace}")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_a_labs_credentials_reach_its_own_prefix_and_nothing_else(s3_with_iam):
    import boto3
    import moto.settings
    from minio.error import S3Error

    from activeloop.store.minio import MinioStore

    url = s3_with_iam
    boto3.client("s3", endpoint_url=f"http://{url}", region_name="us-east-1", aws_access_key_id="admin",
                 aws_secret_access_key="admin").create_bucket(Bucket="activeloop")
    keys_a = _lab_keys(url, "activeloop", "lab-a")
    keys_b = _lab_keys(url, "activeloop", "lab-b")
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is checked

    def store(keys, prefix):
        return MinioStore("activeloop", prefix, endpoint=url, access_key=keys[0], secret_key=keys[1],
                          secure=False, retries=1)

    a = store(keys_a, "lab-a/gb1")
    a.put_bytes("rounds/round-001/proposals.csv", b"variant\nV39A\n")
    assert a.get_bytes("rounds/round-001/proposals.csv") == b"variant\nV39A\n"
    assert a.list("rounds/") == ["rounds/round-001/proposals.csv"] and a.exists("rounds/round-001/proposals.csv")
    store(keys_b, "lab-b/tem1").put_bytes("campaign.yaml", b"secret: B's")
    # lab A's credentials: no reading or rewriting of lab B's artifacts
    a_in_b = store(keys_a, "lab-b/tem1")
    for attempt in (lambda: a_in_b.get_bytes("campaign.yaml"), lambda: a_in_b.exists("campaign.yaml"),
                    lambda: a_in_b.put_bytes("campaign.yaml", b"overwritten")):
        with pytest.raises(S3Error) as info:
            attempt()
        assert info.value.code == "AccessDenied"
    # nor of the bucket's root, or a prefix that merely starts like its own
    with pytest.raises(S3Error):
        store(keys_a, "lab-a-evil").put_bytes("x", b"x")
    assert store(keys_b, "lab-b/tem1").get_bytes("campaign.yaml") == b"secret: B's"
    # listing is limited by a condition on the prefix listed (MinIO and AWS enforce it; moto's
    # engine ignores condition keys, so it is checked here in the policy itself)
    (listing,) = [st for st in namespace_policy("activeloop", "lab-a/")["Statement"] if "s3:ListBucket" in st["Action"]]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["lab-a/*"]}}


class FakeAdmin:
    def __init__(self):
        self.calls = []

    def policy_add(self, policy_name, policy_file=None, policy=None):
        self.calls.append(("policy_add", policy_name, policy))

    def user_add(self, access_key, secret_key):
        self.calls.append(("user_add", access_key, secret_key))

    def attach_policy(self, policies, user=None, group=None):
        self.calls.append(("attach_policy", tuple(policies), user))


def test_the_operator_makes_each_namespace_a_user_limited_to_its_prefix_then_its_secret():
    kube, admin = FakeKube(), FakeAdmin()
    creds = MinioCredentials(kube, admin, "activeloop", lambda ns: f"runs/{ns}/")
    creds.ensure("lab-a")
    (policy, user, attach) = admin.calls
    assert policy[:2] == ("policy_add", "activeloop-lab-a")
    resources = {r for st in policy[2]["Statement"] for r in st["Resource"]}
    assert resources == {"arn:aws:s3:::activeloop", "arn:aws:s3:::activeloop/runs/lab-a/*"}
    assert user[:2] == ("user_add", "activeloop-lab-a") and len(user[2]) >= 30
    assert attach == ("attach_policy", ("activeloop-lab-a",), "activeloop-lab-a")
    secret = kube.secrets[("lab-a", STORE_SECRET)]["data"]
    assert secret == {"accessKey": "activeloop-lab-a", "secretKey": user[2]}
    assert kube.calls[-1] == ("put", "secrets", f"lab-a/{STORE_SECRET}")  # the Secret last
    creds.ensure("lab-a")  # known: nothing again
    assert len(admin.calls) == 3
    # a restarted operator keeps the key the namespace's pods already have
    again = MinioCredentials(kube, FakeAdmin(), "activeloop", lambda ns: f"{ns}/")
    again.ensure("lab-a")
    assert again.admin.calls[1] == ("user_add", "activeloop-lab-a", user[2])


def test_provided_credentials_are_checked_and_a_missing_secret_says_what_to_make():
    kube = FakeKube()
    with pytest.raises(StoreCredentialsMissing, match=f"namespace lab-b has no Secret {STORE_SECRET}"):
        ProvidedCredentials(kube).ensure("lab-b")
    kube.put_secret("lab-b", STORE_SECRET, {"accessKey": "a", "secretKey": "s"}, {})
    ProvidedCredentials(kube).ensure("lab-b")
    assert store_credentials(OperatorConfig(store_uri="file:///tmp/x"), kube) is None  # no S3: nothing to give


def test_a_job_names_only_its_own_namespaces_credentials():
    config = OperatorConfig(store_uri="s3://activeloop", s3_endpoint="minio:9000")
    spec = CampaignResourceSpec.model_validate(SPEC)
    job = build_step_job("gb1", spec, 1, "tune", config, "s3://activeloop/lab-a/gb1", namespace="lab-a")
    adopt(job, {"apiVersion": "activeloop.dev/v1alpha1", "kind": "LoopRound",
                "metadata": {"name": "gb1-r1", "uid": "u", "namespace": "lab-a"}})
    assert job["metadata"]["namespace"] == "lab-a"
    pod = job["spec"]["template"]["spec"]
    refs = [e["valueFrom"]["secretKeyRef"] for e in pod["containers"][0]["env"] if "valueFrom" in e]
    assert refs == [{"name": STORE_SECRET, "key": "accessKey"}, {"name": STORE_SECRET, "key": "secretKey"}]
    assert not any("value" in e and "secret" in e["name"].lower() for e in pod["containers"][0]["env"])
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}}]
    text = str(job)
    assert "lab-b" not in text and "minio-root" not in text


def test_images_and_placements_are_those_the_installation_allows():
    allowed = ["ghcr.io/activeloop/worker", "ghcr.io/activeloop/worker-cuda"]
    assert image_allowed("ghcr.io/activeloop/worker:0.1.0", allowed)
    assert image_allowed("ghcr.io/activeloop/worker-cuda@sha256:" + "a" * 64, allowed)
    assert not image_allowed("ghcr.io/activeloop/worker-evil:1", allowed)
    assert not image_allowed("docker.io/attacker/miner:latest", allowed)
    gpu = {"nodeSelector": {"accelerator": "a100"}, "tolerations": [{"key": "gpu", "operator": "Exists",
                                                                      "effect": "NoSchedule"}]}
    policy = JobPolicy(allowed, {"lab-a": Placement({"pool": "lab-a"}, (), (gpu,)),
                                 "*": Placement({"pool": "shared"})})

    def jobs(**kw):
        return CampaignResourceSpec.model_validate({**SPEC, "jobs": kw}).jobs

    assert refusal(jobs(), "lab-a", policy, "ghcr.io/activeloop/worker:0.1.0") is None
    assert "not an image this installation runs" in refusal(jobs(image="attacker/miner"), "lab-a", policy,
                                                            "ghcr.io/activeloop/worker:0.1.0")
    assert refusal(jobs(nodeSelector={"accelerator": "a100"}, tolerations=gpu["tolerations"]), "lab-a", policy,
                   "ghcr.io/activeloop/worker:0.1.0") is None
    control_plane = jobs(nodeSelector={"node-role.kubernetes.io/control-plane": ""},
                         tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}])
    assert "not a placement namespace lab-a offers" in refusal(control_plane, "lab-a", policy,
                                                               "ghcr.io/activeloop/worker:0.1.0")
    assert refusal(jobs(nodeSelector={"accelerator": "a100"}), "lab-b", policy, "x/worker:1") is not None
    # a Job gets its namespace's placement, and the Campaign's choice on top of it
    config = OperatorConfig(job_policy=policy, worker_image="ghcr.io/activeloop/worker:0.1.0")
    spec = CampaignResourceSpec.model_validate({**SPEC, "jobs": {"nodeSelector": {"accelerator": "a100"},
                                                                 "tolerations": gpu["tolerations"]}})
    pod = build_step_job("c", spec, 1, "tune", config, "s3://x", namespace="lab-a")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"accelerator": "a100", "pool": "lab-a"} and pod["tolerations"] == gpu["tolerations"]
    plain = CampaignResourceSpec.model_validate(SPEC)
    pod = build_step_job("c", plain, 1, "tune", config, "s3://x", namespace="lab-z")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "shared"} and "tolerations" not in pod


class OneStore(StoreCache):
    def __init__(self, store):
        self.store = store

    def get(self, namespace, campaign):
        return self.store


def test_a_campaign_asking_for_an_image_off_the_list_fails_its_round_and_runs_nothing(tmp_path):
    kube = FakeKube()
    config = OperatorConfig(store_uri=(tmp_path / "s").as_uri(), job_policy=JobPolicy(["ghcr.io/activeloop/worker"]))
    loop = CampaignLoop(kube, config, Metrics(), OneStore(LocalStore(tmp_path / "s")))
    kube.create_if_absent("campaigns", "lab", {"apiVersion": "activeloop.dev/v1alpha1", "kind": "Campaign",
                                               "metadata": {"name": "c", "namespace": "lab"},
                                               "spec": {**SPEC, "jobs": {"image": "docker.io/attacker/miner"}}})
    loop.run(kube.observe("lab", "c"), NOW)
    loop.run(kube.observe("lab", "c"), NOW)
    st = kube.objects[("looprounds", "c-r1")]["status"]
    assert st["phase"] == "Failed" and kube.jobs == {}
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "JobRefused" and "docker.io/attacker/miner" in failed["message"]
    camp = kube.objects[("campaigns", "c")]["status"]
    assert camp["phase"] == "Failed" and any("not an image this installation runs" in c["message"]
                                             for c in camp["conditions"])


def test_a_namespace_without_store_credentials_fails_its_round_saying_so(tmp_path):
    kube = FakeKube()
    config = OperatorConfig(store_uri="s3://activeloop", store_tenancy="provided")
    loop = CampaignLoop(kube, config, Metrics(), OneStore(LocalStore(tmp_path / "s")),
                        credentials=ProvidedCredentials(kube))
    kube.create_if_absent("campaigns", "lab", {"apiVersion": "activeloop.dev/v1alpha1", "kind": "Campaign",
                                               "metadata": {"name": "c", "namespace": "lab"}, "spec": SPEC})
    loop.run(kube.observe("lab", "c"), NOW)
    loop.run(kube.observe("lab", "c"), NOW)
    st = kube.objects[("looprounds", "c-r1")]["status"]
    assert st["phase"] == "Failed" and kube.jobs == {}
    assert "has no Secret activeloop-store" in next(c for c in st["conditions"] if c["type"] == "Failed")["message"]
