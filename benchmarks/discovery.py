"""Discovery benchmark (ALDE protocol, shared/BENCHMARKS.md §1).

96 random variants, then 4 rounds of 96 proposals (480 measured); normalised best fitness after
each round, mean ± SEM over seeds, fraction of seeds that found the global maximum, and median wall
time per round. Every strategy runs on the same seeds (the same initial draws) in one harness.

    python benchmarks/discovery.py                       # all strategies, 30 seeds, GB1
    python benchmarks/discovery.py --only default,random --seeds 30
    python benchmarks/discovery.py --report              # combine saved results: table + plot
    python benchmarks/discovery.py --only lab-hamming,lab-unirep --jobs 16   # the lab protocol
    python benchmarks/discovery.py --only default,default-global --first-seed 30 --seeds 60 --jobs 2
                                                         # a check on seeds no setting was chosen by

The lab protocol (issue 12) chooses the first 96 by a zero-shot score (Hamming distance to the
parent, or UniRep-1900's log-likelihood ratio read from ``results/zero-shot/gb1-unirep1900.csv.gz``,
written by ``foundation.py zero-shot``), optionally also giving the surrogate that score as a prior.

Each strategy's results are saved to ``benchmarks/results/discovery-<landscape>-<strategy>.json``
so strategies can run in parallel processes; ``--report`` writes ``discovery-<landscape>.json``
and ``discovery-<landscape>.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from rich.console import Console

from activeloop.landscapes import load_landscape
from activeloop.local.report import plot_curves, run_strategies, summary_table
from activeloop.local.simulate import NO_LOCAL as OFF
from activeloop.local.simulate import Strategy, records_as_rows, summarize

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared"
UNIREP_SCORES = RESULTS / "zero-shot" / "gb1-unirep1900.csv.gz"
"""UniRep-1900 zero-shot scores of every GB1 variant (``foundation.py zero-shot``, on a GPU)."""

STRATEGIES = {
    "default": Strategy("default: epistasis GP (order chosen each round), rank, Thompson, local search"),
    "default-global": Strategy("no local search: epistasis GP (order chosen each round), rank, Thompson",
                               local=OFF),
    "epistasis4": Strategy("epistasis GP (order 4), rank, Thompson, no local search", surrogate="gp_epistasis",
                           local=OFF),
    "greedy": Strategy("greedy: epistasis GP, rank, mean only", surrogate="gp_epistasis", acquisition="greedy",
                       local=OFF),
    "boosting": Strategy("5 boosted trees, one-hot, Thompson", surrogate="boosting_ensemble", transform="none",
                         local=OFF),
    "students": Strategy("4 CNN students of the epistasis GP, rank, Thompson", surrogate="student_ensemble",
                         local=OFF),
    "gp_rbf": Strategy("GP RBF-ARD one-hot, Thompson", surrogate="gp", transform="none", local=OFF),
    "random": Strategy("random", acquisition="random"),
    # the lab protocol (issue 12): the first 96 by a zero-shot score, then 4 x 96 as above
    "lab-hamming": Strategy("lab: zero-shot start (Hamming), the default", start="zeroShot"),
    "lab-hamming-global": Strategy("lab: zero-shot start (Hamming), no local search", start="zeroShot", local=OFF),
    "lab-hamming-epistasis4": Strategy("lab: zero-shot start (Hamming), epistasis GP (order 4), no local search",
                                       surrogate="gp_epistasis", start="zeroShot", local=OFF),
    "lab-hamming-prior": Strategy("lab: zero-shot start and prior (Hamming), no local search", start="zeroShot",
                                  prior=True, local=OFF),
    "lab-unirep": Strategy("lab: zero-shot start (UniRep-1900), no local search", start="zeroShot",
                           scorer=str(UNIREP_SCORES), local=OFF),
    "lab-unirep-prior": Strategy("lab: zero-shot start and prior (UniRep-1900), no local search", start="zeroShot",
                                 prior=True, scorer=str(UNIREP_SCORES), local=OFF),
    "focused-hamming": Strategy("lab: focused start (Hamming top 2%), no local search", start="focused", local=OFF),
}
PROTOCOLS = {"alde": [k for k in STRATEGIES if not k.startswith(("lab", "focused"))],
             "lab": [k for k in STRATEGIES if k.startswith(("lab", "focused"))]}


def landscape_source(name: str) -> str:
    """``gb1`` (shared copy if present, else fetched) or a CSV path."""
    if name == "gb1" and "ACTIVELOOP_GB1_CSV" not in os.environ:
        local = SHARED / "datasets" / "gb1_wu2016.csv"
        if local.is_file():
            os.environ["ACTIVELOOP_GB1_CSV"] = str(local)
    return name


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    console = Console()
    sites = tuple(int(v) for v in args.sites.split(",")) if args.sites else ()
    land = load_landscape(landscape_source(args.landscape), parent=args.parent, sites=sites)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for key in args.only.split(","):
        st = STRATEGIES[key]
        start = time.perf_counter()
        recs = run_strategies(
            land, [st], list(range(args.first_seed, args.first_seed + args.seeds)), rounds=4, batch=96, init=96,
            console=console if args.verbose else None, jobs=args.jobs,
        )
        summary = summarize(recs, land)
        summary["key"] = key
        summary["wall_seconds"] = time.perf_counter() - start
        summary["records"] = records_as_rows(recs)
        # seeds other than the protocol's 0..N-1 (a check on seeds nothing was chosen by) go apart
        tail = f"-seeds{args.first_seed}-{args.first_seed + args.seeds - 1}" if args.first_seed else ""
        out = RESULTS / f"discovery-{land.name}-{key}{tail}.json"
        out.write_text(json.dumps(summary, indent=2))
        last = summary["rounds"][-1]
        console.print(
            f"{st.name}: {last['mean_normalized_best']:.3f} ± {last['sem']:.3f} at {last['measured']}, "
            f"global max in {last['fraction_global_max']:.0%} of {args.seeds} seeds -> {out}"
        )


def report(args: argparse.Namespace) -> None:
    land_name = Path(args.landscape).stem if args.landscape != "gb1" else "gb1"
    for protocol, keys in PROTOCOLS.items():
        _report(land_name, protocol, keys)


def _report(land_name: str, protocol: str, keys: list[str]) -> None:
    summaries = []
    for key in keys:
        path = RESULTS / f"discovery-{land_name}-{key}.json"
        if path.exists():
            s = json.loads(path.read_text())
            s.pop("records", None)
            summaries.append(s)
    if not summaries:
        print(f"no {protocol} results for {land_name} in {RESULTS}")
        return
    Console().print(summary_table(summaries))
    stem = f"discovery-{land_name}" + ("" if protocol == "alde" else f"-{protocol}")
    (RESULTS / f"{stem}.json").write_text(json.dumps(summaries, indent=2))
    title = ("ALDE protocol: 96 random, then 4 x 96" if protocol == "alde"
             else "lab protocol: 96 chosen by a zero-shot score, then 4 x 96")
    plot_curves(summaries, RESULTS / f"{stem}.png", f"{land_name}: discovery ({title})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--landscape", default="gb1")
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--first-seed", type=int, default=0,
                   help="Seeds first-seed .. first-seed + seeds - 1 (results files named after them when not 0).")
    p.add_argument("--only", default=",".join(STRATEGIES))
    p.add_argument("--report", action="store_true")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--parent", help="Parent sequence of a CSV landscape (the Hamming scorer needs it).")
    p.add_argument("--sites", default="", help="1-based sites of a CSV landscape's variants, e.g. 183,184,227,228.")
    p.add_argument("--jobs", type=int, default=1, help="Seeds in this many processes (same results).")
    args = p.parse_args()
    report(args) if args.report else run(args)


if __name__ == "__main__":
    main()
