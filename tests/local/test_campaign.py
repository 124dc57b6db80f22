"""The workstation flow through the campaign service: init -> propose -> record -> propose, with the
lab's round semantics."""

import os
import stat

import pandas as pd
import pytest
import yaml

from activeloop.errors import ConfigError, ConflictError, InputError, NotFoundError, RecordError, StateError
from activeloop.landscapes import GB1_PARENT
from activeloop.local.runner import run_shards
from activeloop.ml.sequences import VariantParser
from activeloop.testing.workstation import Lab

SPEC = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKW"},
    "surrogate": {"kind": "gp_epistasis", "encoding": "onehot"},
    "acquisition": {"strategy": "thompson", "batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 2,
}


@pytest.fixture
def lab(tmp_path) -> Lab:
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    return lab


def value(v: str) -> float:
    return float(sum(ord(c) for c in v) % 17)


def plate(tmp_path, variants, name="plate.csv", failed=()) -> str:
    out = tmp_path / name
    pd.DataFrame({"variant": list(variants),
                  "value": ["" if v in failed else value(v) for v in variants],
                  "status": ["failed" if v in failed else "" for v in variants]}).to_csv(out, index=False)
    return out


def _two_rounds(tmp_path, spec: dict):
    """Init a campaign from ``spec``, propose, record answers, propose again: ``(lab, p1, p2)``."""
    lab = Lab(tmp_path / "run")
    lab.init(spec)
    p1 = lab.propose()
    lab.record(plate(tmp_path, pd.read_csv(p1.path)["variant"]))
    return lab, p1, lab.propose()


def test_a_round_stays_open_until_its_plates_are_in(lab, tmp_path):
    p1 = lab.propose()
    first = list(pd.read_csv(p1.path)["variant"])
    assert p1.round == 1 and p1.new and len(first) == 12 and len(set(first)) == 12
    # one plate of three: the round is still waiting, and propose says how many are pending
    assert lab.record(plate(tmp_path, first[:4], "a.csv")).rows == 4
    again = lab.propose()
    assert (again.round, again.new, again.summary.pending) == (1, False, 8)
    lab.record(plate(tmp_path, first[4:8], "b.csv"))
    assert lab.propose().summary.pending == 4 and not lab.propose().new
    lab.record(plate(tmp_path, first[8:], "c.csv"))
    p2 = lab.propose()
    assert (p2.round, p2.new) == (2, True) and p2.record["measured"] == 12
    second = pd.read_csv(p2.path)
    assert len(second) == 8 and second["predicted"].notna().all() and (second["score_sd"] > 0).all()
    assert list(second["rank"]) == list(range(1, 9)) and not set(second["variant"]) & set(first)
    assert p2.record["measurements_sha256"] and p2.record["proposals_sha256"]


def test_the_same_plate_twice_records_nothing_and_repeats_need_replicate_numbers(lab, tmp_path):
    first = list(pd.read_csv(lab.propose().path)["variant"])
    p = plate(tmp_path, first[:6])
    assert lab.record(p).recorded
    again = lab.record(p)
    assert not again.recorded and again.duplicate_of == "plate"
    # the same rows in another file (other name, other order) are the same results
    shuffled = tmp_path / "copy.tsv"
    pd.read_csv(p).to_csv(shuffled, sep="\t", index=False)
    assert not lab.record(shuffled).recorded
    assert lab.detail().measured == 6 and len(list((lab.run_dir / "assays").glob("*.json"))) == 1
    dup = tmp_path / "dup.csv"
    dup.write_text(f"variant,value\n{first[6]},1.0\n{first[6]},1.5\n")
    with pytest.raises(RecordError, match=r"line 3: variant: .* repeats line 2; number replicates"):
        lab.record(dup)
    dup.write_text(f"variant,value,replicate\n{first[6]},1.0,1\n{first[6]},2.0,2\n")
    assert lab.record(dup).rows == 2
    data = lab.measurements().set_index("variant")
    assert data.loc[first[6], "value"] == 1.5 and data.loc[first[6], "n"] == 2


def test_a_correction_supersedes_explicitly(lab, tmp_path):
    first = list(pd.read_csv(lab.propose().path)["variant"])
    lab.record(plate(tmp_path, first[:3], "p1.csv"))
    wrong = tmp_path / "p1-fixed.csv"
    wrong.write_text(f"variant,value\n{first[0]},99\n")
    with pytest.raises(InputError, match="supersedes: no recorded plate 'p9'"):
        lab.record(wrong, supersedes=["p9"])
    out = lab.record(wrong, supersedes=["p1"])
    assert out.recorded and out.supersedes == ["p1"]
    data = lab.measurements()
    assert list(data["variant"]) == [first[0]] and data["value"].iloc[0] == 99


