"""A variant list of 1.6 x 10^7, streamed (issue 20): every single and double substitution of a
300-residue protein, proposed on a workstation.

The parent is a random 300-residue sequence (seed 300); the list is its 5,700 single and
16,190,850 double substitutions (16,196,550 variants, a 183 MB CSV). A campaign over it
(``library.variantsUri``, the default epistasis GP and batch Thompson sampling, 96 per round)
starts from 480 earlier measurements of random variants, valued by a synthetic landscape (additive
effects plus pairwise terms between neighbouring sites, seeded), so its first round is a model's
choice over the whole list. Each measurement runs in a fresh process (its peak memory is its own):

* ``record``: the 480 earlier measurements recorded (the list read, streamed, and held as
  substitutions; every row checked against it);
* ``propose``: the round: the GP fitted, all 1.6 x 10^7 scored, 96 chosen, proposals written.

    python benchmarks/variants.py            # writes results/variants-16m.json and .png
    python benchmarks/variants.py --report   # the figure again from the saved results
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
AA = "ACDEFGHIKLMNPQRSTVWY"
LENGTH = 300


def parent_sequence() -> str:
    """The benchmark's parent (random, seed 300)."""
    rng = np.random.default_rng(300)
    return "".join(AA[i] for i in rng.integers(0, 20, LENGTH))


def write_list(path: Path, parent: str) -> int:
    """Every single and double substitution of ``parent`` as a CSV ``variant`` column; the count."""
    singles = [[f"{parent[p]}{p + 1}{a}" for a in AA if a != parent[p]] for p in range(len(parent))]
    n = 0
    with path.open("w") as f:
        f.write("variant\n")
        for s in singles:
            f.write("\n".join(s) + "\n")
            n += len(s)
        for p in range(len(parent)):
            for q in range(p + 1, len(parent)):
                f.write("\n".join(f"{a}:{b}" for a in singles[p] for b in singles[q]) + "\n")
                n += len(singles[p]) * len(singles[q])
    return n


def landscape_value(variant: str, parent: str) -> float:
    """The synthetic fitness: additive effects plus pairwise terms of sites closer than 8 (seeded)."""
    rng = np.random.default_rng(7)
    additive = rng.normal(size=(LENGTH, 20))
    pair = rng.normal(scale=0.5, size=(LENGTH, 20, 20))
    subs = [] if variant == "WT" else [(int(t[1:-1]) - 1, AA.index(t[-1])) for t in variant.split(":")]
    value = sum(additive[p, a] for p, a in subs)
    if len(subs) == 2 and abs(subs[0][0] - subs[1][0]) < 8:
        value += pair[subs[0][0], subs[0][1], subs[1][1]]
    return float(value)


def child(step: str, run_dir: str) -> None:
    """One measured step in this process: prints its seconds and peak memory as JSON."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from activeloop.testing.workstation import Lab

    lab = Lab(run_dir)
    start = time.perf_counter()
    if step == "record":
        lab.record(Path(run_dir).parent / "earlier.csv", earlier=True)
    else:
        proposal = lab.propose()
        assert proposal.record["measured"] == 480 and proposal.record["proposed"] == 96, proposal.record
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"step": step, "seconds": seconds, "peak_bytes": peak}))


def plot(out: dict) -> None:
    """``variants-16m.png``: each step's time and peak memory against the targets."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 2.8))
    left, right = fig.subplots(1, 2)
    steps = list(out["steps"])
    labels = {"record": "read the list,\nrecord 480", "propose": "the round: read, fit,\nscore all, choose 96"}
    y = np.arange(len(steps))
    for ax, key, unit, target, colour in ((left, "seconds", "seconds", 60, "#1f6feb"),
                                          (right, "peak_gb", "peak memory (GB)", 2, "#d1242f")):
        values = [out["steps"][s][key] for s in steps]
        ax.barh(y, values, color=colour)
        ax.axvline(target, color="k", ls="--", lw=1)
        ax.text(target, len(steps) - 0.45, f"target {target} ", fontsize=7, va="top", ha="right")
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.1f}" if key == "seconds" else f" {v:.2f}", va="center", fontsize=8)
        ax.set_yticks(y, [labels[s] for s in steps] if ax is left else [""] * len(steps), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
    fig.suptitle(f"{out['variants']:,} variants (all singles and doubles of {out['parent_length']} residues), "
                 f"one process, {out['cores']} cores", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "variants-16m.png", dpi=120)


def main() -> None:
    if sys.argv[1:] == ["--report"]:
        plot(json.loads((RESULTS / "variants-16m.json").read_text()))
        return
    if len(sys.argv) == 3:
        child(sys.argv[1], sys.argv[2])
        return
    from activeloop.testing.workstation import Lab

    parent = parent_sequence()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        (run / "library").mkdir(parents=True)
        started = time.perf_counter()
        n = write_list(run / "library" / "variants.csv", parent)
        print(f"{n:,} variants written in {time.perf_counter() - started:.0f} s")
        rng = np.random.default_rng(11)
        rows = np.sort(rng.choice(n, 480, replace=False))
        names = _names_at(run / "library" / "variants.csv", rows)
        (Path(tmp) / "earlier.csv").write_text(
            "variant,value\n" + "".join(f"{v},{landscape_value(v, parent):.6f}\n" for v in names))
        Lab(run).init({"parentSequence": parent, "library": {"variantsUri": "library/variants.csv",
                                                             "maxCandidates": 20_000_000},
                       "initialBatchSize": 96, "acquisition": {"batchSize": 96}, "rounds": 1})
        out = {"variants": n, "parent_length": LENGTH, "earlier_measured": 480, "batch": 96,
               "cores": os.cpu_count(), "steps": {}}
        for step in ("record", "propose"):
            res = subprocess.run([sys.executable, __file__, step, str(run)], capture_output=True, text=True,
                                 check=True)
            rec = json.loads(res.stdout.strip().splitlines()[-1])
            out["steps"][step] = {"seconds": rec["seconds"], "peak_gb": rec["peak_bytes"] / 1e9}
            print(f"{step}: {rec['seconds']:.1f} s, peak {rec['peak_bytes'] / 1e9:.2f} GB")
        acquire = json.loads((run / "rounds" / "round-001" / "acquire.json").read_text())
        out["acquire_seconds"] = acquire["seconds"]
        out["proposed"] = (run / "rounds" / "round-001" / "proposals.csv").read_text().splitlines()[1:6]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "variants-16m.json").write_text(json.dumps(out, indent=2))
    plot(out)


def _names_at(path: Path, rows: np.ndarray) -> list[str]:
    """The variants on the given 0-based data rows of the list."""
    wanted = set(rows.tolist())
    out = []
    with path.open() as f:
        next(f)
        for i, line in enumerate(f):
            if i in wanted:
                out.append(line.strip())
    return out


if __name__ == "__main__":
    main()
