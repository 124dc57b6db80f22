"""Proposing from libraries of millions (issue 13): time and peak memory against library size.

For each library (every combination of an alphabet at 4 or 5 GB1 sites), 384 variants are
"measured" on a synthetic landscape (additive effects plus pairwise terms, fixed seed), and one
``propose_batch`` chooses 96 with the default surrogate (epistasis GP, rank transform) and
strategy (Thompson), with features computed a chunk at a time (``ml.candidates``). Each size runs
in a fresh process, so the peak resident memory is that size's alone.

    python benchmarks/scale.py                       # 160,000 / 1,048,576 / 3,200,000
    python benchmarks/scale.py --sizes 20^4,20^5

Writes ``benchmarks/results/scale.json`` and ``scale.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

RESULTS = Path(__file__).parent / "results"
PARENT = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"
SITES = [39, 40, 41, 54, 43, 45]
ALPHABET = "ACDEFGHIKLMNPQRSTVWY"


def one(size: str, measured_n: int, q: int) -> dict:
    """One proposal over the library ``A^S`` (in this process)."""
    from activeloop.ml.candidates import Candidates
    from activeloop.ml.encodings import get_encoder
    from activeloop.ml.library import CombinatorialLibrary
    from activeloop.ml.loop import propose_batch

    a, s = (int(v) for v in size.split("^"))
    library = CombinatorialLibrary(PARENT, SITES[:s], alphabet=ALPHABET[:a])
    encoder = get_encoder("onehot")
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

    measured = np.sort(rng.choice(len(library), size=measured_n, replace=False))
    y = fitness(measured)
    start = time.perf_counter()
    result = propose_batch(Candidates(len(library), lambda rows: encoder.encode(library, rows)), measured, y, q,
                           surrogate="gp_epistasis", acquisition="thompson", transform="rank", seed=0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux: KB)
    return {"library": len(library), "size": size, "measured": measured_n, "q": q, "seconds": seconds,
            "peak_rss_mb": peak, "best_proposed": float(fitness(result.rows).max()),
            "best_measured": float(y.max())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="20^4,16^5,20^5")
    p.add_argument("--measured", type=int, default=384)
    p.add_argument("--q", type=int, default=96)
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.measured, args.q)))
        return
    rows = []
    for size in args.sizes.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", size, "--measured", str(args.measured),
                              "--q", str(args.q)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['library']:>11,} candidates: propose {row['seconds']:.1f} s, peak {row['peak_rss_mb']:.0f} MB",
              flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(rows, indent=2))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    n = [r["library"] for r in rows]
    ax1.plot(n, [r["seconds"] for r in rows], marker="o")
    ax1.set_ylabel("propose (s)")
    ax2.plot(n, [r["peak_rss_mb"] for r in rows], marker="o", color="tab:orange")
    ax2.set_ylabel("peak memory (MB)")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("candidates")
        ax.grid(alpha=0.3)
    fig.suptitle(f"one proposal of {args.q} after {args.measured} measured (2 cores, one thread)", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "scale.png", dpi=110)
    print(f"-> {RESULTS / 'scale.json'}, scale.png")


if __name__ == "__main__":
    main()
