import json

import numpy as np
import pytest

from activeloop.errors import InputError
from activeloop.landscapes import load_landscape
from activeloop.local.report import run_strategies
from activeloop.local.simulate import Strategy, summarize


def test_default_strategy_beats_random_on_a_small_landscape(small_landscape_csv):
    land = load_landscape(small_landscape_csv)
    assert len(land) == 8000
    strategies = [
        Strategy("default", "onehot", "gp_epistasis", "thompson", "rank"),
        Strategy("random", acquisition="random"),
    ]
    recs = run_strategies(land, strategies, list(range(4)), rounds=3, batch=20, init=30)
    s = {st.name: summarize([r for r in recs if r.strategy == st.name], land) for st in strategies}
    default = s["default"]["rounds"][-1]["mean_normalized_best"]
    random_ = s["random"]["rounds"][-1]["mean_normalized_best"]
    assert s["default"]["rounds"][-1]["measured"] == 90
    assert default > random_ + 0.15, (default, random_)
    # same seeds -> same initial draw for both strategies
    assert s["default"]["rounds"][0] == s["random"]["rounds"][0]


def test_simulate_command_writes_table_plot_and_summary(small_landscape_csv, tmp_path):
    from typer.testing import CliRunner

    from activeloop.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["simulate", "--landscape", str(small_landscape_csv), "--seeds", "2", "--rounds", "2",
         "--batch", "10", "--init", "20", "--run-dir", str(out), "--summary-json", str(tmp_path / "s.json")],
    )
    assert result.exit_code == 0, result.output
    assert "round 2" in result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["seeds"] == 2 and summary["landscape"] == "small"
    assert [r["measured"] for r in summary["rounds"]] == [20, 30, 40]
    assert all(0 < r["mean_normalized_best"] <= 1 for r in summary["rounds"])
    assert np.all(np.diff([r["mean_normalized_best"] for r in summary["rounds"]]) >= 0)
    assert (out / "campaign.png").stat().st_size > 10_000
    assert (out / "rounds.csv").read_text().startswith("strategy,seed,round")


def test_gb1_loads_from_the_shared_copy(gb1_csv, monkeypatch):
    monkeypatch.setenv("ACTIVELOOP_GB1_CSV", str(gb1_csv))
    land = load_landscape("gb1")
    assert len(land) == 149_361
    assert land.library.names[int(np.argmax(land.fitness))] == "V39F:D40W:G41A:V54A"
    assert abs(land.global_max - 8.762) < 1e-3


def test_gb1_without_a_local_copy_is_fetched_with_a_pinned_url_and_checksum(monkeypatch, tmp_path, gb1_csv):
    import pooch

    from activeloop import landscapes

    calls = {}

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.update(url=url, known_hash=known_hash, fname=fname)
        return str(gb1_csv)  # what pooch returns once the download matched the hash

    monkeypatch.delenv("ACTIVELOOP_GB1_CSV", raising=False)
    monkeypatch.setattr(pooch, "os_cache", lambda name: tmp_path / "cache")
    monkeypatch.setattr(landscapes, "development_shared", lambda: tmp_path / "no-shared")
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    land = landscapes.load_landscape("gb1")
    assert len(land) == 149_361
    assert calls["known_hash"] == "sha256:b82393d47b09281db823c661a3df6acac89179119eb2e0d1daa793052fe0228b"
    assert "fhalab/MLDE/f5ac34d13b15f3ce3fa9deb1d043a5e97fe46cdc" in calls["url"]
    monkeypatch.setenv("ACTIVELOOP_GB1_CSV", str(tmp_path / "missing.csv"))
    with pytest.raises(InputError, match="ACTIVELOOP_GB1_CSV: .* does not exist"):
        landscapes.load_landscape("gb1")


