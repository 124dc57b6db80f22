"""A campaign that starts from zero-shot scores and keeps them as a prior, through the real steps:
the scores are computed once per campaign, stored by content hash, and named in each round's record."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from activeloop.landscapes import GB1_PARENT
from activeloop.steps.zeroshot import scores_key
from activeloop.testing.workstation import Lab

SPEC = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKW"},
    "acquisition": {"batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 2,
    "initialBatch": {"strategy": "focused", "topFraction": 0.1, "maxShare": 0.5},
    "zeroShot": {"scorer": "hamming"},
    "surrogate": {"prior": "zeroShot"},
}


def _start(tmp_path, spec: dict) -> Lab:
    lab = Lab(tmp_path / "run")
    lab.init(spec)
    return lab


def test_a_focused_first_batch_comes_from_the_top_of_the_zero_shot_ranking(tmp_path):
    lab = _start(tmp_path, SPEC)
    run = lab.run_dir
    p1 = lab.propose()
    first = list(pd.read_csv(p1.path)["variant"])
    # hamming: V39 is not in the alphabet, so the best 10% of 1,000 are the 10 single mutants
    # (site 39 only) and 90 of the 180 double mutants
    assert len(first) == 12 and all(len(v.split(":")) <= 2 for v in first)
    record = json.loads((run / "rounds/round-001/acquire.json").read_text())
    spec = lab.detail().spec
    key = scores_key(spec)
    assert record["strategy"] == "focused (first batch)"
    assert record["zero_shot"]["scorer"] == "hamming"
    assert record["zero_shot"]["sha256"] == hashlib.sha256((run / key).read_bytes()).hexdigest()
    assert len(np.load(run / key)) == 1000


def test_later_rounds_use_the_scores_as_a_prior_and_compute_them_once(tmp_path):
    lab = _start(tmp_path, SPEC)
    run = lab.run_dir
    first = list(pd.read_csv(lab.propose().path)["variant"])
    scores = next((run / "zero-shot").glob("*.npy"))
    stamp = scores.stat().st_mtime_ns
    plate = tmp_path / "plate.csv"
    pd.DataFrame({"variant": first, "value": [float(len(v)) for v in first]}).to_csv(plate, index=False)
    lab.record(plate)
    p2 = lab.propose()
    record = json.loads((run / "rounds/round-002/acquire.json").read_text())
    assert p2.round == 2 and record["prior"] == "zeroShot" and isinstance(record["prior_weight"], float)
    assert record["zero_shot"]["sha256"] == json.loads((run / "rounds/round-001/acquire.json").read_text())[
        "zero_shot"]["sha256"]
    assert scores.stat().st_mtime_ns == stamp and len(list((run / "zero-shot").glob("*.npy"))) == 1


def test_the_scores_key_changes_with_what_determines_them():
    from activeloop.service.rundir import parse_spec

    base = parse_spec(SPEC)
    assert scores_key(base) == scores_key(parse_spec({**SPEC, "rounds": 5, "seed": 3}))
    assert scores_key(base) != scores_key(parse_spec({**SPEC, "zeroShot": {"scorer": "backbone"}}))
    assert scores_key(base) != scores_key(parse_spec({**SPEC, "library": {"sites": [39, 40]}}))
