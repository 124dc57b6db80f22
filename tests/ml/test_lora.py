import numpy as np
import pytest
import torch

from activeloop.ml.backbones import build_tiny_esm, embed_sequences, load_backbone, tokenize_batch
from activeloop.ml.lora import load_tuned, save_tuned, tune_lora

SEQS = ["MQYKLILNGKTLKGE", "MQYKAILNGKTLKGE", "MQYKLILNGKALKGE", "MAYKLILNGKTLKGE", "MQYKLILWGKTLKGE"]
Y = np.array([1.0, 2.0, 0.5, 3.0, 1.5])


def test_backbone_loads_through_from_pretrained_and_embeds(tiny_esm):
    bb = load_backbone(tiny_esm)
    E = embed_sequences(bb, SEQS, batch_size=2)
    assert E.shape == (5, bb.hidden_size)
    assert np.isfinite(E).all()
    # padding in a batch must not change a sequence's embedding
    np.testing.assert_allclose(E[0], embed_sequences(bb, SEQS[:1])[0], atol=1e-5)
    assert not np.allclose(E[0], E[1])


def test_lora_trains_few_parameters_fits_and_reloads_exactly(tiny_esm, tmp_path):
    bb = load_backbone(tiny_esm)
    frozen = {k: v.clone() for k, v in bb.model.state_dict().items()}
    losses = []
    tuned = tune_lora(
        bb, SEQS, Y, rank=4, alpha=8, dropout=0.0, epochs=30, learning_rate=5e-3, batch_size=5,
        on_epoch=lambda e, loss: losses.append(loss),
    )
    trainable, total = tuned.parameter_counts()
    assert 0 < trainable < 0.5 * total
    assert losses[-1] < 0.5 * losses[0]
    # the backbone's own weights did not move
    for k, v in tuned.backbone.model.base_model.model.state_dict().items():
        if "lora" not in k and k in frozen:
            assert np.allclose(v.cpu().numpy(), frozen[k].cpu().numpy()), k
    pred = tuned.predict(SEQS)
    saved = save_tuned(tuned, tmp_path / "adapter")
    assert (saved / "adapter_model.safetensors").is_file()
    again = load_tuned(saved, tiny_esm)
    np.testing.assert_allclose(again.predict(SEQS), pred, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(again.embed(SEQS), tuned.embed(SEQS), rtol=1e-6, atol=1e-6)


def test_8m_sized_config_matches_published_parameter_count(tmp_path):
    path = build_tiny_esm(
        tmp_path / "esm8m", num_hidden_layers=6, hidden_size=320, num_attention_heads=20,
        intermediate_size=1280,
    )
    assert 7.0e6 < load_backbone(path).num_parameters() < 8.0e6


def test_unknown_target_module_is_an_error(tiny_esm):
    with pytest.raises(ValueError, match="not found in the base model|Target modules"):
        tune_lora(load_backbone(tiny_esm), SEQS, Y, target_modules=["nonexistent"], epochs=1)


def test_device_comes_from_the_environment_or_cuda_availability(monkeypatch, tiny_esm):
    import torch

    from activeloop.ml.backbones import default_device

    monkeypatch.setenv("ACTIVELOOP_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    monkeypatch.delenv("ACTIVELOOP_DEVICE")
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    bb = load_backbone(tiny_esm)
    assert bb.device.type == default_device().type  # cuda:0 is the default "cuda"
    assert all(t.device == bb.device for t in tokenize_batch(bb, SEQS[:2]).values())


def test_prediction_merges_adapters_for_speed_and_unmerges_after(tiny_esm):
    import torch

    tuned = tune_lora(load_backbone(tiny_esm), SEQS, Y, rank=4, epochs=3, learning_rate=1e-2, batch_size=5)
    model = tuned.backbone.model
    model.eval()
    with torch.no_grad():  # unmerged forward, by hand
        by_hand = tuned.head(tuned._pooled(tokenize_batch(tuned.backbone, SEQS))).double().cpu().numpy()
    np.testing.assert_allclose(tuned.predict(SEQS), by_hand * tuned.y_std + tuned.y_mean, rtol=1e-5, atol=1e-5)
    lora_layers = [m for m in model.modules() if hasattr(m, "merged_adapters")]
    assert lora_layers and not any(m.merged for m in lora_layers)  # tuning can go on


def test_pairwise_ranking_loss_rewards_the_right_order_and_ignores_ties():
    from activeloop.ml.lora import pairwise_ranking_loss

    y = torch.tensor([0.0, 1.0, 2.0, 2.0])
    right = pairwise_ranking_loss(torch.tensor([0.0, 1.0, 2.0, 2.0]), y)
    wrong = pairwise_ranking_loss(torch.tensor([2.0, 1.0, 0.0, 0.0]), y)
    assert right < wrong
    # five ordered pairs (the tie is not one); by hand: mean of softplus(-(s_i - s_j))
    s = torch.tensor([0.3, -0.2, 0.5, 0.1])
    pairs = [(1, 0), (2, 0), (3, 0), (2, 1), (3, 1)]
    by_hand = sum(float(torch.nn.functional.softplus(-(s[i] - s[j]))) for i, j in pairs) / len(pairs)
    assert float(pairwise_ranking_loss(s, y)) == pytest.approx(by_hand, rel=1e-6)
    assert float(pairwise_ranking_loss(s, torch.zeros(4))) == 0.0


def _library_of(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    letters = list("ACDEFGHIKLMNPQRSTVWY")
    base = list(SEQS[0])
    seqs, y = [], []
    for _ in range(n):
        s = base.copy()
        for pos in rng.choice(len(s), size=3, replace=False):
            s[pos] = letters[rng.integers(20)]
        seqs.append("".join(s))
        y.append(sum(a == "W" for a in s) + 0.5 * (s[3] in "FYW") + rng.normal(0, 0.1))
    return seqs, np.array(y)


def test_tuning_starts_from_the_frozen_probe_and_keeps_the_best_validation_epoch(tiny_esm):
    from activeloop.ml.lora import ridge_head

    seqs, y = _library_of(60)
    bb = load_backbone(tiny_esm)
    frozen = embed_sequences(bb, seqs)
    # no epochs: the model is the ridge probe of the frozen embeddings, fitted on all the data
    probe = tune_lora(load_backbone(tiny_esm), seqs, y, epochs=0, seed=1)
    assert probe.history.best_epoch == 0 and len(probe.history.validation_spearman) == 1
    t = (y - y.mean()) / y.std()
    expected = ridge_head(frozen, t, bb.hidden_size)
    with torch.no_grad():
        by_hand = expected(torch.as_tensor(frozen, dtype=torch.float32)).numpy() * y.std() + y.mean()
    np.testing.assert_allclose(probe.predict(seqs), by_hand, rtol=1e-4, atol=1e-4)

    tuned = tune_lora(load_backbone(tiny_esm), seqs, y, epochs=12, patience=2, learning_rate=5e-3,
                      loss="ranking", seed=1)
    h = tuned.history
    assert h.validation_spearman[0] == pytest.approx(probe.history.validation_spearman[0])
    assert h.best_epoch == int(np.argmax(h.validation_spearman))
    # it stopped no later than `patience` epochs after its best
    assert len(h.validation_spearman) - 1 <= min(12, h.best_epoch + 2)
    assert len(h.train_loss) == len(h.validation_spearman) - 1


def test_full_fine_tuning_trains_every_weight(tiny_esm):
    seqs, y = _library_of(20)
    bb = load_backbone(tiny_esm)
    before = {k: v.clone() for k, v in bb.model.state_dict().items()}
    tuned = tune_lora(bb, seqs, y, full=True, epochs=2, validation=0.0, learning_rate=1e-3)
    trainable, total = tuned.parameter_counts()
    assert trainable == total
    state = tuned.backbone.model.state_dict()
    moved = [k for k, v in state.items() if not np.allclose(v.cpu().numpy(), before[k].cpu().numpy())]
    assert any("attention" in k for k in moved)


def test_an_unknown_loss_is_refused(tiny_esm):
    with pytest.raises(ValueError, match="loss"):
        tune_lora(load_backbone(tiny_esm), SEQS, Y, loss="hinge", epochs=1)