def test_gb1_is_found_in_the_cache_then_beside_a_checkout(monkeypatch, tmp_path, gb1_csv):
    import shutil

    import pooch

    from activeloop import landscapes

    monkeypatch.delenv("ACTIVELOOP_GB1_CSV", raising=False)
    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: pytest.fail("nothing should be downloaded"))
    shared = tmp_path / "shared"
    (shared / "datasets").mkdir(parents=True)
    shutil.copy(gb1_csv, shared / "datasets" / "gb1_wu2016.csv")
    monkeypatch.setattr(landscapes, "development_shared", lambda: shared)
    monkeypatch.setattr(pooch, "os_cache", lambda name: tmp_path / "cache")
    assert landscapes.fetch_known("gb1") == shared / "datasets" / "gb1_wu2016.csv"
    (tmp_path / "cache").mkdir()
    shutil.copy(gb1_csv, tmp_path / "cache" / "gb1.csv")
    assert landscapes.fetch_known("gb1") == tmp_path / "cache" / "gb1.csv"


def test_offline_without_the_data_the_error_is_one_line_naming_the_variable(monkeypatch, tmp_path):
    import pooch
    from typer.testing import CliRunner

    from activeloop import landscapes
    from activeloop.cli import app

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'raw.githubusercontent.com' ([Errno -3] Temporary failure)")

    monkeypatch.delenv("ACTIVELOOP_GB1_CSV", raising=False)
    monkeypatch.setattr(pooch, "retrieve", offline)
    monkeypatch.setattr(pooch, "os_cache", lambda name: tmp_path / "cache")
    monkeypatch.setattr(landscapes, "development_shared", lambda: tmp_path / "no-shared")
    result = CliRunner().invoke(app, ["simulate", "--landscape", "gb1", "--seeds", "1", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "ACTIVELOOP_GB1_CSV" in lines[0] and "could not be downloaded" in lines[0]


def _records_without_time(recs):
    return [(r.strategy, r.seed, r.round, r.measured, r.best_fitness, r.found_global_max) for r in recs]


def test_seeds_run_in_processes_give_the_same_records_in_the_same_order(small_landscape_csv):
    land = load_landscape(small_landscape_csv)
    strategies = [Strategy("focused", start="focused", prior=True), Strategy("random", acquisition="random")]
    kw = dict(rounds=1, batch=10, init=20)
    one = run_strategies(land, strategies, [0, 1, 2], jobs=1, **kw)
    two = run_strategies(land, strategies, [0, 1, 2], jobs=2, **kw)
    assert _records_without_time(one) == _records_without_time(two)
    assert [(r.strategy, r.seed) for r in one][:2] == [("focused", 0), ("focused", 0)]


def test_a_zero_shot_first_batch_takes_the_top_of_a_score_file(small_landscape_csv, tmp_path):
    land = load_landscape(small_landscape_csv)
    names = land.library.names_of(np.arange(len(land)))
    oracle = tmp_path / "oracle.csv"
    import pandas as pd

    pd.DataFrame({"variant": names, "score": land.fitness}).to_csv(oracle, index=False)
    strategies = [Strategy("oracle", start="zeroShot", scorer=str(oracle)), Strategy("random", acquisition="random")]
    recs = run_strategies(land, strategies, [0, 1], rounds=1, batch=5, init=10)
    first = {(r.strategy, r.seed): r for r in recs if r.round == 0}
    # scores equal to fitness: the first batch already holds the global maximum, whatever the seed
    assert all(first["oracle", s].found_global_max for s in (0, 1))
    assert not all(first["random", s].found_global_max for s in (0, 1))


def test_a_score_file_missing_variants_is_refused_naming_the_field(small_landscape_csv, tmp_path):
    land = load_landscape(small_landscape_csv)
    partial = tmp_path / "partial.csv"
    partial.write_text("variant,score\nAAA,1.0\n")
    with pytest.raises(InputError, match="scorer"):
        run_strategies(land, [Strategy("z", start="zeroShot", scorer=str(partial))], [0], rounds=1, batch=5, init=10)
