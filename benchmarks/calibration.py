"""Calibration of the surrogates' uncertainty on held-out GB1 variants.

Each surrogate is fitted on ``--train`` random variants (480 by default, the size of a finished
campaign) and evaluated on ``--test`` other variants: the fraction of held-out points inside the
predicted 68% and 95% intervals (ideal: 0.68 and 0.95), Spearman of the mean with the truth, and
Spearman of the predicted standard deviation with the absolute error. Targets are rank-transformed
exactly as the default campaign does, so coverage is judged on the scale the model works on.

    python benchmarks/calibration.py [--train 480 --test 10000 --seeds 3]

Writes ``benchmarks/results/calibration-gb1.json`` and ``calibration-gb1-<surrogate>.png``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from scipy.special import ndtri
from scipy.stats import rankdata

from activeloop.landscapes import load_landscape
from activeloop.ml.calibration import calibration_report, plot_calibration
from activeloop.ml.encodings import get_encoder
from activeloop.ml.surrogates import get_surrogate

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=int, default=480)
    p.add_argument("--test", type=int, default=10_000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--surrogates", default="gp_epistasis,gp,boosting_ensemble,mlp_ensemble")
    args = p.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("ACTIVELOOP_GB1_CSV", str(SHARED / "datasets" / "gb1_wu2016.csv"))
    land = load_landscape("gb1")
    X = get_encoder("onehot").encode(land.library)
    # normal scores of the whole landscape: held-out truth on the scale the model is fitted on
    z = ndtri((rankdata(land.fitness) - 0.5) / len(land))
    out: dict[str, dict] = {}
    for name in args.surrogates.split(","):
        reports = []
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            idx = rng.permutation(len(land))
            train, test = idx[: args.train], idx[args.train : args.train + args.test]
            model = get_surrogate(name, seed=seed).fit(X[train], z[train])
            pred = model.predict(X[test])
            reports.append(calibration_report(z[test], pred.mean, pred.std))
            if seed == 0:
                plot_calibration(z[test], pred.mean, pred.std, RESULTS / f"calibration-gb1-{name}.png")
        out[name] = {k: float(np.median([r[k] for r in reports])) for k in reports[0]}
        print(f"{name:18s} coverage68 {out[name]['coverage_68']:.2f}  coverage95 {out[name]['coverage_95']:.2f}  "
              f"spearman {out[name]['spearman']:.3f}  std~|err| {out[name]['spearman_std_vs_abs_error']:.3f}")
    result = {"landscape": "gb1", "train": args.train, "test": args.test, "seeds": args.seeds,
              "target": "normal scores of fitness (rank transform)", "median_over_seeds": out}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "calibration-gb1.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
