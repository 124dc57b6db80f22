"""Fault benchmark (shared/BENCHMARKS.md §7): the operator killed at random points and API
failures injected over a whole campaign, then every invariant checked.

    python benchmarks/faults.py [--kills 100 --rounds 3 --fault-rate 0.1 --kill-after-job 0.3]

First a fault-free run, then the same campaign (same seed) with the operator process SIGKILLed at
random moments while it works (each round gets its share of the kills; a kill also follows a
Job's creation with probability --kill-after-job, so the Job exists and the round's status does
not say so) and a fraction of the operator's API requests failing (500 before or after the change,
409 on updates, timeouts), then once more with a larger fraction of failing requests and the
operator killed right after every Job it creates.
Every run is checked against the invariants and the fault-free run's proposals. Writes
``benchmarks/results/faults.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from activeloop.testing.faults import check, round_artifacts, run_campaign

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3, help="rounds after the first batch")
    p.add_argument("--fault-rate", type=float, default=0.1, help="failing requests in the run with kills")
    p.add_argument("--api-fault-rate", type=float, default=0.3, help="failing requests in the run without kills")
    p.add_argument("--kill-after-job", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t0 = time.time()
    base = run_campaign(rounds=args.rounds, seed=args.seed, log=lambda m: print("fault-free:", m, flush=True))
    base_violations = check(base)
    run = run_campaign(rounds=args.rounds, seed=args.seed, kills=args.kills, fault_rate=args.fault_rate,
                       kill_after_job=args.kill_after_job, log=lambda m: print("faults:", m, flush=True))
    violations = check(run, base)
    api = run_campaign(rounds=args.rounds, seed=args.seed, fault_rate=args.api_fault_rate, kill_after_job=1.0,
                       log=lambda m: print("api faults:", m, flush=True))
    api_violations = check(api, base)
    same = all(round_artifacts(r["store"], n)["proposals"] == round_artifacts(base["store"], n)["proposals"]
               for r in (run, api) for n in range(1, run["total_rounds"] + 1))
    injected = {k: run["faults_injected"].get(k, 0) + api["faults_injected"].get(k, 0)
                for k in set(run["faults_injected"]) | set(api["faults_injected"])}
    result = {
        "environment": f"kmock emulator on loopback; operator as `kopf run` in a child process; steps in-process; "
                       f"{platform.processor() or platform.machine()}",
        "rounds": run["total_rounds"],
        "kills": run["kills"] + api["kills"],
        "kills_after_job_create": injected.get("kill-after-job-create", 0),
        "faults_injected": sum(v for k, v in injected.items() if k != "kill-after-job-create"),
        "faults_by_kind": injected,
        "runs": {"kills+faults": {"kills": run["kills"], "fault_rate": args.fault_rate,
                                  "faults": run["faults_injected"], "violations": violations,
                                  "seconds": round(run["seconds"], 1)},
                 "faults, and a kill after every Job created": {
                     "fault_rate": args.api_fault_rate, "kills": api["kills"], "faults": api["faults_injected"],
                     "violations": api_violations, "seconds": round(api["seconds"], 1)}},
        "violations": len(violations) + len(api_violations),
        "violation_list": violations + api_violations,
        "fault_free_violations": base_violations,
        "proposals_equal_fault_free": same,
        "jobs": len(run["jobs"]),
        "measurements": sum(len(v) for v in run["plates"].values()),
        "seconds_fault_free": round(base["seconds"], 1),
        "wall_seconds": round(time.time() - t0, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "faults.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
