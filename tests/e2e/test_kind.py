"""End-to-end on a real cluster (kind, via pytest-kind): real API server, real Job controller.

Needs a Docker engine (kind runs the cluster in containers, and the worker image is built and
loaded into it). Run with ``pytest -m e2e tests/e2e``. Without a Docker engine every test here is
skipped, naming what is missing.

The operator runs in this process against the kind cluster (as in development); step Jobs run in
the cluster from the worker image; artifacts go to a MinIO deployed into the cluster, reached from
here through a port-forward and from the Jobs through its Service.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NS = "default"
WORKER_IMAGE = "activeloop/worker:e2e"
MINIO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: minio}
spec:
  selector: {matchLabels: {app: minio}}
  template:
    metadata: {labels: {app: minio}}
    spec:
      containers:
      - name: minio
        image: quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z
        args: [server, /data]
        env:
        - {name: MINIO_ROOT_USER, value: e2e-access}
        - {name: MINIO_ROOT_PASSWORD, value: e2e-secret-key}
        ports: [{containerPort: 9000}]
        readinessProbe: {httpGet: {path: /minio/health/ready, port: 9000}}
---
apiVersion: v1
kind: Service
metadata: {name: minio}
spec:
  selector: {app: minio}
  ports: [{port: 9000, targetPort: 9000}]
---
apiVersion: v1
kind: Secret
metadata: {name: minio-credentials}
stringData: {accessKey: e2e-access, secretKey: e2e-secret-key}
"""


def docker_engine_missing() -> str | None:
    """Why e2e tests cannot run here, or ``None`` when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "no docker client on this machine"
    try:
        subprocess.run(["docker", "info"], check=True, capture_output=True, timeout=20)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return "no Docker engine: `docker info` fails (kind needs one to run a cluster)"
    return None


@pytest.fixture(scope="module")
def cluster(request):
    reason = docker_engine_missing()
    if reason:
        pytest.skip(reason)
    kind = request.getfixturevalue("kind_cluster")  # pytest-kind: downloads kind/kubectl, creates
    subprocess.run(
        ["docker", "build", "-f", "images/worker/Dockerfile", "-t", WORKER_IMAGE, "."],
        cwd=ROOT, check=True,
    )
    kind.load_docker_image(WORKER_IMAGE)
    kind.kubectl("apply", "-f", str(ROOT / "crds"))
    kind.kubectl("apply", "-f", "-", input=MINIO)
    kind.kubectl("rollout", "status", "deployment/minio", "--timeout=300s")
    return kind


@pytest.fixture(scope="module")
def operator(cluster, tmp_path_factory):
    from activeloop.controller import run_in_thread

    mp = pytest.MonkeyPatch()
    with cluster.port_forward("service/minio", 9000) as port:
        mp.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
        mp.setenv("ACTIVELOOP_STORE_URI", "s3://activeloop")
        mp.setenv("MINIO_ENDPOINT", f"127.0.0.1:{port}")
        mp.setenv("ACTIVELOOP_JOB_MINIO_ENDPOINT", "minio.default:9000")
        mp.setenv("MINIO_ACCESS_KEY", "e2e-access")
        mp.setenv("MINIO_SECRET_KEY", "e2e-secret-key")
        mp.setenv("ACTIVELOOP_S3_SECRET", "minio-credentials")
        mp.setenv("ACTIVELOOP_WORKER_IMAGE", WORKER_IMAGE)
        mp.setenv("ACTIVELOOP_TIMER_INTERVAL", "2")
        thread, stop = run_in_thread([NS])
        yield cluster
        stop.set()
        thread.join(60)
    mp.undo()


def _get(cluster, kind: str, name: str, path: str) -> str:
    try:
        return cluster.kubectl("get", kind, name, "-o", f"jsonpath={{{path}}}")
    except subprocess.CalledProcessError:
        return ""


def _wait(what: str, check, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


CAMPAIGN = """
apiVersion: activeloop.dev/v1alpha1
kind: Campaign
metadata: {name: e2e}
spec:
  parentSequence: MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE
  library: {sites: [39, 40]}
  acquisition: {strategy: thompson, batchSize: 4}
  initialBatchSize: 8
  rounds: 2
  trigger: {debounceSeconds: 0}
  jobs: {cpu: "500m", memory: 1Gi}
"""


def test_campaign_runs_two_rounds_on_a_real_cluster(operator):
    cluster = operator
    cluster.kubectl("apply", "-f", "-", input=CAMPAIGN)
    _wait("round 1 proposals", lambda: _get(cluster, "looprounds", "e2e-r1", ".status.phase") == "WaitingForAssays")
    proposals = _get(cluster, "looprounds", "e2e-r1", ".status.proposals[*]").split()
    assert len(proposals) == 8
    rows = "\n".join(f"  - {{variant: '{v}', value: {i * 0.1}}}" for i, v in enumerate(proposals))
    cluster.kubectl("apply", "-f", "-", input=(
        "apiVersion: activeloop.dev/v1alpha1\nkind: AssayResult\nmetadata: {name: e2e-plate1}\n"
        f"spec:\n  campaign: e2e\n  round: 1\n  measurements:\n{rows}\n"))
    _wait("round 2 proposals", lambda: _get(cluster, "looprounds", "e2e-r2", ".status.phase") == "WaitingForAssays")
    jobs = cluster.kubectl("get", "jobs", "-o", "name").split()
    assert sorted(jobs) == [f"job.batch/e2e-r{r}-{s}" for r in (1, 2) for s in ("acquire", "tune")]
    # the API server itself refuses an edit of recorded measurements (CEL rule of the CRD)
    with pytest.raises(subprocess.CalledProcessError):
        cluster.kubectl("patch", "assayresult", "e2e-plate1", "--type=merge",
                        "-p", '{"spec": {"measurements": [{"variant": "V39A", "value": 9}]}}')
