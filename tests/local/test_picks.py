"""The scientist's picks (issue 20): variants a person adds to a round's batch lead it as given, the
model fills the rest and never proposes them itself, the record says who picked what, and a bad
pick is refused by name before anything starts."""

import json
import re

import pandas as pd
import pytest

from activeloop.errors import InputError
from activeloop.landscapes import GB1_PARENT
from activeloop.testing.workstation import Lab

SPEC = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKVW", "maxSubstitutions": 2},
    "surrogate": {"kind": "gp_epistasis", "encoding": "onehot"},
    "acquisition": {"strategy": "thompson", "batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 3,
}


def _value(v: str) -> float:
    return float(sum(map(ord, v)) % 11)


def _measure(lab: Lab, tmp_path, round_number: int) -> list[str]:
    variants = list(pd.read_csv(lab.run_dir / f"rounds/round-{round_number:03d}/proposals.csv")["variant"])
    out = tmp_path / f"plate{round_number}.csv"
    pd.DataFrame({"variant": variants, "value": [_value(v) for v in variants]}).to_csv(out, index=False)
    lab.record(out)
    return variants


def _proposals(lab: Lab, round_number: int) -> pd.DataFrame:
    return pd.read_csv(lab.run_dir / f"rounds/round-{round_number:03d}/proposals.csv", keep_default_na=False)


def test_picks_lead_the_batch_and_the_model_fills_the_rest(tmp_path):
    lab = Lab(tmp_path / "run", user="ana")
    lab.init(SPEC)
    # round 1: picks in any spelling the campaign reads, the first batch filled at random
    lab.service.next_round(lab.user, lab.name, wait=True, picks=["V39W:D40G", "KDG"])
    first = _proposals(lab, 1)
    assert len(first) == 12 and list(first["variant"][:2]) == ["V39W:D40G", "V39K"]
    assert list(first["picked_by"][:2]) == ["ana", "ana"] and set(first["picked_by"][2:]) == {""}
    assert first["variant"].is_unique
    measured = _measure(lab, tmp_path, 1)
    # round 2: the picks come first with the model's predictions, never proposed by the model
    picks = ["V39A:G41W", "D40E"]
    lab.service.next_round(User := lab.user, lab.name, wait=True, picks=picks)
    second = _proposals(lab, 2)
    assert len(second) == 8 and list(second["variant"][:2]) == picks
    assert second["predicted"][:2].map(lambda v: v != "").all()  # predictions for the picks too
    assert not set(second["variant"]) & set(measured) and second["variant"].is_unique
    inputs = json.loads((lab.run_dir / "rounds/round-002/inputs.json").read_text())
    assert inputs["picks"] == picks and inputs["picked_by"] == "ana"
    record = json.loads((lab.run_dir / "rounds/round-002/acquire.json").read_text())
    assert record["picked"] == 2 and record["picked_by"] == "ana" and record["proposed"] == 8
    # the API's view of the round says which were picked, and by whom
    rd = lab.service.round(User, lab.name, 2)
    assert [p.picked_by for p in rd.proposals[:3]] == ["ana", "ana", None]


def test_a_whole_batch_of_picks_needs_no_model_choice(tmp_path):
    lab = Lab(tmp_path / "run")
    lab.init(SPEC | {"initialBatchSize": 2})
    lab.service.next_round(lab.user, lab.name, wait=True, picks=["V39W", "V39A"])
    assert list(_proposals(lab, 1)["variant"]) == ["V39W", "V39A"]


@pytest.mark.parametrize("picks,field,problem", [
    (["V39W", "V39Z"], "picks[1]", "'Z' is not one of the 20 amino acids"),
    (["V39W", "WDG"], "picks[1]", "WDG is picks[0] again"),
    (["V39W:D40G:G41A"], "picks[0]", "3 substitutions; library.maxSubstitutions is 2"),
    (["V39W:D40Y"], "picks[0]", "site 40 allows only ACDEFGHIKVW"),
    (["N37A"], "picks[0]", "position 37 is not one of the sites"),
    ([f"V39{a}" for a in "ACDEFGHIKW"] + ["D40A", "D40C", "D40E"], "picks", "13 picks for a batch of 12"),
])
def test_a_bad_pick_is_refused_by_name_and_nothing_starts(tmp_path, picks, field, problem):
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    with pytest.raises(InputError, match=re.escape(field) + ".*" + re.escape(problem)):
        lab.service.next_round(lab.user, lab.name, wait=True, picks=picks)
    assert lab.service.campaign(lab.user, lab.name).current_round == 0
    assert not (lab.run_dir / "rounds").exists() or not list((lab.run_dir / "rounds").iterdir())


def test_measured_and_pending_variants_cannot_be_picked(tmp_path):
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    lab.propose()
    variants = list(_proposals(lab, 1)["variant"])
    out = tmp_path / "half.csv"
    pd.DataFrame({"variant": variants[:6], "value": [_value(v) for v in variants[:6]]}).to_csv(out, index=False)
    lab.record(out)
    with pytest.raises(InputError, match=f"picks\\[0\\]: {variants[0]} is measured already"):
        lab.service.next_round(lab.user, lab.name, wait=True, picks=[variants[0]])
    with pytest.raises(InputError, match=f"picks\\[0\\]: {variants[7]} was proposed in an earlier round"):
        lab.service.next_round(lab.user, lab.name, wait=True, picks=[variants[7]])
    assert lab.service.campaign(lab.user, lab.name).current_round == 1  # round 1 still open
