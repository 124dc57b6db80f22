"""Variant lists held as sparse substitutions (issue 20): streamed from CSV or Parquet, the same
library, features, model predictions and batch as the in-memory list, and bad lines named."""

import io

import numpy as np
import pandas as pd
import pytest

from activeloop.errors import ConfigError, VariantError
from activeloop.landscapes import GB1_PARENT
from activeloop.ml.candidates import Candidates
from activeloop.ml.encodings import SparseOneHot, get_encoder
from activeloop.ml.library import VariantLibrary
from activeloop.ml.loop import propose_batch
from activeloop.ml.surrogates import get_surrogate
from activeloop.ml.variants import SubstitutionLibrary, max_substitutions_for, read_variant_list

AA = "ACDEFGHIKLMNPQRSTVWY"


def random_names(n: int, seed: int = 0, most: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    names: set[str] = set()
    while len(names) < n:
        subs = []
        for p in sorted(rng.choice(len(GB1_PARENT), size=rng.integers(0, most + 1), replace=False)):
            r = AA[rng.integers(20)]
            if r != GB1_PARENT[p]:
                subs.append(f"{GB1_PARENT[p]}{p + 1}{r}")
        names.add(":".join(subs) or "WT")
    return sorted(names, key=lambda v: (v.count(":"), v))


def csv_bytes(names: list[str]) -> bytes:
    return ("variant,note\n" + "".join(f"{v},x\n" for v in names)).encode()


def test_a_streamed_list_is_the_in_memory_list(monkeypatch):
    from activeloop.ml import variants

    monkeypatch.setattr(variants, "BLOCK_BYTES", 4096)  # many blocks
    names = random_names(3000)
    lib = read_variant_list(csv_bytes(names), GB1_PARENT)
    ref = VariantLibrary.from_strings(GB1_PARENT, names)
    assert isinstance(lib, SubstitutionLibrary) and len(lib) == len(ref) == 3000
    rows = np.arange(len(lib))
    assert lib.names_of(rows) == list(ref.names) and np.array_equal(lib.positions, ref.positions)
    assert np.array_equal(lib.site_tokens(rows[::13]), ref.site_tokens(rows[::13]))
    assert np.array_equal(lib.tokens_of(rows[:50]), ref.tokens_of(rows[:50]))
    assert np.array_equal(lib.rows_of(names[::7]), rows[::7]) and lib.contains(names[11])
    assert not lib.contains("Y3A:L5C:K10A:T11C") and not lib.contains("not a variant")
    with pytest.raises(VariantError, match="is not in the candidate library"):
        lib.rows_of([names[0], "Y3A:L5C:K10A:T11C"])
    # other spellings of the same variants, in another order, are the same rows
    spelled = [v.replace(":", ",") for v in names[:5]]
    assert np.array_equal(read_variant_list(csv_bytes(spelled), GB1_PARENT).rows_of(names[:5]), np.arange(5))
    features = get_encoder("onehot").encode(lib, rows[100:400])
    assert isinstance(features, SparseOneHot)
    assert np.array_equal(np.asarray(features), get_encoder("onehot").encode(ref, rows[100:400]))
    parquet = io.BytesIO()
    pd.DataFrame({"variant": names}).to_parquet(parquet)
    assert read_variant_list(parquet.getvalue(), GB1_PARENT).names_of(rows) == list(ref.names)


def test_the_epistasis_gp_reads_substitutions_as_it_reads_one_hot():
    names = random_names(2500, seed=1)
    lib, ref = read_variant_list(csv_bytes(names), GB1_PARENT), VariantLibrary.from_strings(GB1_PARENT, names)
    X = get_encoder("onehot").encode(ref)
    Xs = get_encoder("onehot").encode(lib)
    rng = np.random.default_rng(1)
    train = rng.choice(len(lib), 150, replace=False)
    y = np.asarray(X[train] @ rng.normal(size=X.shape[1]))
    for kind in ("gp_epistasis", "gp_epistasis2"):
        gp = get_surrogate(kind).fit(X[train], y)
        assert np.allclose(gp.predict_mean(Xs), gp.predict_mean(X), rtol=0, atol=1e-9)
        dense, sparse = gp.predict(X), gp.predict(Xs)
        assert np.allclose(dense.mean, sparse.mean, atol=1e-9) and np.allclose(dense.std, sparse.std, atol=1e-9)


@pytest.mark.parametrize("strategy", ["thompson", "ucb", "greedy"])
def test_the_batch_from_a_streamed_list_is_the_batch_from_every_variant_scored(strategy):
    names = random_names(4000, seed=2)
    lib, ref = read_variant_list(csv_bytes(names), GB1_PARENT), VariantLibrary.from_strings(GB1_PARENT, names)
    X = get_encoder("onehot").encode(ref)
    rng = np.random.default_rng(2)
    measured = rng.choice(len(lib), 120, replace=False)
    y = np.asarray(X[measured] @ rng.normal(size=X.shape[1])) + rng.normal(size=120)
    sparse = Candidates(len(lib), lambda rows: get_encoder("onehot").encode(lib, rows), chunk=512)
    a = propose_batch(sparse, measured, y, 24, acquisition=strategy, seed=5, excluded=measured[:3] + 1)
    b = propose_batch(X, measured, y, 24, acquisition=strategy, seed=5, excluded=measured[:3] + 1)
    assert np.array_equal(a.rows, b.rows)


def test_bad_lines_are_named_and_other_spellings_are_left_to_the_in_memory_list():
    with pytest.raises(VariantError) as err:
        read_variant_list(csv_bytes(["WT", "Y3A", "Y3A:K2C"]), GB1_PARENT)
    assert err.value.field == "library.variantsUri: line 4" and "'Q' at 2, not 'K'" in err.value.problem
    with pytest.raises(VariantError, match="line 3"):
        read_variant_list(csv_bytes(["WT", "Y3A:Y3C"]), GB1_PARENT)
    with pytest.raises(VariantError, match="outside 1..56"):
        read_variant_list(csv_bytes(["Y3A", "A99C"]), GB1_PARENT)
    with pytest.raises(VariantError, match=r"line 3.*Y3A repeats line 2"):
        read_variant_list(csv_bytes(["Y3A", "y3a", "WT"]), GB1_PARENT)
    with pytest.raises(ConfigError, match="no 'variant' column"):
        read_variant_list(b"name\nY3A\n", GB1_PARENT)
    assert read_variant_list(csv_bytes([GB1_PARENT, "WT"]), GB1_PARENT) is None  # a full sequence
    assert max_substitutions_for(300) == 5 and max_substitutions_for(56) >= 5


def test_a_campaign_over_a_streamed_list_runs_its_rounds(tmp_path):
    from activeloop.steps.data import build_library
    from activeloop.testing.workstation import Lab

    names = random_names(600, seed=3)
    lab = Lab(tmp_path / "run")
    (tmp_path / "run" / "library").mkdir(parents=True)
    (tmp_path / "run" / "library" / "variants.csv").write_bytes(csv_bytes(names))
    lab.init({"parentSequence": GB1_PARENT, "library": {"variantsUri": "library/variants.csv",
                                                         "exclude": [names[1], names[2].replace(":", ",")]},
              "acquisition": {"batchSize": 8}, "initialBatchSize": 10, "rounds": 2})
    import yaml

    from activeloop.service.rundir import parse_spec
    from activeloop.store.local import LocalStore

    library = build_library(parse_spec(yaml.safe_load((lab.run_dir / "campaign.yaml").read_text())),
                            LocalStore(lab.run_dir))
    assert isinstance(library, SubstitutionLibrary) and library.size == 598
    assert not library.contains(names[1]) and list(library.excluded_rows()) == [1, 2]
    for _ in range(2):
        proposed = list(pd.read_csv(lab.propose(force=True).path)["variant"])
        assert not {names[1], names[2]} & set(proposed)
        plate = tmp_path / "plate.csv"
        plate.write_text("variant,value\n" + "".join(f"{v},{len(v) % 7}\n" for v in proposed))
        lab.record(plate)
    record = (lab.run_dir / "rounds/round-002/acquire.json").read_text()
    assert '"measured": 10' in record and '"strategy": "thompson"' in record


def test_surrogates_that_need_dense_features_score_a_long_list_in_small_chunks():
    from activeloop.service.rundir import parse_spec
    from activeloop.steps.acquire import DENSE_CHUNK_BYTES, candidate_chunk

    lib = read_variant_list(csv_bytes(random_names(500, seed=4, most=3)), GB1_PARENT)
    base = {"parentSequence": GB1_PARENT, "library": {"variantsUri": "library/variants.csv"}}
    assert candidate_chunk(parse_spec(base), lib) == 65_536
    boosted = candidate_chunk(parse_spec(base | {"surrogate": {"kind": "boosting_ensemble"}}), lib)
    assert boosted * 20 * len(lib.positions) * 8 <= DENSE_CHUNK_BYTES and boosted >= 256
    assert candidate_chunk(parse_spec(base | {"surrogate": {"prior": "zeroShot"}}), lib) < 65_536