def test_failed_wells_end_pending_are_never_proposed_again_nor_fitted(lab, tmp_path):
    first = list(pd.read_csv(lab.propose().path)["variant"])
    failed = first[:2]
    out = lab.record(plate(tmp_path, first, failed=failed))
    assert out.failed == 2
    r1 = lab.rounds()[0]
    assert r1.failed == 2 and r1.pending == 0 and lab.detail().failed == 2
    p2 = lab.propose()
    assert p2.new and p2.record["measured"] == 10 and p2.record["failed_excluded"] == 2
    assert not set(pd.read_csv(p2.path)["variant"]) & set(first)


def test_rounds_are_enforced_shown_and_extended_explicitly(lab, tmp_path):
    for _ in range(3):  # the first batch, then rounds: 2
        p = lab.propose()
        lab.record(plate(tmp_path, pd.read_csv(p.path)["variant"], f"r{p.round}.csv"))
    assert lab.detail().rounds_planned == 3
    with pytest.raises(StateError, match=r"done its 3 rounds .*activeloop extend --rounds 3"):
        lab.propose()
    with pytest.raises(StateError):
        lab.propose(force=True)
    lab.extend(3)
    p4 = lab.propose()
    assert p4.round == 4 and lab.detail().rounds_planned == 4


def test_closing_a_round_lets_the_next_start_and_pending_variants_are_not_reproposed(lab, tmp_path):
    first = list(pd.read_csv(lab.propose().path)["variant"])
    lab.record(plate(tmp_path, first[:6]))
    assert lab.close().closed_round == 1
    p2 = lab.propose()
    assert p2.round == 2 and p2.record["pending_excluded"] == 6
    assert not set(pd.read_csv(p2.path)["variant"]) & set(first)
    r1 = lab.rounds()[0]
    assert r1.closed and r1.pending == 6
    # a late plate for round 1 still counts, as round 1's results
    lab.record(plate(tmp_path, first[6:], "late.csv"))
    assert lab.rounds()[0].pending == 0


