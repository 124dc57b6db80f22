"""The operator under faults: API failures injected, the operator process killed at random points.

:func:`run_campaign` runs one campaign against the Kubernetes emulator with the operator in a
separate process (``kopf run``), step Jobs run in this process, and a synthetic lab answering each
round in two AssayResults. With faults on:

* :class:`FaultyEmulator` answers a random fraction of the operator's requests with a failure:
  ``500`` before the change (nothing happened), ``500`` after it (it happened, the answer was lost),
  ``409`` on an update (a conflict), or a timeout (the answer comes after the client gave up);
* the operator is killed with SIGKILL at random times and, with some probability, right after the
  API server created a Job for it (so the Job exists and the round's status does not say so);
  it is restarted at once.

:func:`check` then verifies the invariants (no duplicate Job, no measurement lost or counted twice,
every round computed from its own snapshot, the campaign completed) and, given a fault-free run
with the same seed, that every round proposed the same variants.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import aiohttp.web
import kubernetes
import pandas as pd
from kmock._internal import enums
from typing_extensions import override

from activeloop.api.resources import GROUP, VERSION
from activeloop.landscapes import GB1_PARENT
from activeloop.testing.emulator import EmulatedCluster, StampingEmulator
from activeloop.testing.jobs import InProcessJobRunner
from activeloop.testing.oracle import SyntheticLab

NS = "lab"
OPERATOR_TOKEN = "operator"
FAULTABLE = (enums.action.CREATE, enums.action.UPDATE, enums.action.FETCH, enums.action.DELETE)


class FaultyEmulator(StampingEmulator):
    """A :class:`StampingEmulator` that fails some of the operator's requests (see the module)."""

    def __init__(self, rate: float = 0.0, seed: int = 0, kill_after_job: float = 0.0,
                 delay: float = 1.5) -> None:
        super().__init__()
        self.rate = rate
        self.kill_after_job = kill_after_job
        self.delay = delay
        self.rng = random.Random(seed)
        self.injected: collections.Counter[str] = collections.Counter()
        self.jobs_created: collections.Counter[str] = collections.Counter()
        self.on_job_created: Callable[[], None] | None = None
        self.operator_seen = threading.Event()  # set by the operator's first request after a start

    @staticmethod
    def _is_operator(request: Any) -> bool:
        auth = {k.lower(): v for k, v in dict(request.headers or {}).items()}.get("authorization", "")
        return auth == f"Bearer {OPERATOR_TOKEN}"

    @staticmethod
    def _status(code: int, reason: str) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                                          "reason": reason, "message": f"injected {code}", "code": code},
                                         status=code)

    @override
    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        if self._is_operator(request):
            self.operator_seen.set()
        victim = self._is_operator(request) and request.resource is not None and request.action in FAULTABLE
        if victim and self.rng.random() < self.rate:
            kinds = ["500-before", "500-after", "timeout"] + (["409"] if request.action == enums.action.UPDATE else [])
            kind = self.rng.choice(kinds)
            self.injected[kind] += 1
            if kind == "500-before":
                return self._status(500, "InternalError")
            if kind == "409":
                return self._status(409, "Conflict")
            if kind == "timeout":
                await asyncio.sleep(self.delay)  # the client has given up by now; the change happens
            response = await super()._handle(request)
            return self._status(500, "InternalError") if kind == "500-after" else response
        response = await super()._handle(request)
        is_job = request.resource is not None and request.resource.plural == "jobs"
        if victim and is_job and request.action == enums.action.CREATE and response.status == 201:
            self.jobs_created[(request.data or {}).get("metadata", {}).get("name", "?")] += 1
            if self.on_job_created is not None and self.rng.random() < self.kill_after_job:
                self.injected["kill-after-job-create"] += 1
                self.on_job_created()
        return response


