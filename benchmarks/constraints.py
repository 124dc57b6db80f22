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
    args = p.parse_args()
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


if __name__ == "__main__":
    main()
