"""Earlier data (issue 20): measurements made before the campaign train the model from the first
round and are never proposed again; a related assay's plates are a second task for the model,
never the campaign's results."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from activeloop.errors import RecordError
from activeloop.landscapes import GB1_PARENT
from activeloop.ml.candidates import as_candidates
from activeloop.ml.library import CombinatorialLibrary
from activeloop.ml.loop import Related, fit_with_related, propose_batch, transform_targets, with_task_column
from activeloop.ml.surrogates import GPSurrogate
from activeloop.service.plates import RecordOptions
from activeloop.steps import ingest
from activeloop.steps.tables import read_table
from activeloop.testing.workstation import Lab

SPEC = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, 40, 41], "alphabet": "ACDEFGHIKVW"},
    "surrogate": {"kind": "gp_epistasis", "encoding": "onehot"},
    "acquisition": {"strategy": "thompson", "batchSize": 8},
    "initialBatchSize": 12,
    "rounds": 2,
}
LIBRARY = CombinatorialLibrary(GB1_PARENT, [39, 40, 41], "ACDEFGHIKVW")


def _value(v: str) -> float:
    return float(sum(map(ord, v)) % 13)


def _plate(tmp_path, variants, name, values=None) -> str:
    out = tmp_path / name
    pd.DataFrame({"variant": variants, "value": values if values is not None else [_value(v) for v in variants]}
                 ).to_csv(out, index=False)
    return out


def _record(lab: Lab, path, **options):
    return lab.service.record(lab.user, lab.name, read_table(path), RecordOptions(**options))


def test_earlier_measurements_train_the_first_round_and_are_never_proposed(tmp_path):
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    earlier = LIBRARY.names_of(np.arange(0, 1331, 37))  # 36 variants measured before
    _record(lab, _plate(tmp_path, earlier, "before.csv"), earlier=True)
    (plate,) = lab.service.plates(lab.user, lab.name)
    assert plate.earlier and plate.task is None
    first = lab.propose()
    record = json.loads((lab.run_dir / "rounds/round-001/acquire.json").read_text())
    assert record["strategy"] == "thompson" and record["measured"] == 36  # a model's choice, not a random draw
    proposed = list(pd.read_csv(first.path)["variant"])
    assert len(proposed) == 12 and not set(proposed) & set(earlier)
    assert pd.read_csv(first.path)["predicted"].notna().all()


def test_a_related_assay_is_a_second_task_and_never_a_result(tmp_path):
    lab = Lab(tmp_path / "run")
    lab.init(SPEC)
    first = lab.propose()
    ours = list(pd.read_csv(first.path)["variant"])
    _record(lab, _plate(tmp_path, ours, "ours.csv"))
    related = LIBRARY.names_of(np.arange(5, 1331, 29))
    other = _plate(tmp_path, related, "warm.csv", values=[100.0 + _value(v) for v in related])
    _record(lab, other, task="37 °C")
    detail = lab.service.campaign(lab.user, lab.name)
    assert detail.measured == 12 and detail.best_value < 100  # related values are not results
    views = {p.name: p for p in lab.service.plates(lab.user, lab.name)}
    assert views["warm"].task == "37 °C" and not views["warm"].earlier
    lab.propose(force=True)
    record = json.loads((lab.run_dir / "rounds/round-002/acquire.json").read_text())
    assert record["related"]["tasks"] == ["37 °C"] and record["related"]["measurements"] == len(related)
    assert -1.0 <= record["related"]["task_correlation"] <= 1.0
    inputs = json.loads((lab.run_dir / "rounds/round-002/inputs.json").read_text())
    assert inputs["related_sha256"]
    # the same file as a plate of the campaign's own assay is another plate, not a duplicate
    again = _record(lab, other, name="warm-own")
    assert again.recorded and again.duplicate_of is None
    with pytest.raises(RecordError, match="task"):
        _record(lab, _plate(tmp_path, related[:3], "bad.csv"), task="../etc")


def test_related_data_help_where_they_are_related_and_are_left_out_where_not():
    """A related assay (a noisy rescaling) makes the model's predictions of held-out variants much
    better; an unrelated one (the values shuffled) is left out by the held-out comparison, so the
    predictions are those without it."""
    rng = np.random.default_rng(0)
    X = np.eye(40)[rng.integers(0, 40, size=(600, 3))].reshape(600, -1)
    f = X @ rng.normal(size=X.shape[1]) + 0.8 * X[:, 3] * X[:, 45]
    import torch

    torch.manual_seed(0)  # BoTorch's fit falls back to random restarts: independent of earlier tests
    quality: dict[str, list[float]] = {"none": [], "related": [], "unrelated": []}
    for seed in range(3):
        r = np.random.default_rng(seed)
        measured = r.choice(600, 30, replace=False)
        rest = np.setdiff1d(np.arange(600), measured)
        rows = r.choice(rest, 200, replace=False)
        test = np.setdiff1d(rest, rows)
        for name, related in (("none", None), ("related", Related(rows, 0.7 * f[rows] + r.normal(0, 0.6, 200))),
                              ("unrelated", Related(rows, r.permutation(f)[rows]))):
            cands, column = with_task_column(as_candidates(X), related)
            model = fit_with_related(cands, measured, transform_targets(f[measured], "rank"), "gp_epistasis",
                                     seed=0, prior=False, related=related, task_column=column, transform="rank")
            quality[name].append(spearmanr(model.predict(cands.features(test)).mean, f[test])[0])
            if related is not None:
                choice = model.related_choice
                assert choice["used"] == (name == "related"), (name, choice)
                # used only where the held-out gain is positive (RELATED_MARGIN standard errors: 0)
                assert choice["used"] == (choice["loo_gain"] > 0) and choice["loo_gain_se"] > 0
    assert np.mean(quality["related"]) > np.mean(quality["none"]) + 0.2
    np.testing.assert_allclose(quality["unrelated"], quality["none"], atol=1e-6)
    # a batch is chosen with them like any other
    result = propose_batch(X, measured, f[measured], 8, related=Related(rows, f[rows]), seed=1)
    assert len(result.rows) == 8 and not set(result.rows.tolist()) & set(measured.tolist())


def test_related_measurements_are_kept_apart_from_the_campaigns_own(tmp_path):
    from activeloop.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    for name, task, values in (("own", "", [1.0, 2.0]), ("warm", "37C", [10.0, 20.0]), ("cold", "4C", [5.0, 6.0])):
        rows = pd.DataFrame({"variant": ["V39A", "V39C"], "value": values, "failed": [False, False],
                             "replicate": [1, 1], "well": ["", ""], "control": ["", ""]})
        ingest.store_assay(store, ingest.StoredAssay(name=name, sha256="", rows=0, failed=0, task=task), rows)
    own = ingest.measurements(store)
    assert own["value"].tolist() == [1.0, 2.0]
    related = ingest.related_measurements(store)
    assert related.to_dict("list") == {"task": ["37C", "37C", "4C", "4C"], "variant": ["V39A", "V39C"] * 2,
                                       "value": [10.0, 20.0, 5.0, 6.0]}


def test_another_campaigns_export_starts_a_campaign_as_earlier_data(tmp_path):
    from activeloop.service import exports

    first = Lab(tmp_path / "first")
    first.init(SPEC)
    variants = list(pd.read_csv(first.propose().path)["variant"])
    first.record(_plate(tmp_path, variants[:11], "p.csv"))
    export = tmp_path / "export.csv"
    export.write_bytes(exports.table_bytes(first.service.measurements(first.user, first.name), "csv", "measurements"))
    second = Lab(tmp_path / "second")
    second.init(SPEC)
    _record(second, export, earlier=True)
    detail = second.service.campaign(second.user, second.name)
    assert detail.measured == 11 and detail.best_value == max(_value(v) for v in variants[:11])
    proposed = set(pd.read_csv(second.propose().path)["variant"])
    assert not proposed & set(variants[:11])


def test_a_multi_task_gps_mean_by_lookup_tables_equals_its_kernel_rows():
    lib = CombinatorialLibrary(GB1_PARENT, [39, 40, 41], "ACDEFGHIKVW")
    from activeloop.ml.encodings import get_encoder

    X = get_encoder("onehot").encode(lib)
    rng = np.random.default_rng(1)
    y = X @ rng.normal(size=X.shape[1])
    measured, rows = rng.choice(len(X), 60, replace=False), rng.choice(len(X), 80, replace=False)
    cands, column = with_task_column(as_candidates(X), Related(rows, y[rows]))
    Xf = np.vstack([cands.features(measured), cands.features(rows)])
    Xf[60:, column] = 1
    model = GPSurrogate(kernel="epistasis", tasks=2).fit(Xf, np.concatenate([y[measured], y[rows]]))
    probe = cands.features(np.arange(0, len(X), 7))
    assert model._tables() is not None
    fast = model.predict_mean(probe)
    slow = model.predict(probe).mean
    np.testing.assert_allclose(fast, slow, rtol=1e-8, atol=1e-8)