class OperatorProcess:
    """``kopf run`` of the operator in a child process that can be killed and restarted."""

    def __init__(self, env: dict[str, str], log: Path, started: threading.Event | None = None) -> None:
        self.env = env
        self.log = log
        self.started = started or threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start (or restart) the operator."""
        with self.lock:
            self.started.clear()
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "kopf", "run", "--standalone", "--quiet", f"--namespace={NS}",
                     "-m", "activeloop.controller.handlers"],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def kill(self, restart: bool = True) -> None:
        """SIGKILL the operator (no cleanup of any kind) and start a new one."""
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                self.kills += 1
        if restart:
            self.start()

    def stop(self) -> None:
        """Stop for good."""
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()


def _spec(rounds: int, seed: int) -> dict[str, Any]:
    return {"parentSequence": GB1_PARENT, "library": {"sites": [39, 40]},
            "acquisition": {"strategy": "thompson", "batchSize": 8}, "initialBatchSize": 16,
            "rounds": rounds, "seed": seed, "trigger": {"minFractionMeasured": 1.0, "debounceSeconds": 0},
            "jobs": {"cpu": "1", "memory": "1Gi"}}


def run_campaign(
    *, rounds: int = 3, seed: int = 0, kills: int = 0, fault_rate: float = 0.0, kill_after_job: float = 0.0,
    timeout: float = 1800.0, log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run a campaign of ``rounds + 1`` rounds, optionally under faults; returns what happened.

    ``kills`` random kills are spread over the rounds: the lab answers round ``n`` only once
    ``kills * n / (rounds + 1)`` kills have happened (so each round sees its share).
    """
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="activeloop-faults-"))
    store = work / "store"
    lab = SyntheticLab(GB1_PARENT, (39, 40), seed=seed)
    emulator = FaultyEmulator(rate=fault_rate, seed=seed, kill_after_job=kill_after_job)
    total_rounds = rounds + 1
    started = time.monotonic()
    with EmulatedCluster(work, emulator=lambda: emulator) as cluster:
        env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig_for(OPERATOR_TOKEN)),
                   ACTIVELOOP_STORE_URI=store.as_uri(), ACTIVELOOP_TIMER_INTERVAL="2",
                   ACTIVELOOP_METRICS_PORT="-1", ACTIVELOOP_API_TIMEOUT="1", PYTHONUNBUFFERED="1")
        operator = OperatorProcess(env, work / "operator.log", emulator.operator_seen)
        emulator.on_job_created = lambda: threading.Thread(target=operator.kill, daemon=True).start()
        api = kubernetes.config.new_client_from_config(str(cluster.kubeconfig_for("lab")))
        co = kubernetes.client.CustomObjectsApi(api)

        def status(plural: str, name: str) -> dict[str, Any]:
            try:
                obj = cast("dict[str, Any]", co.get_namespaced_custom_object(GROUP, VERSION, NS, plural, name))
                return obj.get("status") or {}
            except kubernetes.client.ApiException:
                return {}

        operator.start()
        co.create_namespaced_custom_object(GROUP, VERSION, NS, "campaigns", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Campaign", "metadata": {"name": "chaos"},
            "spec": _spec(rounds, seed)})
        plates: dict[str, list[dict[str, Any]]] = {}
        killer_stop = threading.Event()
        rng = random.Random(seed + 1)
        answered = 0

        def quota(round_number: int) -> int:
            """Kills that must have happened before the lab answers ``round_number``."""
            return math.ceil(kills * round_number / total_rounds)

        def killer() -> None:  # each round gets its share of the kills, at random moments of work
            while not killer_stop.is_set() and operator.kills < kills:
                operator.started.wait(15)  # the new process talks to the API server: it is at work
                if killer_stop.wait(rng.uniform(0.05, 2.0)):
                    return
                if operator.kills < quota(answered + 1):
                    operator.kill()
                else:
                    killer_stop.wait(0.2)

        kill_thread = threading.Thread(target=killer, daemon=True)
        with InProcessJobRunner(api, NS, interval=0.05) as runner:
            if kills:
                kill_thread.start()
            try:
                while time.monotonic() - started < timeout:
                    if status("campaigns", "chaos").get("phase") == "Completed":
                        break
                    nxt = answered + 1
                    st = status("looprounds", f"chaos-r{nxt}")
                    due = not kills or operator.kills >= quota(nxt)
                    if st.get("phase") == "WaitingForAssays" and due:
                        rows = lab.plate(st["proposals"])
                        half = len(rows) // 2
                        for part, chunk in (("a", rows[:half]), ("b", rows[half:])):
                            name = f"lab-r{nxt}-{part}"
                            plates[name] = chunk
                            co.create_namespaced_custom_object(GROUP, VERSION, NS, "assayresults", {
                                "apiVersion": f"{GROUP}/{VERSION}", "kind": "AssayResult",
                                "metadata": {"name": name}, "spec": {"campaign": "chaos", "round": nxt,
                                                                     "measurements": chunk}})
                        answered = nxt
                        log(f"round {nxt} answered after {operator.kills} kills, {sum(emulator.injected.values())} "
                            f"faults, {time.monotonic() - started:.0f} s")
                    time.sleep(0.05)
            finally:
                killer_stop.set()
                operator.stop()
        rounds_seen = {}
        for n in range(1, total_rounds + 2):
            st = status("looprounds", f"chaos-r{n}")
            if st:
                rounds_seen[n] = st
        assays = {name: status("assayresults", name) for name in plates}
        jobs = kubernetes.client.BatchV1Api(api).list_namespaced_job(NS).items
        job_names = sorted(str(j.metadata.name) for j in jobs)
        return {
            "campaign": status("campaigns", "chaos"),
            "rounds": rounds_seen,
            "assays": assays,
            "plates": plates,
            "jobs": job_names,
            "jobs_created": dict(emulator.jobs_created),
            "jobs_ran": collections.Counter(runner.ran),
            "store": store / NS / "chaos",
            "kills": operator.kills,
            "faults_injected": dict(emulator.injected),
            "seconds": time.monotonic() - started,
            "total_rounds": total_rounds,
        }


