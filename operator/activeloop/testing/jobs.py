"""A stand-in for the Job controller: runs step Jobs in-process and writes their status.

A real cluster runs each step Job's container (``python -m activeloop.steps ...``); in tests
:class:`InProcessJobRunner` finds new Jobs, calls the same step function with the same arguments,
and patches the Job's status to Complete or Failed, as the Job controller would. An Indexed Job
(the score step's shards) runs once per index with ``JOB_COMPLETION_INDEX`` set, as its pods do.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import kubernetes

from activeloop.controller.kube import COMPLETION_INDEX
from activeloop.steps.__main__ import main as step_main

INDEX_ENV = "JOB_COMPLETION_INDEX"
"""What Kubernetes sets in each pod of an Indexed Job (read by ``steps.score``)."""


class InProcessJobRunner:
    """Polls Jobs in ``namespace`` and runs each new one once.

    Args:
        api: a ``kubernetes`` ApiClient for the cluster.
        namespace: where to look for Jobs.
        fail: optional predicate on a Job name; matching Jobs fail instead of running.
        interval: seconds between polls.
        before: optional callback run with a Job's name just before the Job runs (tests use it to
            make something happen "while the cluster schedules the pod").
        fail_index: optional predicate on a Job name and an index of an Indexed Job: matching
            indexes fail (after their retries) with a pod saying so.
    """

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        namespace: str,
        fail: Callable[[str], bool] | None = None,
        interval: float = 0.1,
        before: Callable[[str], None] | None = None,
        fail_index: Callable[[str, int], bool] | None = None,
    ) -> None:
        self.batch = kubernetes.client.BatchV1Api(api)
        self.namespace = namespace
        self.fail = fail or (lambda name: False)
        self.before = before
        self.fail_index = fail_index or (lambda name, index: False)
        self.interval = interval
        self.ran: list[str] = []
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)

    def __enter__(self) -> InProcessJobRunner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.paused.is_set():
                for job in self.batch.list_namespaced_job(self.namespace).items:
                    st = job.status
                    if st and (st.succeeded or st.failed):
                        continue
                    self._run(job)
            time.sleep(self.interval)

    def _run(self, job: kubernetes.client.V1Job) -> None:
        name = job.metadata.name
        args = job.spec.template.spec.containers[0].args
        assert args[:3] == ["python", "-m", "activeloop.steps"], args
        if self.before is not None:
            self.before(name)
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if job.spec.completion_mode == "Indexed":
            self._run_indexed(job, args, started)
            return
        if self.fail(name):
            code = 1
            self._failed_pod(name, "RuntimeError: CUDA out of memory (simulated)")
        else:
            try:
                code = step_main(args[3:])
            except Exception as exc:  # a real pod would exit non-zero with the traceback in its log
                code = 1
                self._failed_pod(name, f"{type(exc).__name__}: {exc}")
        self.ran.append(name)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if code == 0:
            status = {"succeeded": 1, "startTime": started, "completionTime": now, "conditions": [
                {"type": "Complete", "status": "True", "lastTransitionTime": now}]}
        else:
            status = {"failed": 1, "startTime": started, "conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "lastTransitionTime": now}]}
        self.batch.patch_namespaced_job_status(name, self.namespace, {"status": status})

    def _run_indexed(self, job: kubernetes.client.V1Job, args: list[str], started: str) -> None:
        """Every index of an Indexed Job; the Job fails when one fails (``maxFailedIndexes: 0``)."""
        name = job.metadata.name
        done: list[str] = []
        failed: list[str] = []
        for index in range(job.spec.completions or 1):
            os.environ[INDEX_ENV] = str(index)
            try:
                if self.fail_index(name, index):
                    code = 1
                    self._failed_pod(name, "RuntimeError: shard ran out of memory (simulated)", index)
                else:
                    code = step_main(args[3:])
            except Exception as exc:
                code = 1
                self._failed_pod(name, f"{type(exc).__name__}: {exc}", index)
            finally:
                del os.environ[INDEX_ENV]
            (done if code == 0 else failed).append(str(index))
            if failed:
                break
        self.ran.append(name)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status: dict = {"succeeded": len(done), "failed": len(failed), "startTime": started,
                        "completedIndexes": ",".join(done)}
        if failed:
            status.update(failedIndexes=",".join(failed), conditions=[
                {"type": "Failed", "status": "True", "reason": "MaxFailedIndexesExceeded", "lastTransitionTime": now}])
        else:
            status.update(completionTime=now, conditions=[
                {"type": "Complete", "status": "True", "lastTransitionTime": now}])
        self.batch.patch_namespaced_job_status(name, self.namespace, {"status": status})

    def _failed_pod(self, job: str, message: str, index: int | None = None) -> None:
        """A failed pod of ``job`` whose container's termination message is ``message``."""
        core = kubernetes.client.CoreV1Api(self.batch.api_client)
        annotations = {} if index is None else {COMPLETION_INDEX: str(index)}
        core.create_namespaced_pod(self.namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{job}-pod" if index is None else f"{job}-{index}-pod",
                         "labels": {"job-name": job}, "annotations": annotations},
            "spec": {"containers": [{"name": "step", "image": "worker"}], "restartPolicy": "Never"},
            "status": {"phase": "Failed", "containerStatuses": [{
                "name": "step", "image": "worker", "imageID": "", "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": message}},
            }]},
        })
