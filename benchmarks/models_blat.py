"""Model choice on TEM-1 beta-lactamase (shared/BENCHMARKS.md §3, last part).

Runs ``activeloop bench-models`` on the BLAT deep mutational scan (4,996 single mutants, fitness
at 2,500 ug/ml ampicillin): 500 random variants to fit, the other 4,496 held out. Models: ridge
regression on fixed encodings, a GP, UniRep 64 and 256 (published UniRef50 weights) frozen (ridge
on mean embeddings), UniRep 64 LoRA-tuned, and CNN students of the most accurate model. One torch
thread per model, each model in a fresh process. (LoRA on UniRep-256 is left out of the default
list: tuning through 263 recurrent steps takes about 40 CPU minutes here.)

    python benchmarks/models_blat.py [--models ...] [--train 500]

Writes ``benchmarks/results/models-blat/leaderboard.{csv,json,png}``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from activeloop.modelbench import TaskSpec, format_row, run_bench

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared"
MODELS = [
    "ridge:onehot", "ridge:physchem", "ridge:onehot_physchem", "gp:onehot",
    "ridge:unirep=64", "lora:unirep=64", "ridge:unirep=256",
    "student-cnn", "student-cnn*4",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--train", type=int, default=500)
    p.add_argument("--tolerance", type=float, default=0.02)
    p.add_argument("--epochs", type=int, default=10)
    args = p.parse_args()
    os.environ.setdefault("ACTIVELOOP_BLAT_CSV", str(SHARED / "datasets" / "blat_ecolx_stiffler2015.csv"))
    board = run_bench(TaskSpec("blat", train=args.train), args.models.split(","), RESULTS / "models-blat",
                      tolerance=args.tolerance, epochs=args.epochs, threads=1,
                      on_row=lambda row: print(format_row(row), flush=True))
    print(f"best {board.best}; smallest within {board.tolerance}: {board.choice}")


if __name__ == "__main__":
    main()