def test_record_reports_every_bad_row_and_records_nothing(lab, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("variant,value\nAAA,1.5\nV39C:D40E,2.0\n")
    assert lab.record(good).rows == 2
    before = sorted(p.name for p in (lab.run_dir / "assays").iterdir())
    bad = tmp_path / "bad.csv"
    bad.write_text("variant,value\nAAA,1.0\nV39Z,2.0\nCCC,abc\nDDD,nan\nV39A:D40A:G41A:T44A,1\nMMM,3\nEEE,\n")
    with pytest.raises(RecordError) as info:
        lab.record(bad)
    assert info.value.lines == [3, 4, 5, 6, 7, 8]
    text = str(info.value)
    assert "line 3: variant: V39Z: 'Z' is not one of the 20 amino acids" in text
    assert "line 4: value: 'abc' is not a number" in text
    assert "line 5: value: 'nan' is not a finite number" in text
    assert "line 6: variant: V39A:D40A:G41A:T44A is not in the campaign's library" in text
    assert "line 8: value: empty; give a number, or mark a failed well with status 'failed'" in text
    assert sorted(p.name for p in (lab.run_dir / "assays").iterdir()) == before


def test_bad_specs_name_the_field_and_create_nothing(tmp_path):
    for i, (bad, match) in enumerate([
        (dict(SPEC, acquisition={"strategy": "ei", "batchSize": 8}), "acquisition.strategy"),
        (dict(SPEC, batchsize=3), "batchsize: Extra inputs are not permitted"),
        (dict(SPEC, library={"sites": [39, 99]}), "site 99 is beyond"),
    ]):
        with pytest.raises(ConfigError, match=match):
            Lab(tmp_path / f"r{i}").init(bad)
        assert not (tmp_path / f"r{i}").exists()


def test_init_refuses_to_overwrite_a_campaign(lab, tmp_path):
    with pytest.raises(ConflictError, match="exists already"):
        Lab(lab.run_dir).init(SPEC)


def test_a_missing_run_dir_is_an_error_that_creates_nothing(tmp_path):
    (tmp_path / "p.csv").write_text("variant,value\nAAA,1\n")
    for call in (lambda lab: lab.propose(), lambda lab: lab.record(tmp_path / "p.csv"), lambda lab: lab.detail(),
                 lambda lab: lab.service.proposals(lab.user, lab.name)):
        with pytest.raises(NotFoundError, match=r"no campaign 'typo': .*typo holds none"):
            call(Lab(tmp_path / "typo"))
        assert not (tmp_path / "typo").exists()


def test_run_files_are_readable_by_the_lab_group(tmp_path):
    old = os.umask(0o002)
    try:
        lab = Lab(tmp_path / "run")
        lab.init(SPEC)
        p = lab.propose()
    finally:
        os.umask(old)
    for path in (tmp_path / "run" / "campaign.yaml", p.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o664


def test_esm_encoding_tunes_lora_in_the_loop(tmp_path, tiny_esm):
    spec = dict(
        SPEC,
        library={"sites": [39, 40], "alphabet": "ACDEF"},
        backbone={"model": str(tiny_esm)},
        lora={"rank": 2, "epochs": 2, "batchSize": 8},
        surrogate={"kind": "gp", "encoding": "esm"},
        acquisition={"strategy": "ucb", "batchSize": 4},
        initialBatchSize=6,
    )
    lab, _, p2 = _two_rounds(tmp_path, spec)
    tune = yaml.safe_load((lab.run_dir / "rounds/round-002/tune.json").read_text())
    assert tune["tuned"] is True and 0 < tune["trainable_fraction"] < 0.5
    assert "adapter_model.safetensors" in tune["model_sha256"] and tune["cost"]["cpu_seconds"] > 0
    assert p2.record["tune_sha256"] and len(pd.read_csv(p2.path)) == 4


def test_cascade_acquisition_sends_few_candidates_to_the_teacher(tmp_path):
    spec = {**SPEC, "acquisition": {"strategy": "thompson", "batchSize": 8,
                                    "cascade": {"mode": "always", "fraction": 0.1, "students": 2,
                                                "unlabelled": 200, "epochs": 5, "channels": 4}}}
    _, p1, p2 = _two_rounds(tmp_path, spec)
    cascade = p2.record["cascade"]
    assert cascade["library"] == 1000 and cascade["sent_to_teacher"] == 100
    assert cascade["teacher_labelled"] == 200 and cascade["student_parameters"] > 0
    sent = pd.read_csv(cascade["candidates_uri"].removeprefix("file://"))
    assert len(sent) == 100 and (sent["student_std"] >= 0).all()
    proposed = pd.read_csv(p2.path)
    assert len(proposed) == 8
    # every proposal is one the teacher scored, and none was measured before
    assert set(proposed["variant"]) <= set(sent["variant"])
    assert not set(proposed["variant"]) & set(pd.read_csv(p1.path)["variant"])
    assert not set(sent["variant"]) & set(pd.read_csv(p1.path)["variant"])


def test_unirep_backbone_with_auto_cascade_in_the_loop(tmp_path):
    """A tuned UniRep teacher behind the cascade: its embeddings are computed only for the
    measured variants, the variants the students are given to learn, and the candidates sent."""
    from activeloop.ml.unirep import build_tiny_unirep

    weights = build_tiny_unirep(tmp_path / "unirep", hidden=8, layers=1)
    spec = dict(
        SPEC,
        library={"sites": [39, 40, 41], "alphabet": "ACDEFGHIKW"},
        backbone={"model": str(weights)},
        lora={"rank": 2, "epochs": 2, "batchSize": 8},
        surrogate={"kind": "gp", "encoding": "esm"},
        acquisition={"strategy": "thompson", "batchSize": 8,
                     "cascade": {"minLibrary": 500, "fraction": 0.05, "students": 2,
                                 "unlabelled": 100, "epochs": 3, "channels": 4}},
    )
    lab, _, p2 = _two_rounds(tmp_path, spec)
    tune = yaml.safe_load((lab.run_dir / "rounds/round-002/tune.json").read_text())
    assert tune["tuned"] is True and tune["backbone"] == str(weights)
    cascade = p2.record["cascade"]  # mode auto: language-model features, library 1,000 >= 500
    assert cascade["sent_to_teacher"] == 50 and cascade["teacher_labelled"] == 100
    sent = set(pd.read_csv(lab.run_dir / "rounds/round-002/cascade.csv")["variant"])
    assert set(pd.read_csv(p2.path)["variant"]) <= sent


def test_each_round_compares_tuned_with_frozen_and_the_surrogate_uses_the_better(tmp_path, tiny_esm):
    """A learning rate far too high: tuning loses to the frozen probe, and the surrogate is not given
    the damaged model (the tuned branch is exercised by the test above, where there is no comparison)."""
    spec = dict(
        SPEC,
        library={"sites": [39, 40], "alphabet": "ACDEFGHIKW"},
        backbone={"model": str(tiny_esm)},
        lora={"rank": 2, "epochs": 3, "batchSize": 4, "cvFolds": 2, "learningRate": 30.0,
              "loss": "ranking"},
        surrogate={"kind": "gp", "encoding": "esm"},
        acquisition={"strategy": "ucb", "batchSize": 4},
        initialBatchSize=12,
    )
    lab, _, p2 = _two_rounds(tmp_path, spec)
    tune = yaml.safe_load((lab.run_dir / "rounds/round-002/tune.json").read_text())
    cv = tune["cv_spearman"]
    assert cv["folds"] == 2 and -1 <= cv["tuned"] <= 1 and -1 <= cv["frozen"] <= 1
    assert tune["features"] == ("tuned" if cv["tuned"] > cv["frozen"] else "frozen") == "frozen"
    assert tune["loss"] == "ranking"
    # a model is written (and read by acquire) only when tuning won
    model_dir = lab.run_dir / "rounds/round-002/model"
    assert (model_dir.is_dir() and any(model_dir.iterdir())) == (tune["features"] == "tuned")
    assert bool(tune["model_sha256"]) == (tune["features"] == "tuned")
    assert len(pd.read_csv(p2.path)) == 4


@pytest.mark.parametrize("local", [{}, {"local": {"fraction": 0.5, "fromRound": 2}}], ids=["global", "local"])
def test_sharded_rounds_in_processes_propose_what_one_process_proposes(tmp_path, local):
    """1,000 candidates in 3 shards scored by 2 processes: the batch one process chooses (UCB
    merges real top lists; Thompson's shortlist is larger than this library), with or without a
    local part."""
    spec = {**SPEC, "acquisition": {"strategy": "ucb", "batchSize": 8, "shards": 3, **local}}
    lab = Lab(tmp_path / "sharded")
    lab.init(spec)
    p1 = lab.propose()
    lab.record(plate(tmp_path, pd.read_csv(p1.path)["variant"]))
    seen = []
    p2 = lab.propose(jobs=2, on_progress=lambda p: seen.append(p.detail) if p.state == "shard" else None)
    assert sorted(r["shard"] for r in seen) == [0, 1, 2] and sum(r["ranked"] for r in seen) == 1000 - 12
    assert p2.record["shards"]["shards"] == 3 and p2.record["shards"]["shortlist"] == 8
    (tmp_path / "one").mkdir()
    _, _, whole = _two_rounds(tmp_path / "one", SPEC | {"acquisition": {"strategy": "ucb", "batchSize": 8, **local}})
    assert list(pd.read_csv(p2.path)["variant"]) == list(pd.read_csv(whole.path)["variant"])
    assert p2.record["local"]["proposed"] == whole.record["local"]["proposed"] == (4 if local else 0)
    # a shard already written is not run again (idempotent by its index)
    again = run_shards(tmp_path / "sharded", 2, 3)
    assert [r["seconds"] for r in again] == [r["seconds"] for r in sorted(seen, key=lambda r: r["shard"])]


def test_rounds_from_local_from_round_spend_part_of_the_batch_next_to_the_best(tmp_path):
    spec = {**SPEC, "acquisition": {**SPEC["acquisition"], "local": {"fraction": 0.5, "around": 1, "fromRound": 2}}}
    lab, p1, p2 = _two_rounds(tmp_path, spec)
    assert p1.record["local"]["proposed"] == 0 and "from round 2" in p1.record["local"]["why_not"]
    first = list(pd.read_csv(p1.path)["variant"])
    note = p2.record["local"]
    (best,) = note["around"]
    assert value(best) == max(map(value, first)) and best in first
    assert note["planned"] == note["proposed"] == 4 and note["neighbours"] > 4
    parser = VariantParser(GB1_PARENT)
    near = list(pd.read_csv(p2.path)["variant"])[-4:]
    # each of the last four differs from the best measured variant at exactly one site
    assert all(sum(a != b for a, b in zip(parser.sequence(v, "v"), parser.sequence(best, "v"))) == 1 for v in near)
