"""Libraries of millions (issue 13): time and peak memory against library size.

Two measurements, each library in a fresh process (so a peak of resident memory is that size's):

* ``propose_batch``: 384 variants "measured" on a synthetic landscape (additive effects plus
  pairwise terms, fixed seed) of every combination of an alphabet at 4 to 6 GB1 sites; one
  ``propose_batch`` chooses 96 with the default surrogate (epistasis GP, rank transform) and
  strategy (Thompson), features a chunk at a time.
* the workstation flow (``--campaign``): ``init``, a first batch of 384, ``record`` of the 384-row
  plate (timed), and the second ``propose`` (timed: snapshot, tune, the score shards in ``--jobs``
  processes, the merge), with ``acquisition.shards`` from ``--shards``; each shard process's peak
  memory comes from the shard records.

    python benchmarks/scale.py                                   # propose_batch: 160k / 1M / 3.2M
    python benchmarks/scale.py --campaign 20^5,20^6 --shards 1,16 --jobs 2

Writes ``benchmarks/results/scale.json`` (``scale-campaign.json``) and ``scale.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

RESULTS = Path(__file__).parent / "results"
PARENT = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"
SITES = [39, 40, 41, 54, 43, 45]
ALPHABET = "ACDEFGHIKLMNPQRSTVWY"


def _landscape(library, s: int):
    rng = np.random.default_rng(0)
    effects = rng.normal(size=(s, 20))
    pairs = rng.normal(scale=0.5, size=(s, s, 20, 20))

    def fitness(rows: np.ndarray) -> np.ndarray:
        t = library.site_tokens(rows).astype(np.int64)
        y = effects[np.arange(s), t].sum(1)
        for i in range(s):
            for j in range(i + 1, s):
                y += pairs[i, j, t[:, i], t[:, j]]
        return y

    return rng, fitness


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux: KB)


def one(size: str, measured_n: int, q: int) -> dict:
    """One proposal over the library ``A^S`` (in this process)."""
    from activeloop.ml.candidates import Candidates
    from activeloop.ml.encodings import get_encoder
    from activeloop.ml.library import CombinatorialLibrary
    from activeloop.ml.loop import propose_batch

    a, s = (int(v) for v in size.split("^"))
    library = CombinatorialLibrary(PARENT, SITES[:s], alphabet=ALPHABET[:a])
    encoder = get_encoder("onehot")
    rng, fitness = _landscape(library, s)
    measured = np.sort(rng.choice(len(library), size=measured_n, replace=False))
    y = fitness(measured)
    start = time.perf_counter()
    result = propose_batch(Candidates(len(library), lambda rows: encoder.encode(library, rows)), measured, y, q,
                           surrogate="gp_epistasis", acquisition="thompson", transform="rank", seed=0)
    seconds = time.perf_counter() - start
    return {"library": len(library), "size": size, "measured": measured_n, "q": q, "seconds": seconds,
            "peak_rss_mb": _peak_mb(), "best_proposed": float(fitness(result.rows).max()),
            "best_measured": float(y.max())}


def campaign(size: str, shards: int, jobs: int, measured_n: int, q: int) -> dict:
    """The workstation flow over ``A^S`` with ``shards`` shards in ``jobs`` processes."""
    import pandas as pd

    from activeloop.steps.data import build_library
    from activeloop.testing.workstation import Lab

    a, s = (int(v) for v in size.split("^"))
    spec = {"parentSequence": PARENT, "library": {"sites": SITES[:s], "alphabet": ALPHABET[:a]},
            "surrogate": {"kind": "gp_epistasis", "encoding": "onehot", "transform": "rank"},
            "acquisition": {"strategy": "thompson", "batchSize": q, "shards": shards},
            "initialBatchSize": measured_n, "rounds": 2}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lab = Lab(work / "run")
        library = build_library(lab.init(spec).spec)
        _, fitness = _landscape(library, s)
        start = time.perf_counter()
        first = lab.propose()
        first_seconds = time.perf_counter() - start
        variants = pd.read_csv(first.path)["variant"]
        rows = library.rows_of(variants)
        pd.DataFrame({"variant": variants, "value": fitness(rows)}).to_csv(work / "plate.csv", index=False)
        start = time.perf_counter()
        lab.record(work / "plate.csv")
        record_seconds = time.perf_counter() - start
        shard_records: list[dict] = []
        start = time.perf_counter()
        second = lab.propose(jobs=jobs, on_progress=lambda p: shard_records.append(p.detail)
                             if p.state == "shard" and p.detail else None)
        propose_seconds = time.perf_counter() - start
        proposed = library.rows_of(pd.read_csv(second.path)["variant"])
        return {"library": len(library), "size": size, "shards": shards, "jobs": jobs, "measured": measured_n,
                "q": q, "first_batch_seconds": first_seconds, "record_seconds": record_seconds,
                "propose_seconds": propose_seconds, "peak_rss_mb": _peak_mb(),
                "shard_peak_rss_mb": max((r["peak_rss_mb"] for r in shard_records), default=None),
                "shard_seconds": [round(r["seconds"], 2) for r in sorted(shard_records, key=lambda r: r["shard"])],
                "best_proposed": float(fitness(proposed).max()), "best_measured": float(fitness(rows).max())}


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="20^4,16^5,20^5")
    p.add_argument("--campaign", help="library sizes for the workstation flow (e.g. 20^5,20^6)")
    p.add_argument("--shards", default="1", help="--campaign: acquisition.shards per size (comma list)")
    p.add_argument("--jobs", type=int, default=2, help="--campaign: processes scoring shards")
    p.add_argument("--measured", type=int, default=384)
    p.add_argument("--q", type=int, default=96)
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--one-campaign", help=argparse.SUPPRESS)
    p.add_argument("--one-shards", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.measured, args.q)))
        return
    if args.one_campaign:
        print(json.dumps(campaign(args.one_campaign, args.one_shards, args.jobs, args.measured, args.q)))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.campaign:
        rows = []
        for size, shards in zip(args.campaign.split(","), [int(v) for v in args.shards.split(",")]):
            row = _child("--one-campaign", size, "--one-shards", str(shards), "--jobs", str(args.jobs),
                         "--measured", str(args.measured), "--q", str(args.q))
            rows.append(row)
            print(f"{row['library']:>11,} candidates, {shards} shard(s) in {args.jobs} processes: record "
                  f"{row['record_seconds']:.2f} s, propose {row['propose_seconds']:.1f} s, peak "
                  f"{row['peak_rss_mb']:.0f} MB (shard processes {row['shard_peak_rss_mb'] or 0:.0f} MB)", flush=True)
        (RESULTS / "scale-campaign.json").write_text(json.dumps(rows, indent=2))
    else:
        rows = []
        for size in args.sizes.split(","):
            row = _child("--one", size, "--measured", str(args.measured), "--q", str(args.q))
            rows.append(row)
            print(f"{row['library']:>11,} candidates: propose {row['seconds']:.1f} s, peak "
                  f"{row['peak_rss_mb']:.0f} MB", flush=True)
        (RESULTS / "scale.json").write_text(json.dumps(rows, indent=2))
    plot()


def plot() -> None:
    """``scale.png``: time and peak memory against library size, from the results files."""
    from matplotlib.figure import Figure

    batch = json.loads((RESULTS / "scale.json").read_text())
    flow_path = RESULTS / "scale-campaign.json"
    flow = json.loads(flow_path.read_text()) if flow_path.exists() else []
    fig = Figure(figsize=(7.5, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    n = [r["library"] for r in batch]
    ax1.plot(n, [r["seconds"] for r in batch], marker="o", label="propose_batch (1 process)")
    ax2.plot(n, [r["peak_rss_mb"] for r in batch], marker="o", label="propose_batch (1 process)")
    if flow:
        m = [r["library"] for r in flow]
        ax1.plot(m, [r["propose_seconds"] for r in flow], marker="s", label="activeloop propose (CLI flow)")
        ax1.plot(m, [r["record_seconds"] for r in flow], marker="^", label="activeloop record, 384 rows")
        ax2.plot(m, [r["shard_peak_rss_mb"] or r["peak_rss_mb"] for r in flow], marker="s",
                 label="propose: largest process")
        for r in flow:
            if r["shards"] > 1:
                ax1.annotate(f"{r['shards']} shards,\n{r['jobs']} processes", (r["library"], r["propose_seconds"]),
                             fontsize=7, xytext=(-60, -6), textcoords="offset points")
    ax1.set_ylabel("seconds")
    ax2.set_ylabel("peak memory (MB)")
    ax2.axhline(2048, color="grey", ls=":", lw=1)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("candidates")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("96 proposed after 384 measured, epistasis GP + Thompson (2 cores)", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "scale.png", dpi=110)
    print(f"-> {RESULTS / 'scale.png'}")


if __name__ == "__main__":
    main()
