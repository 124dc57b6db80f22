"""Shared fakes for tests and benchmarks: a Kubernetes API in a dict, for the campaign loop."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from typing_extensions import override

from activeloop.controller.kube import Kube
from activeloop.controller.loop import Observed


class FakeKube(Kube):
    """What :class:`~activeloop.controller.kube.Kube` does, on in-memory objects.

    ``objects[(plural, name)]`` holds custom objects, ``jobs[name]`` Jobs; every call is logged in
    ``calls`` so tests can assert what the loop did (and did not do).
    """

    def __init__(self) -> None:  # no API client: nothing leaves the process
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.failures: dict[str, str] = {}
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}

    @override
    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("get", plural, name))
        obj = self.objects.get((plural, name))
        return copy.deepcopy(obj) if obj is not None else None

    @override
    def create_if_absent(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        name = body["metadata"]["name"]
        self.calls.append(("create", plural, name))
        if (plural, name) in self.objects:
            return None
        obj = copy.deepcopy(body)
        obj["metadata"].setdefault("uid", f"uid-{plural}-{name}")
        obj["metadata"].setdefault("generation", 1)
        self.objects[(plural, name)] = obj
        return copy.deepcopy(obj)

    @override
    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.calls.append(("patch_status", plural, name))
        obj = self.objects.setdefault((plural, name), {"metadata": {"name": name}})
        merged = dict(obj.get("status") or {})
        for k, v in status.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = copy.deepcopy(v)
        obj["status"] = merged

    @override
    def create_job_if_absent(self, namespace: str, body: dict[str, Any]) -> bool:
        name = body["metadata"]["name"]
        self.calls.append(("create", "jobs", name))
        if name in self.jobs:
            return False
        self.jobs[name] = copy.deepcopy(body)
        return True

    @override
    def job_failure_message(self, namespace: str, job: str) -> str:
        self.calls.append(("pods", "jobs", job))
        return self.failures.get(job, "")

    @override
    def get_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        self.calls.append(("get", "secrets", f"{namespace}/{name}"))
        secret = self.secrets.get((namespace, name))
        return dict(secret["data"]) if secret is not None else None

    @override
    def put_secret(self, namespace: str, name: str, data: dict[str, str], labels: dict[str, str]) -> None:
        self.calls.append(("put", "secrets", f"{namespace}/{name}"))
        self.secrets[(namespace, name)] = {"data": dict(data), "labels": dict(labels)}

    # ---------------------------------------------------------------- helpers for tests

    def finish_job(self, name: str, succeeded: bool = True) -> None:
        """Mark a Job as the Job controller would when its pod ends."""
        cond = "Complete" if succeeded else "Failed"
        self.jobs[name]["status"] = {
            "succeeded" if succeeded else "failed": 1, "startTime": "2026-01-01T00:00:00Z",
            "conditions": [{"type": cond, "status": "True", "lastTransitionTime": "2026-01-01T00:01:00Z"}]}

    def observe(self, namespace: str, campaign: str) -> Observed:
        """What kopf's indexes would hold for ``campaign`` now."""
        def entry(obj: Mapping[str, Any]) -> dict[str, Any]:
            meta = obj.get("metadata") or {}
            return {"name": meta["name"], "namespace": namespace, "uid": meta.get("uid"),
                    "generation": meta.get("generation", 1), "spec": copy.deepcopy(obj.get("spec") or {}),
                    "status": copy.deepcopy(obj.get("status") or {})}

        def mine(plural: str) -> list[dict[str, Any]]:
            return [entry(o) for (p, _), o in sorted(self.objects.items())
                    if p == plural and (o.get("spec") or {}).get("campaign") == campaign]

        jobs = [{"name": n, "namespace": namespace, "labels": j["metadata"].get("labels", {}),
                 "status": copy.deepcopy(j.get("status") or {})}
                for n, j in sorted(self.jobs.items())
                if j["metadata"].get("labels", {}).get("activeloop.dev/campaign") == campaign]
        body = copy.deepcopy(self.objects[("campaigns", campaign)])
        body["metadata"].setdefault("namespace", namespace)
        return Observed(namespace, campaign, body, mine("looprounds"), mine("assayresults"),
                        mine("studentmodels"), jobs)


__all__ = ["FakeKube"]
