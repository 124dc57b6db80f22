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
    learning_rate: float = 1e-3,
    batch_size: int = 16,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TunedModel:
    """Add LoRA adapters to ``backbone`` and train them with a head on ``(sequences, y)``.

    The backbone's own weights stay frozen; only adapters and head are trained (MSE on standardised
    targets, AdamW). ``target_modules`` defaults to the backbone's own choice (ESM-2: query, key,
    value; UniRep: wx, wh). ``on_epoch(epoch, mean_loss)`` reports progress.
    """
    from peft import LoraConfig, get_peft_model

    with seeded(seed):  # adapters' initial weights and dropout from the seed, global state restored
        config = LoraConfig(
            r=rank,
            lora_alpha=alpha,  # type: ignore[arg-type]  # peft annotates int; a float scales as well
            lora_dropout=dropout,
            target_modules=list(target_modules or backbone.lora_targets),
            bias="none",
        )
        peft_model = get_peft_model(backbone.model, config)
        tuned_backbone = Backbone(peft_model, backbone.tokenizer, backbone.name, backbone.lora_targets)
        head = RegressionHead(backbone.hidden_size).to(backbone.device)
        y = np.asarray(y, dtype=np.float64)
        y_mean, y_std = float(y.mean()), float(y.std() or 1.0)
        tuned = TunedModel(tuned_backbone, head, y_mean, y_std)
        targets = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float32, device=backbone.device)
        params = [p for p in peft_model.parameters() if p.requires_grad] + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=learning_rate)
        gen = torch.Generator().manual_seed(seed)
        seqs = list(sequences)
        for epoch in range(epochs):
            peft_model.train()
            head.train()
            order = torch.randperm(len(seqs), generator=gen).tolist()
            total = 0.0
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = tokenize_batch(tuned_backbone, [seqs[i] for i in idx])
                loss = nn.functional.mse_loss(head(tuned._pooled(batch)), targets[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            if on_epoch:
                on_epoch(epoch + 1, total / len(seqs))
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
