"""Protein language model backbones: ESM-2 through ``transformers``, and UniRep.

:func:`load_backbone` takes a Hugging Face model id (``facebook/esm2_t6_8M_UR50D``) or a local
directory, exactly as ``from_pretrained`` does, so real users get real weights; ``unirep:64`` /
``unirep:256`` / ``unirep:1900`` (or a UniRep ``.npz``) load the mLSTM of :mod:`activeloop.ml.unirep`
behind the same interface. Tests and offline demos build small randomly initialised models with
:func:`build_tiny_esm` / :func:`~activeloop.ml.unirep.build_tiny_unirep` and load them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ESM_VOCAB = (
    "<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> <mask>"
).split()
"""The 33-token ESM-2 vocabulary, in the order of the released checkpoints."""


@dataclass
class Backbone:
    """A loaded model and its tokenizer."""

    model: Any
    """A ``transformers`` model, a ``peft`` model wrapping one, or UniRep (duck-typed)."""
    tokenizer: Any
    name: str
    lora_targets: tuple[str, ...] = ("query", "key", "value")
    """Modules that get LoRA adapters unless told otherwise."""

    @property
    def device(self) -> torch.device:
        """Where the model's weights live (inputs are moved there)."""
        return next(self.model.parameters()).device

    @property
    def hidden_size(self) -> int:
        """Width of the model's residue embeddings."""
        size = getattr(self.model, "hidden_size", None)
        return int(size if size is not None else self.model.config.hidden_size)

    def num_parameters(self) -> int:
        """All parameters of the backbone."""
        return sum(p.numel() for p in self.model.parameters())


def default_device() -> torch.device:
    """``ACTIVELOOP_DEVICE`` if set (``cpu``, ``cuda``, ``cuda:1`` ...), else CUDA when available."""
    import os

    name = os.environ.get("ACTIVELOOP_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def quiet_transformers() -> None:
    """Silence transformers' logging and progress bars (we report progress ourselves)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_backbone(
    model: str | Path, revision: str | None = None, local_files_only: bool = False
) -> Backbone:
    """Load an ESM-2 (or any ``AutoModel`` protein LM) and its tokenizer by id or directory.

    UniRep names and weight files (see :mod:`activeloop.ml.unirep`) load UniRep instead.
    """
    from activeloop.ml import unirep

    if unirep.is_unirep(model):
        return Backbone(unirep.load_unirep(model).to(default_device()), unirep.UniRepTokenizer(),
                        str(model), lora_targets=("wx", "wh"))
    from transformers import AutoModel, AutoTokenizer

    quiet_transformers()
    kwargs = {"revision": revision, "local_files_only": local_files_only or Path(model).is_dir()}
    tokenizer = AutoTokenizer.from_pretrained(str(model), **kwargs)
    net = AutoModel.from_pretrained(str(model), add_pooling_layer=False, **kwargs)
    net.to(default_device()).eval()
    return Backbone(model=net, tokenizer=tokenizer, name=str(model))


def build_tiny_esm(
    path: str | Path,
    *,
    num_hidden_layers: int = 2,
    hidden_size: int = 32,
    num_attention_heads: int = 4,
    intermediate_size: int = 64,
    seed: int = 0,
) -> Path:
    """Save a small random ESM-2 (same architecture and vocabulary) with its tokenizer to ``path``.

    With ``num_hidden_layers=6, hidden_size=320, num_attention_heads=20, intermediate_size=1280``
    it has the shape of ``esm2_t6_8M_UR50D`` (7.5 M parameters).
    """
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

    quiet_transformers()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(ESM_VOCAB) + "\n")
    config = EsmConfig(
        vocab_size=len(ESM_VOCAB),
        pad_token_id=ESM_VOCAB.index("<pad>"),
        mask_token_id=ESM_VOCAB.index("<mask>"),
        num_hidden_layers=num_hidden_layers,
        hidden_size=hidden_size,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        position_embedding_type="rotary",
        token_dropout=True,
        emb_layer_norm_before=False,
        max_position_embeddings=1026,
    )
    from activeloop.ml.determinism import seeded

    with seeded(seed):
        # with its language-model head, as the released checkpoints are (zero-shot scores need it;
        # AutoModel loads the encoder alone from it)
        EsmForMaskedLM(config).save_pretrained(path)
    EsmTokenizer(vocab_file=str(vocab)).save_pretrained(path)
    return path


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over residue tokens (excluding ``<cls>``, ``<eos>`` and padding): ``B x H``."""
    mask = attention_mask.clone()
    mask[:, 0] = 0  # <cls>
    lengths = attention_mask.sum(1)
    mask[torch.arange(len(mask)), lengths - 1] = 0  # <eos>
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def tokenize_batch(backbone: Backbone, sequences: Sequence[str]) -> dict[str, torch.Tensor]:
    """Tokenizer output (padded tensors, on the model's device) for a batch of sequences."""
    batch = backbone.tokenizer(list(sequences), return_tensors="pt", padding=True)
    return {k: v.to(backbone.device) for k, v in batch.items()}


def embed_sequences(
    backbone: Backbone, sequences: Sequence[str], batch_size: int = 32
) -> np.ndarray:
    """Mean-pooled last-layer embeddings, ``N x hidden_size`` float64."""
    out = []
    backbone.model.eval()
    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            batch = tokenize_batch(backbone, sequences[start : start + batch_size])
            hidden = backbone.model(**batch).last_hidden_state
            out.append(mean_pool(hidden, batch["attention_mask"]).double().cpu().numpy())
    if not out:
        return np.zeros((0, backbone.hidden_size))
    return np.concatenate(out)
