"""Several objectives (issue 20) on the workstation: a plate carries a value column per objective
(any may be missing for a well), the round chooses with one surrogate per objective, and the
campaign shows the Pareto front of the measured variants and the hypervolume per round."""

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from activeloop.api.campaign import CampaignSpec
from activeloop.errors import RecordError
from activeloop.landscapes import GB1_PARENT
from activeloop.steps import ingest
from activeloop.steps.objectives import pareto_front
from activeloop.steps.tables import read_table
from activeloop.testing.workstation import Lab

SPEC = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKVW"},
    "objectives": [{"name": "activity"}, {"name": "expression", "threshold": 0.5},
                   {"name": "cost", "direction": "minimize", "weight": 0.5}],
    "surrogate": {"kind": "gp_epistasis", "encoding": "onehot"},
    "acquisition": {"strategy": "thompson", "batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 2,
}


def _values(v: str) -> tuple[float, float, float]:
    h = sum(map(ord, v))
    return float(h % 13), (h % 7) / 6, float(h % 5)


def _plate(tmp_path, variants, name, drop_expression=()) -> str:
    rows = [dict(zip(("activity", "expression", "cost"), _values(v)), variant=v) for v in variants]
    for r in rows:
        if r["variant"] in drop_expression:
            r["expression"] = ""
    out = tmp_path / name
    pd.DataFrame(rows)[["variant", "activity", "expression", "cost"]].to_csv(out, index=False)
    return out


def test_a_plate_with_a_column_per_objective_drives_the_round_and_the_front(tmp_path):
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    first = list(pd.read_csv(lab.propose().path)["variant"])
    lab.record(_plate(tmp_path, first, "p1.csv", drop_expression=first[:3]))
    second = lab.propose(force=True)
    record = json.loads((lab.run_dir / "rounds/round-002/acquire.json").read_text())
    assert record["objectives"]["used"] == ["activity", "expression", "cost"]
    assert record["objectives"]["measured"] == [12, 9, 12]  # three wells gave no expression
    assert record["strategy"].startswith("desirability")
    proposed = list(pd.read_csv(second.path)["variant"])
    assert len(proposed) == 8 and not set(proposed) & set(first)
    front = lab.service.pareto(lab.user, lab.name)
    assert front.objectives == ["activity", "expression", "cost"] and front.points
    measured = {v: _values(v) for v in first[3:]}
    for p in front.points:  # each point is a measured variant no other one dominates
        a = measured[p.variant]
        assert p.values == {"activity": a[0], "expression": pytest.approx(a[1]), "cost": a[2]}
        assert not any(b[0] >= a[0] and b[1] >= a[1] and b[2] <= a[2] and b != a for b in measured.values())
    history = lab.service.history(lab.user, lab.name)
    assert history[0].hypervolume is not None and history[0].hypervolume >= 0


def test_a_plate_missing_every_objective_in_a_well_is_refused_with_its_line(tmp_path):
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    first = list(pd.read_csv(lab.propose().path)["variant"])
    out = tmp_path / "bad.csv"
    out.write_text("variant,activity,expression,cost\n" + f"{first[0]},1,0.5,2\n{first[1]},,,\n"
                   + f"{first[2]},1,lots,2\n")
    with pytest.raises(RecordError) as err:
        lab.record(out)
    problems = {(p.line, p.column) for p in err.value.problems}
    assert (3, "activity") in problems and (4, "expression") in problems
    assert lab.service.plates(lab.user, lab.name) == []


def test_the_stored_rows_keep_every_objective_and_single_objective_hashes_do_not_move(tmp_path):
    spec = CampaignSpec.model_validate(SPEC)
    rows = ingest.plate_rows(read_table(_plate(tmp_path, ["V39A", "V39C"], "p.csv", drop_expression=["V39C"])),
                             spec, None)
    back = ingest.parse_assay_rows(ingest.assay_bytes(rows))
    assert back["value:expression"].isna().tolist() == [False, True]
    assert back["value:cost"].tolist() == [_values("V39A")[2], _values("V39C")[2]]
    single = CampaignSpec.model_validate({k: v for k, v in SPEC.items() if k != "objectives"})
    plain = ingest.check_rows([ingest.RawRow(1, "V39A", "1.5")], single, None, "x")
    assert ingest.assay_bytes(plain) == b"variant,value,failed,replicate\nV39A,1.5,0,\n"


def test_objectives_are_checked_by_name():
    base = {k: v for k, v in SPEC.items() if k != "objectives"}
    for objectives, field in [([{"name": "activity"}], "objectives"),
                              ([{"name": "a"}, {"name": "A"}], "objectives[1].name"),
                              ([{"name": "a"}, {"name": "value"}], "objectives[1].name"),
                              ([{"name": "a"}, {"name": "b c"}], "objectives[1].name"),
                              ([{"name": "a"}, {"name": "b", "weight": 0}], "weight")]:
        with pytest.raises(ValidationError, match=field.replace("[", r"\[").replace("]", r"\]")):
            CampaignSpec.model_validate(base | {"objectives": objectives})
    spec = CampaignSpec.model_validate(SPEC)
    assert spec.objective.name == "activity" and [o.name for o in spec.further_objectives] == ["expression", "cost"]
    again = CampaignSpec.model_validate(spec.model_dump(by_alias=True))
    assert again == spec


def test_the_front_on_a_known_set():
    data = pd.DataFrame({"variant": list("abcde"), "value": [1.0, 2.0, 3.0, 0.5, 2.0],
                         "value:cost": [1.0, 2.0, 5.0, 0.1, 3.0], "failed": False})
    spec = CampaignSpec.model_validate(SPEC | {"objectives": [{"name": "activity"},
                                                              {"name": "cost", "direction": "minimize"}]})
    front = pareto_front(data, spec.all_objectives)
    assert front.variants == ["c", "b", "a", "d"]  # e is dominated by b (same activity, costlier)
    assert front.reference == [0.5, 5.0]
    # the area the front dominates above (0.5, -5) in (activity, -cost): a staircase
    steps = [(3.0, -5.0), (2.0, -2.0), (1.0, -1.0), (0.5, -0.1)]
    area = sum((a - 0.5) * (c - prev) for (a, c), prev in zip(steps[1:], [-5.0, -2.0, -1.0])) + 0.0
    assert front.hypervolume == pytest.approx(area)
    assert np.array_equal(front.values[:, 1], [5.0, 2.0, 1.0, 0.1])


@pytest.mark.parametrize("m", [2, 3, 4])
def test_the_operators_front_and_hypervolume_equal_botorchs(m):
    from activeloop.ml import multiobjective
    from activeloop.steps import objectives

    rng = np.random.default_rng(m)
    for n in (1, 7, 60):
        Y = rng.normal(size=(n, m))
        Y[n // 2:n // 2 + 2] = Y[0]  # equal rows
        ref = np.quantile(Y, 0.2, axis=0) if n > 1 else Y[0] - 1
        ours, theirs = objectives.pareto_mask(Y), multiobjective.pareto_mask(Y)
        # BoTorch keeps one of equal rows, we keep every variant (two with equal values are both on the front)
        assert np.array_equal(np.unique(Y[ours], axis=0), np.unique(Y[theirs], axis=0)) and ours.sum() >= theirs.sum()
        assert objectives.hypervolume(Y, ref) == pytest.approx(multiobjective.hypervolume(Y, ref), rel=1e-9)
