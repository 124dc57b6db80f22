"""LoRA fine-tuning of a protein language model with a regression head (``peft``).

The tuned model is the backbone with low-rank adapters on ``target_modules`` plus a linear head
on mean-pooled residue embeddings. Adapters are saved with ``peft``'s ``save_pretrained``
(safetensors) and the head beside them, so a round's model is a few hundred kilobytes on top of
the shared backbone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from activeloop.ml.backbones import Backbone, load_backbone, mean_pool, tokenize_batch
from activeloop.ml.determinism import seeded
from activeloop.registry import Registry

HEAD_FILE = "regression_head.safetensors"
META_FILE = "activeloop_tuned.json"


class RegressionHead(nn.Module):
    """Linear map from pooled embeddings to one standardised target."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, 1)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.linear(pooled).squeeze(-1)


@dataclass
class TunedModel:
    """A LoRA-adapted backbone, its head and the target scaling used in training."""

    backbone: Backbone
    head: RegressionHead
    y_mean: float
    y_std: float
    history: TuningHistory | None = None
    """Validation Spearman per epoch and the epoch kept (set by :func:`tune_lora`)."""

    def parameter_counts(self) -> tuple[int, int]:
        """``(trainable, total)`` parameters, adapters and head counted as trainable."""
        params = list(self.backbone.model.parameters()) + list(self.head.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad)
        return trainable, sum(p.numel() for p in params)

    def _pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.backbone.model(**batch).last_hidden_state
        return mean_pool(hidden, batch["attention_mask"])

    def embed(self, sequences: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Mean-pooled embeddings of the tuned model, ``N x hidden`` float64."""
        return self._run(sequences, batch_size, head=False)

    def predict(self, sequences: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Predicted target (original units), ``N``."""
        return self._run(sequences, batch_size, head=True) * self.y_std + self.y_mean

    def _run(self, sequences: Sequence[str], batch_size: int, head: bool) -> np.ndarray:
        model = self.backbone.model
        model.eval()
        self.head.eval()
        # inference with the adapters merged into the weights (1.5x faster for UniRep-256), then
        # unmerged so that tuning can go on
        merge = hasattr(model, "merge_adapter") and not any(
            getattr(m, "merged", False) for m in model.modules() if hasattr(m, "merged_adapters"))
        if merge:
            model.merge_adapter()
        out = []
        try:
            with torch.no_grad():
                for start in range(0, len(sequences), batch_size):
                    batch = tokenize_batch(self.backbone, sequences[start : start + batch_size])
                    pooled = self._pooled(batch)
                    out.append((self.head(pooled) if head else pooled).double().cpu().numpy())
        finally:
            if merge:
                model.unmerge_adapter()
        return np.concatenate(out) if out else np.zeros(0)


LOSSES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("lora.loss", "tuning loss")
"""Training objectives: mean-squared error on standardised targets, or a pairwise ranking loss."""
LOSSES.add("mse", nn.functional.mse_loss)

DEFAULT_LEARNING_RATES = {"esm": 3e-4, "unirep": 1e-3}
"""AdamW learning rates that suit each backbone family with LoRA (transformers want a smaller one)."""


def default_learning_rate(backbone: Backbone, full: bool = False) -> float:
    """The learning rate for ``backbone``: by family, ten times smaller for full fine-tuning."""
    family = "unirep" if backbone.lora_targets == ("wx", "wh") else "esm"
    return DEFAULT_LEARNING_RATES[family] / (10.0 if full else 1.0)


@LOSSES.register("ranking")
def pairwise_ranking_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry (RankNet) loss: ``-log sigmoid(s_i - s_j)`` over pairs with ``y_i > y_j``."""
    diff = scores[:, None] - scores[None, :]
    better = (targets[:, None] > targets[None, :]).to(scores.dtype)
    pairs = better.sum()
    if pairs == 0:
        return scores.sum() * 0.0
    return (nn.functional.softplus(-diff) * better).sum() / pairs


def ridge_head(X: np.ndarray, t: np.ndarray, hidden: int) -> RegressionHead:
    """A head fitted by ridge regression (alpha by leave-one-out, on standardised features) on
    embeddings ``X`` for standardised targets ``t``: the linear probe that tuning starts from."""
    from sklearn.linear_model import RidgeCV

    mu, sd = X.mean(0), X.std(0) + 1e-8
    ridge = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit((X - mu) / sd, t)
    head = RegressionHead(hidden)
    with torch.no_grad():
        w = ridge.coef_ / sd
        head.linear.weight.copy_(torch.as_tensor(w[None, :], dtype=torch.float32))
        head.linear.bias.fill_(float(ridge.intercept_ - (w * mu).sum()))
    return head


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    value = spearmanr(a, b).statistic
    return float(value) if np.isfinite(value) else 0.0


@dataclass(frozen=True)
class TuningHistory:
    """What early stopping saw: validation Spearman after each epoch (index 0: the linear probe)."""

    validation_spearman: list[float]
    best_epoch: int
    train_loss: list[float]


def tune_lora(
    backbone: Backbone,
    sequences: Sequence[str],
    y: np.ndarray,
    *,
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.05,
    target_modules: Sequence[str] | None = None,
    epochs: int = 10,
    learning_rate: float | None = None,
    batch_size: int = 16,
    loss: str = "mse",
    validation: float = 0.2,
    patience: int = 3,
    full: bool = False,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TunedModel:
    """Fine-tune ``backbone`` with a regression head on ``(sequences, y)``.

    LoRA adapters by default (the backbone's own weights stay frozen); ``full=True`` trains every
    weight instead (for comparison). The head starts as the ridge probe of the frozen embeddings
    (linear probe, then fine-tune), so tuning starts where the frozen model ends. ``loss`` is
    ``mse`` on standardised targets or ``ranking`` (pairwise Bradley-Terry). A ``validation``
    fraction of the data (at least 10 variants) is held out: after each epoch its Spearman is
    read, training stops after ``patience`` epochs without gain, and the weights of the best epoch
    are kept (epoch 0, the probe itself, included). The head is then refitted by ridge on all the
    data. ``learning_rate`` defaults to one that suits the backbone (:func:`default_learning_rate`).
    ``on_epoch(epoch, mean_loss)`` reports progress; the history is on ``TunedModel.history``.
    """
    objective = LOSSES.get(loss)
    from peft import LoraConfig, get_peft_model

    from activeloop.ml.backbones import embed_sequences

    y = np.asarray(y, dtype=np.float64)
    seqs = list(sequences)
    y_mean, y_std = float(y.mean()), float(y.std() or 1.0)
    t_all = (y - y_mean) / y_std
    rng = np.random.default_rng(seed)
    n_val = int(round(validation * len(seqs))) if validation > 0 and len(seqs) * validation >= 10 else 0
    order = rng.permutation(len(seqs))
    val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
    lr = learning_rate or default_learning_rate(backbone, full)
    with seeded(seed):  # adapters' initial weights and dropout from the seed, global state restored
        frozen = embed_sequences(backbone, seqs)
        if full:
            model = backbone.model
            for p in model.parameters():
                p.requires_grad_(True)
        else:
            config = LoraConfig(
                r=rank,
                lora_alpha=alpha,  # type: ignore[arg-type]  # peft annotates int; a float scales as well
                lora_dropout=dropout,
                target_modules=list(target_modules or backbone.lora_targets),
                bias="none",
            )
            model = get_peft_model(backbone.model, config)
        tuned_backbone = Backbone(model, backbone.tokenizer, backbone.name, backbone.lora_targets)
        head = ridge_head(frozen[fit], t_all[fit], backbone.hidden_size).to(backbone.device)
        tuned = TunedModel(tuned_backbone, head, y_mean, y_std)
        targets = torch.as_tensor(t_all, dtype=torch.float32, device=backbone.device)
        params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=lr)
        gen = torch.Generator().manual_seed(seed)

        def trainable_state() -> dict[str, torch.Tensor]:
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            return {n: p.detach().clone() for n, p in named}

        def validation_spearman() -> float:
            if not n_val:
                return 0.0
            scores = tuned._run([seqs[i] for i in val], 64, head=True)
            return _spearman(scores, t_all[val])

        history = [validation_spearman()]
        best, best_state, losses = 0, trainable_state(), []
        for epoch in range(epochs):
            model.train()
            head.train()
            perm = fit[torch.randperm(len(fit), generator=gen).numpy()]
            total = 0.0
            for start in range(0, len(perm), batch_size):
                idx = perm[start : start + batch_size].tolist()
                batch = tokenize_batch(tuned_backbone, [seqs[i] for i in idx])
                step_loss = objective(head(tuned._pooled(batch)), targets[idx])
                opt.zero_grad()
                step_loss.backward()
                opt.step()
                total += float(step_loss.detach()) * len(idx)
            losses.append(total / len(perm))
            if on_epoch:
                on_epoch(epoch + 1, losses[-1])
            if not n_val:
                best, best_state = epoch + 1, trainable_state()
                continue
            history.append(validation_spearman())
            if history[-1] > history[best]:
                best, best_state = epoch + 1, trainable_state()
            elif epoch + 1 - best >= patience:
                break
        with torch.no_grad():
            params_by_name = dict(model.named_parameters())
            for name, value in best_state.items():
                params_by_name[name].copy_(value)
        tuned.head = ridge_head(tuned.embed(seqs, batch_size=64), t_all, backbone.hidden_size).to(backbone.device)
        tuned.history = TuningHistory(history, best, losses)
        return tuned


def save_tuned(tuned: TunedModel, path: str | Path, revision: str | None = None) -> Path:
    """Save adapters (safetensors, via peft), head and scaling to directory ``path``.

    ``revision`` is the backbone revision the adapters were trained on; :func:`load_tuned` loads
    the backbone at that revision.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tuned.backbone.model.save_pretrained(path)
    save_file({k: v.cpu() for k, v in tuned.head.state_dict().items()}, str(path / HEAD_FILE))
    trainable, total = tuned.parameter_counts()
    meta = {
        "backbone": tuned.backbone.name,
        "revision": revision,
        "y_mean": tuned.y_mean,
        "y_std": tuned.y_std,
        "trainable_parameters": trainable,
        "total_parameters": total,
    }
    (path / META_FILE).write_text(json.dumps(meta, indent=2))
    return path


def load_tuned(
    path: str | Path, backbone: str | Path | None = None, revision: str | None = None
) -> TunedModel:
    """Reload a model saved by :func:`save_tuned`.

    The backbone is ``backbone`` (else the saved name) at ``revision`` (else the saved revision):
    adapters only make sense on the weights they were trained on.
    """
    from peft import PeftModel
    from safetensors.torch import load_file

    path = Path(path)
    meta = json.loads((path / META_FILE).read_text())
    base = load_backbone(backbone or meta["backbone"], revision=revision or meta.get("revision"))
    peft_model = PeftModel.from_pretrained(base.model, str(path))
    peft_model.eval()
    head = RegressionHead(base.hidden_size)
    head.load_state_dict(load_file(str(path / HEAD_FILE)))
    head.to(base.device)
    return TunedModel(
        Backbone(peft_model, base.tokenizer, base.name, base.lora_targets),
        head,
        meta["y_mean"],
        meta["y_std"],
    )


@dataclass(frozen=True)
class TunedVsFrozen:
    """Cross-validated Spearman (pooled out-of-fold predictions) of the tuned and frozen models."""

    tuned: float
    frozen: float
    folds: int
    backbone_parameters: int
    """Parameters of the frozen backbone (what the surrogate uses when ``frozen`` wins)."""

    @property
    def better(self) -> str:
        """``tuned`` when tuning beat the frozen model's ridge probe, else ``frozen``."""
        return "tuned" if self.tuned > self.frozen else "frozen"


def tuned_vs_frozen(
    load: Callable[[], Backbone],
    sequences: Sequence[str],
    y: np.ndarray,
    *,
    folds: int = 3,
    seed: int = 0,
    **tune_kwargs: object,
) -> TunedVsFrozen:
    """K-fold comparison of LoRA tuning (:func:`tune_lora` with ``tune_kwargs``) with a ridge probe
    of the frozen embeddings, on the same folds. ``load()`` gives a fresh backbone for each fold."""
    from activeloop.ml.backbones import embed_sequences

    y = np.asarray(y, dtype=np.float64)
    seqs = list(sequences)
    fold_of = np.random.default_rng(seed).permutation(len(seqs)) % folds
    frozen_model = load()
    frozen_x = embed_sequences(frozen_model, seqs)
    pred = {"tuned": np.zeros(len(seqs)), "frozen": np.zeros(len(seqs))}
    for k in range(folds):
        train, test = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        mean, std = y[train].mean(), y[train].std() or 1.0
        probe = ridge_head(frozen_x[train], (y[train] - mean) / std, frozen_x.shape[1])
        with torch.no_grad():
            pred["frozen"][test] = probe(torch.as_tensor(frozen_x[test], dtype=torch.float32)).double().numpy()
        tuned = tune_lora(load(), [seqs[i] for i in train], y[train], seed=seed + k, **tune_kwargs)  # type: ignore[arg-type]
        pred["tuned"][test] = tuned.predict([seqs[i] for i in test], batch_size=64)
    return TunedVsFrozen(_spearman(pred["tuned"], y), _spearman(pred["frozen"], y), folds,
                         frozen_model.num_parameters())
