"""Model choice: the model grammar, the choice rule, and `activeloop bench-models` on BLAT with tiny models."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from activeloop.cli import app
from activeloop.errors import ConfigError
from activeloop.ml.zoo import parse_model
from activeloop.modelbench import choose, top_k_recall


def test_model_names_parse_and_bad_names_say_what_is_wrong():
    assert parse_model("ridge:onehot").head == "ridge"
    spec = parse_model("lora:unirep=256")
    assert (spec.head, spec.features, spec.backbone) == ("lora", "unirep", "unirep:256")
    st = parse_model("student-cnn8*4")
    assert (st.is_student, st.architecture, st.channels, st.members) == (True, "cnn", 8, 4)
    for bad, says in [
        ("onehot", "HEAD:FEATURES"),
        ("lora:onehot", "lora needs a language model"),
        ("ridge:esm", "name the model"),
        ("ridge:kmers", "features 'kmers' unknown"),
        ("svm:onehot", "head 'svm' unknown"),
        ("ridge:unirep=128", "published UniRep sizes"),
    ]:
        with pytest.raises(ConfigError, match=says):
            parse_model(bad)


def test_top_k_recall_and_the_smallest_model_within_tolerance():
    y = np.arange(10.0)
    assert top_k_recall(y, y, 3) == 1.0
    assert top_k_recall(y, -y, 3) == 0.0
    assert top_k_recall(y, np.r_[y[:8], 0, 100], 2) == 0.5
    table = pd.DataFrame({
        "model": ["big", "medium", "tiny", "tinier-but-bad"],
        "spearman": [0.80, 0.79, 0.781, 0.70],
        "bytes": [10**9, 10**7, 10**5, 10**3],
        "fit_cpu_s": [100.0, 10.0, 1.0, 0.1],
    })
    assert choose(table, 0.02) == ("tiny", "big")
    assert choose(table, 0.011) == ("medium", "big")
    assert choose(table, 0.0) == ("big", "big")


def test_unknown_model_is_refused_before_any_work(tmp_path, blat_csv):
    result = CliRunner().invoke(app, ["bench-models", "--task", str(blat_csv), "--models",
                                      "ridge:onehot,ridge:esm", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "models" in result.output and "name the model" in result.output
    assert not (tmp_path / "b").exists()


def test_bench_models_on_blat_with_tiny_backbones_writes_a_leaderboard(tmp_path, blat_csv, tiny_esm):
    from activeloop.ml.unirep import build_tiny_unirep

    unirep = build_tiny_unirep(tmp_path / "unirep", hidden=8, layers=1)
    models = ["ridge:onehot", f"lora:esm={tiny_esm}", f"ridge:unirep={unirep}", "student-cnn8*2"]
    out = tmp_path / "bench"
    result = CliRunner().invoke(app, [
        "bench-models", "--task", str(blat_csv), "--fitness-column", "2500", "--first-position", "24",
        "--parent", BLAT, "--models", ",".join(models), "--train", "200", "--test", "600",
        "--epochs", "1", "--top-k", "30", "--teacher", "ridge:onehot", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board["model"]) == models
    assert np.isfinite(board["spearman"]).all()
    for col in ["top30_recall", "fit_cpu_s", "score_cpu_s_per_10k", "energy_kwh", "co2e_kg",
                "peak_rss_mb", "bytes"]:
        assert np.isfinite(board[col]).all() and (board[col] >= 0).all(), col
    assert (board["energy_kwh"] > 0).all() and (board["peak_rss_mb"] > 50).all()
    # one-hot ridge finds real signal in 200 measured single mutants of TEM-1
    onehot = board.set_index("model").loc["ridge:onehot"]
    assert onehot["spearman"] > 0.3
    # the language models' bytes include their backbone, so they are bigger than the ridge
    assert board.set_index("model").loc[f"lora:esm={tiny_esm}", "bytes"] > onehot["bytes"] / 10
    student = board.set_index("model").loc["student-cnn8*2"]
    assert student["teacher"] == "ridge:onehot"  # the most accurate non-student here
    assert student["spearman_teacher"] > 0.5
    meta = json.loads((out / "leaderboard.json").read_text())
    assert meta["choice"] in models and meta["best"] == board.loc[board["spearman"].idxmax(), "model"]
    assert (out / "leaderboard.png").stat().st_size > 10_000
    assert f"smallest within 0.02 Spearman of it: {meta['choice']}" in " ".join(result.output.split())


BLAT = (
    "HPETLVKVKDAEDQLGARVGYIELDLNSGKILESFRPEERFPMMSTFKVLLCGAVLSRVDAGQEQLGRRIHYSQNDLVEYSPVTEKHLTDGMTV"
    "RELCSAAITMSDNTAANLLLTTIGGPKELTAFLHNMGDHVTRLDRWEPELNEAIPNDERDTTMPAAMATTLRKLLTGELLTLASRQQLIDWMEAD"
    "KVAGPLLRSALPAGWFIADKSGAGERGSRGIIAALGPDGKPSRIVVIYTTGSQATMDERNRQIAEIGASLIKHW"
)


def test_errors_survive_the_trip_back_from_a_model_process():
    import pickle

    from activeloop.errors import RecordError, RowProblem

    err = pickle.loads(pickle.dumps(ConfigError("backbone.model", "no weights")))
    assert isinstance(err, ConfigError) and (err.field, str(err)) == ("backbone.model", "backbone.model: no weights")
    rec = pickle.loads(pickle.dumps(RecordError("plate.csv", [RowProblem(3, "value", "bad value")])))
    assert rec.problems == [RowProblem(3, "value", "bad value")] and "line 3: value: bad value" in str(rec)
