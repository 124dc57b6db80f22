"""The workstation flow: init -> propose -> record -> propose, with validation that loses nothing."""

import pandas as pd
import pytest
import yaml

from activeloop.errors import ConfigError, RecordError
from activeloop.landscapes import GB1_PARENT
from activeloop.local import campaign as lc

SPEC = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKW"},
    "surrogate": {"kind": "gp_epistasis", "encoding": "onehot"},
    "acquisition": {"strategy": "thompson", "batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 3,
}


@pytest.fixture
def run_dir(tmp_path):
    spec = tmp_path / "campaign.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    lc.init_campaign(spec, tmp_path / "run")
    return tmp_path / "run"


def _answer(run_dir, proposals_path, tmp_path, name="plate.csv"):
    props = pd.read_csv(proposals_path)
    vals = [float(sum(ord(c) for c in v) % 17) for v in props["variant"]]
    out = tmp_path / name
    pd.DataFrame({"variant": props["variant"], "value": vals}).to_csv(out, index=False)
    return out


def _two_rounds(tmp_path, spec: dict):
    """Init a campaign from ``spec``, propose, record answers, propose again: ``(run, p1, p2)``."""
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    run = tmp_path / "run"
    lc.init_campaign(tmp_path / "spec.yaml", run)
    p1 = lc.propose(run)
    lc.record(run, _answer(run, p1.path, tmp_path))
    return run, p1, lc.propose(run)


def test_full_local_loop_survives_repeats(run_dir, tmp_path):
    p1 = lc.propose(run_dir)
    assert p1.round == 1 and p1.new
    first = pd.read_csv(p1.path)
    assert len(first) == 12 and first["variant"].is_unique
    # asking again before the lab answered returns the same batch, not a new one
    again = lc.propose(run_dir)
    assert (again.round, again.new) == (1, False)
    assert lc.record(run_dir, _answer(run_dir, p1.path, tmp_path)) == 12
    p2 = lc.propose(run_dir)
    assert p2.round == 2 and p2.record["measured"] == 12
    second = pd.read_csv(p2.path)
    assert len(second) == 8
    assert second["mean"].notna().all() and (second["std"] > 0).all()
    assert list(second["rank"]) == list(range(1, 9))
    assert not set(second["variant"]) & set(first["variant"])
    assert p2.record["measurements_sha256"] and p2.record["proposals_sha256"]
    # forcing a new round while round 2 is pending never re-proposes round 2's variants
    p3 = lc.propose(run_dir, force=True)
    assert p3.record["pending_excluded"] == 8
    assert not set(pd.read_csv(p3.path)["variant"]) & set(second["variant"])
    st = lc.status(run_dir)
    assert st["measured"] == 12
    assert [r["pending"] for r in st["rounds"]] == [0, 8, 8]


def test_record_reports_every_bad_row_and_appends_nothing(run_dir, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("variant,value\nAAA,1.5\nV39C:D40E,2.0\n")
    assert lc.record(run_dir, good) == 2
    before = (run_dir / "measurements.csv").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "variant,value\nAAA,1.0\nV39Z,2.0\nCCC,abc\nDDD,nan\nV39A:D40A:G41A:T44A,1\nMMM,3\n"
    )
    with pytest.raises(RecordError) as info:
        lc.record(run_dir, bad)
    lines = [n for n, _ in info.value.errors]
    assert lines[:3] == [3, 4, 5]
    text = str(info.value)
    assert "line 3: variant: V39Z: 'Z' is not one of the 20 amino acids" in text
    assert "line 4: value: 'abc' is not a number" in text
    assert "line 5: value: 'nan' is not a finite number" in text
    assert (run_dir / "measurements.csv").read_bytes() == before
    # variants outside the library (T44A; M at a site whose alphabet lacks M) are refused too
    outside = tmp_path / "outside.csv"
    outside.write_text("variant,value\nAAA,1.0\nV39A:D40A:G41A:T44A,1\nMMM,3\n")
    with pytest.raises(RecordError) as info:
        lc.record(run_dir, outside)
    assert [n for n, _ in info.value.errors] == [3, 4]
    assert (run_dir / "measurements.csv").read_bytes() == before


def test_bad_specs_name_the_field(tmp_path):
    bad = dict(SPEC, acquisition={"strategy": "ei", "batchSize": 8})
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="acquisition.strategy"):
        lc.init_campaign(tmp_path / "a.yaml", tmp_path / "r1")
    typo = dict(SPEC, batchsize=3)
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(typo))
    with pytest.raises(ConfigError, match="batchsize: Extra inputs are not permitted"):
        lc.init_campaign(tmp_path / "b.yaml", tmp_path / "r2")
    far = dict(SPEC, library={"sites": [39, 99]})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(far))
    with pytest.raises(ConfigError, match="site 99 is beyond"):
        lc.init_campaign(tmp_path / "c.yaml", tmp_path / "r3")
    assert not (tmp_path / "r1").exists() or not any((tmp_path / "r1").iterdir())


def test_init_refuses_to_overwrite_a_campaign(run_dir, tmp_path):
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(SPEC))
    with pytest.raises(ConfigError, match="already holds a campaign"):
        lc.init_campaign(tmp_path / "x.yaml", run_dir)


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
    run, _, p2 = _two_rounds(tmp_path, spec)
    tune = yaml.safe_load((run / "rounds/round-002/tune.json").read_text())
    assert tune["tuned"] is True and 0 < tune["trainable_fraction"] < 0.5
    assert "adapter_model.safetensors" in tune["model_sha256"]
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
    run, _, p2 = _two_rounds(tmp_path, spec)
    tune = yaml.safe_load((run / "rounds/round-002/tune.json").read_text())
    assert tune["tuned"] is True and tune["backbone"] == str(weights)
    cascade = p2.record["cascade"]  # mode auto: language-model features, library 1,000 >= 500
    assert cascade["sent_to_teacher"] == 50 and cascade["teacher_labelled"] == 100
    sent = set(pd.read_csv(run / "rounds/round-002/cascade.csv")["variant"])
    assert set(pd.read_csv(p2.path)["variant"]) <= sent
