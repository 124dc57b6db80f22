"""Zero-shot scores, each checked against a direct computation on the model, and the first batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from activeloop.errors import ConfigError
from activeloop.landscapes import GB1_PARENT
from activeloop.ml.initial import initial_batch
from activeloop.ml.library import CombinatorialLibrary, VariantLibrary
from activeloop.ml.zeroshot import esm_scores, hamming, score_library, unirep_scores

LIB = CombinatorialLibrary(GB1_PARENT, [39, 40, 41], "ACDEFGHIKW")  # the parent has V D G there
ROWS = np.array([0, 17, 333, 555, 998, 999])


def test_hamming_counts_substitutions():
    z = hamming(LIB)
    names = LIB.names_of(ROWS)
    assert list(z.scores[ROWS]) == [-len(n.split(":")) if n != "WT" else 0 for n in names]
    singles = VariantLibrary.from_strings(GB1_PARENT, ["WT", "V39A", "V39A:D40E"])
    assert list(hamming(singles).scores) == [0.0, -1.0, -2.0]


def test_unirep_scores_are_log_likelihood_ratios_of_whole_sequences(tmp_path):
    from activeloop.ml.unirep import UniRepTokenizer, build_tiny_unirep, load_unirep

    build_tiny_unirep(tmp_path / "u")
    z = unirep_scores(LIB, tmp_path / "u", batch_size=64)  # several batches, the last one short
    net = load_unirep(tmp_path / "u")

    def loglik(seq: str) -> float:  # every residue and the stop token, from the start token on
        ids = UniRepTokenizer()([seq])["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(net.next_residue_logits(ids[:, :-1])[0].double(), -1)
        return float(logp.gather(-1, (ids[0, 1:] - 1).unsqueeze(-1)).sum())

    direct = [loglik(s) - loglik(GB1_PARENT) for s in LIB.sequences_of(ROWS)]
    np.testing.assert_allclose(z.scores[ROWS], direct, rtol=1e-6, atol=1e-6)
    assert z.scorer == "unirep-log-likelihood" and len(np.unique(z.scores)) > 900


def _masked_lm(path):
    from transformers import AutoTokenizer, EsmForMaskedLM

    return EsmForMaskedLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def _site_logp(net, tok, seq: str, pos: int, masked: bool) -> torch.Tensor:
    ids = tok([seq], return_tensors="pt")["input_ids"]
    if masked:
        ids[0, pos + 1] = tok.mask_token_id
    with torch.no_grad():
        return torch.log_softmax(net(input_ids=ids).logits[0, pos + 1].double(), -1)


@pytest.mark.parametrize("mode", ["masked", "wildtype"])
def test_esm_scores_sum_the_log_ratios_of_each_site(tiny_esm, mode):
    net, tok = _masked_lm(tiny_esm)
    z = esm_scores(LIB, tiny_esm, mode=mode)
    for row, seq in zip(ROWS, LIB.sequences_of(ROWS), strict=True):
        want = 0.0
        for p in (38, 39, 40):  # 0-based positions of sites 39, 40, 41
            logp = _site_logp(net, tok, GB1_PARENT, p, masked=mode == "masked")
            want += float(logp[tok.convert_tokens_to_ids(seq[p])] - logp[tok.convert_tokens_to_ids(GB1_PARENT[p])])
        assert z.scores[row] == pytest.approx(want, abs=1e-5)
    assert z.scorer == f"esm-{mode}-marginal"


def test_esm_scores_of_long_sequences_use_a_window_around_each_site(tiny_esm):
    net, tok = _masked_lm(tiny_esm)
    z = esm_scores(LIB, tiny_esm, max_length=22)  # 20 residues around each site
    row = ROWS[2]
    seq = LIB.sequences_of([row])[0]
    want = 0.0
    for p in (38, 39, 40):
        start = min(max(p - 10, 0), len(GB1_PARENT) - 20)
        logp = _site_logp(net, tok, GB1_PARENT[start:start + 20], p - start, masked=True)
        want += float(logp[tok.convert_tokens_to_ids(seq[p])] - logp[tok.convert_tokens_to_ids(GB1_PARENT[p])])
    assert z.scores[row] == pytest.approx(want, abs=1e-5)


def test_score_library_picks_the_scorer_and_names_bad_ones(tmp_path):
    from activeloop.ml.unirep import build_tiny_unirep

    assert score_library(LIB, "hamming").scorer == "hamming"
    assert score_library(LIB, "backbone", build_tiny_unirep(tmp_path / "u")).scorer == "unirep-log-likelihood"
    with pytest.raises(ConfigError, match="zeroShot.scorer"):
        score_library(LIB, "evmutation")


# ---------------------------------------------------------------------------------- first batch


def test_random_first_batch_is_distinct_and_available():
    available = np.arange(100, 1000)
    rows = initial_batch("random", LIB, available, 50, np.random.default_rng(0))
    assert len(set(rows)) == 50 and set(rows) <= set(available)


def test_zero_shot_first_batch_is_the_top_with_ties_broken_by_the_seed():
    scores = hamming(LIB).scores
    available = np.arange(len(LIB))
    a = initial_batch("zeroShot", LIB, available, 20, np.random.default_rng(1), scores)
    b = initial_batch("zeroShot", LIB, available, 20, np.random.default_rng(2), scores)
    # V39 is not in the alphabet: the 10 single mutants at site 39 first, then 10 of the double
    # mutants, chosen differently per seed
    assert sorted(scores[a]) == [-2.0] * 10 + [-1.0] * 10 and set(a) != set(b)
    assert set(np.nonzero(scores == -1)[0]) <= set(a) & set(b)
    np.testing.assert_array_equal(a, initial_batch("zeroShot", LIB, available, 20, np.random.default_rng(1), scores))


def test_focused_first_batch_samples_the_top_and_spreads_residues_over_sites():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=len(LIB))
    available = np.arange(len(LIB))
    rows = initial_batch("focused", LIB, available, 24, np.random.default_rng(3), scores,
                         top_fraction=0.2, max_share=0.25)
    assert len(set(rows)) == 24
    assert scores[rows].min() >= np.quantile(scores, 0.8) - 1e-12  # all from the top 20%
    tokens = LIB.site_tokens(rows)
    parent = LIB.parent_site_tokens
    for site in range(3):
        residues, counts = np.unique(tokens[tokens[:, site] != parent[site], site], return_counts=True)
        assert counts.max() <= 6, (site, residues, counts)  # 25% of 24
    # a cap that cannot be met is filled up, never short
    tight = initial_batch("focused", LIB, available, 24, np.random.default_rng(3), scores,
                          top_fraction=0.2, max_share=0.01)
    assert len(set(tight)) == 24


def test_zero_shot_first_batches_need_scores():
    with pytest.raises(ConfigError, match="zero-shot score"):
        initial_batch("focused", LIB, np.arange(len(LIB)), 8, np.random.default_rng(0))
