"""Constraints on a site library (issue 20): size and propose time with and without them at 3.2 million.

The library is every combination of the 20 amino acids at five GB1 sites (39, 40, 41, 54, 43:
20^5 = 3.2 million). Each constraint set is measured in a fresh process:

* building the library (counting, ranking, the rows a forbidden motif takes out), and its size;
* one ``propose_batch`` of 96 after 384 "measured" variants of a synthetic landscape (additive
  effects plus pairwise terms, fixed seed; the same as ``benchmarks/scale.py``), the constrained
  rows excluded, features a chunk at a time; every proposal is checked against the constraints.

    python benchmarks/constraints.py

Writes ``benchmarks/results/constraints.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

RESULTS = Path(__file__).parent / "results"
PARENT = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"
SITES = [39, 40, 41, 54, 43]

CASES: dict[str, dict] = {
    "none": {},
    "residues per site": {"residues": ["AVILMFWY", None, "AVILMFWY", None, "DEKRH"]},
    "at most 3 substitutions": {"max_substitutions": 3},
    "no C, no N[^P][ST]": {"forbidden": ["C", "N[^P][ST]"]},
    "all of them": {"residues": ["AVILMFWY", None, "AVILMFWY", None, "DEKRH"], "max_substitutions": 3,
                    "forbidden": ["C", "N[^P][ST]"]},
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(case: str, measured_n: int, q: int) -> dict:
    """Build the library of ``case`` and propose once (in this process)."""
    from activeloop.ml.candidates import Candidates
    from activeloop.ml.encodings import get_encoder
    from activeloop.ml.library import CombinatorialLibrary
    from activeloop.ml.loop import propose_batch

    options = dict(CASES[case])
    residues = options.pop("residues", None)
    if residues is not None:
        residues = [r or "ACDEFGHIKLMNPQRSTVWY" for r in residues]
    start = time.perf_counter()
    library = CombinatorialLibrary(PARENT, SITES, residues=residues, **options)
    build_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    effects, pairs = rng.normal(size=(5, 20)), rng.normal(scale=0.5, size=(5, 5, 20, 20))

    def fitness(rows: np.ndarray) -> np.ndarray:
        t = library.site_tokens(rows).astype(np.int64)
        y = effects[np.arange(5), t].sum(1)
        for i in range(5):
            for j in range(i + 1, 5):
                y += pairs[i, j, t[:, i], t[:, j]]
        return y

    free = np.setdiff1d(np.arange(len(library)), library.excluded_rows())
    measured = np.sort(rng.choice(free, size=measured_n, replace=False))
    encoder = get_encoder("onehot")
    start = time.perf_counter()
    result = propose_batch(Candidates(len(library), lambda rows: encoder.encode(library, rows)), measured,
                           fitness(measured), q, surrogate="gp_epistasis", acquisition="thompson",
                           transform="rank", excluded=library.excluded_rows(), seed=0)
    propose_seconds = time.perf_counter() - start
    names = library.names_of(result.rows)
    motif = re.compile("(?=N[^P][ST])")
    parent_hits = {m.start() for m in motif.finditer(PARENT)}
    ok = all(library.contains(n) for n in names)
    if "forbidden" in options:
        ok &= all(not ({m.start() for m in motif.finditer(s)} - parent_hits) and "C" not in s
                  for s in library.sequences_of(result.rows))
    if "max_substitutions" in options:
        ok &= all(len(n.split(":")) <= options["max_substitutions"] for n in names)
    return {"case": case, "combinations": len(library), "excluded": len(library.excluded_rows()),
            "variants": library.size, "build_seconds": build_seconds, "propose_seconds": propose_seconds,
            "peak_rss_mb": _peak_mb(), "proposals_within_constraints": bool(ok), "q": q, "measured": measured_n}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--measured", type=int, default=384)
    p.add_argument("--q", type=int, default=96)
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--report", action="store_true", help="Only draw the figure from the saved results.")
    args = p.parse_args()
    if args.report:
        plot(json.loads((RESULTS / "constraints.json").read_text()))
        return
    if args.one:
        print(json.dumps(one(args.one, args.measured, args.q)))
        return
    rows = []
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, "--one", case, "--measured", str(args.measured),
                              "--q", str(args.q)], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{case:>24}: {row['variants']:>9,} variants ({row['combinations']:,} combinations, "
              f"{row['excluded']:,} excluded), built in {row['build_seconds'] * 1000:.0f} ms, propose "
              f"{row['propose_seconds']:.1f} s, peak {row['peak_rss_mb']:.0f} MB, proposals within the "
              f"constraints: {row['proposals_within_constraints']}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "constraints.json").write_text(json.dumps(rows, indent=2))
    plot(rows)


def plot(rows: list[dict]) -> None:
    """``constraints.png``: each case's library size and propose time."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.4))
    left, right = fig.subplots(1, 2)
    names = [r["case"] for r in rows]
    y = np.arange(len(rows))
    left.barh(y, [r["variants"] for r in rows], color="#1f6feb")
    left.set_xscale("log")
    left.set_xlim(1e3, 3e8)
    left.set_yticks(y, names, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("variants after constraints (log)")
    for i, r in enumerate(rows):
        left.text(r["variants"], i, f" {r['variants']:,} ({r['build_seconds'] * 1000:.0f} ms)", va="center",
                  fontsize=7)
    right.barh(y, [r["propose_seconds"] for r in rows], color="#d1242f")
    right.set_yticks(y, [""] * len(rows))
    right.invert_yaxis()
    right.set_xlabel(f"seconds to propose {rows[0]['q']} ({rows[0]['measured']} measured)")
    fig.suptitle("Constraints on a 20^5 library (3.2 million): counted arithmetically, proposed within them",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "constraints.png", dpi=120)


if __name__ == "__main__":
    main()