def round_artifacts(store: Path, n: int) -> dict[str, Any]:
    """What round ``n`` read and produced: snapshot and step hashes, proposals."""
    prefix = store / "rounds" / f"round-{n:03d}"
    out: dict[str, Any] = {}
    for name in ("inputs", "tune", "acquire"):
        path = prefix / f"{name}.json"
        out[name] = json.loads(path.read_text()) if path.is_file() else None
    props = prefix / "proposals.csv"
    out["proposals"] = list(pd.read_csv(props)["variant"]) if props.is_file() else None
    return out


def check(run: dict[str, Any], baseline: dict[str, Any] | None = None) -> list[str]:
    """The invariants that a run broke (empty: none)."""
    bad: list[str] = []
    total = run["total_rounds"]
    if run["campaign"].get("phase") != "Completed":
        bad.append(f"campaign phase is {run['campaign'].get('phase')}, not Completed")
    expected_jobs = sorted(f"chaos-r{n}-{s}" for n in range(1, total + 1) for s in ("acquire", "tune"))
    if run["jobs"] != expected_jobs:
        bad.append(f"Jobs {run['jobs']} are not {expected_jobs}")
    for name, count in run["jobs_created"].items():
        if count != 1:
            bad.append(f"Job {name} was created {count} times")
    for name, count in run["jobs_ran"].items():
        if count != 1:
            bad.append(f"Job {name} ran {count} times")
    for n in range(1, total + 1):
        st = run["rounds"].get(n, {})
        if st.get("phase") != "Completed":
            bad.append(f"round {n} phase is {st.get('phase')}")
        art = round_artifacts(run["store"], n)
        if art["inputs"] is None or art["acquire"] is None or art["tune"] is None:
            bad.append(f"round {n} lacks its snapshot or a step record")
            continue
        pinned = art["inputs"]["measurements_sha256"]
        if not (pinned == art["tune"]["measurements_sha256"] == art["acquire"]["measurements_sha256"]
                == st.get("measurementsSha256")):
            bad.append(f"round {n}'s steps did not all read its snapshot")
        if baseline is not None:
            base = round_artifacts(baseline["store"], n)
            if base["inputs"] and base["inputs"]["measurements_sha256"] != pinned:
                bad.append(f"round {n}'s snapshot differs from the fault-free run's")
            if base["proposals"] != art["proposals"]:
                bad.append(f"round {n}'s proposals differ from the fault-free run's")
    if total + 1 in run["rounds"]:
        bad.append(f"a round {total + 1} was started beyond the campaign's {total}")
    for name, st in run["assays"].items():
        if st.get("phase") != "Accepted":
            bad.append(f"AssayResult {name} is {st.get('phase')}")
    expected = {m["variant"]: m["value"] for rows in run["plates"].values() for m in rows}
    live = run["store"] / "measurements.csv"
    df = pd.read_csv(live) if live.is_file() else pd.DataFrame(columns=["variant", "value", "n"])
    if sorted(df["variant"]) != sorted(expected):
        bad.append(f"measurements hold {len(df)} variants, the lab sent {len(expected)}")
    else:
        got = df.set_index("variant")
        for v, value in expected.items():
            if got.loc[v, "n"] != 1 or abs(got.loc[v, "value"] - value) > 1e-9:
                bad.append(f"{v}: {got.loc[v, 'n']} measurement(s) of {got.loc[v, 'value']}, sent one of {value}")
    if run["campaign"].get("measured") != len(expected):
        bad.append(f"campaign status says {run['campaign'].get('measured')} measured, not {len(expected)}")
    return bad


__all__ = ["FaultyEmulator", "OperatorProcess", "check", "round_artifacts", "run_campaign"]
