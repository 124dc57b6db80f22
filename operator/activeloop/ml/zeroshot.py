"""Zero-shot scores: how fit a language model expects each variant to be, before any assay.

Three scorers, higher is better for all:

* ``hamming``: minus the number of substitutions from the parent. Needs no model; the baseline every
  language-model score must beat (on GB1 it already helps a first batch, Li et al. 2024).
* ESM-2 (any masked language model ``transformers`` loads with ``AutoModelForMaskedLM``): the
  *masked marginal* of Meier et al. 2021: for each site, mask it in the parent and read
  ``log p(mutant) - log p(wild type)``; a multi-mutant scores the sum over its sites. One forward
  pass per variable site (the ``wildtype`` mode: one pass of the unmasked parent, less accurate).
* UniRep: the autoregressive log-likelihood ratio ``log p(variant) - log p(parent)``. The parent's
  prefix before the first variable site is run once and every variant continues from its state.

Site-wise scores (hamming, ESM-2) cost nothing per variant: a ``P x 20`` table summed over a
variant's residues, so a library of millions is scored in seconds. UniRep needs a pass per variant,
batched, on CUDA when present (``ACTIVELOOP_DEVICE``), with progress reported through ``on_progress``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from activeloop.api.sequence import AMINO_ACIDS
from activeloop.errors import ConfigError
from activeloop.ml.library import Library

Progress = Callable[[int, int], None]
"""``on_progress(done, total)``: variants (or sites) scored so far."""

ESM_MODES = ("masked", "wildtype")


@dataclass(frozen=True)
class ZeroShot:
    """Scores of every library row (``N``, float64; higher is fitter) and what made them."""

    scores: np.ndarray
    scorer: str
    """``hamming``, ``esm-masked-marginal``, ``esm-wildtype-marginal`` or ``unirep-log-likelihood``."""
    model: str | None = None


def site_table_scores(library: Library, table: np.ndarray, chunk: int = 262_144) -> np.ndarray:
    """Sum over each variant's sites of ``table[site, residue]`` (``P x 20``, parent residues 0)."""
    out = np.empty(len(library), dtype=np.float64)
    cols = np.arange(table.shape[0])
    for rows in library.chunks(chunk):
        out[rows] = table[cols[None, :], library.site_tokens(rows)].sum(1)
    return out


def hamming(library: Library) -> ZeroShot:
    """Minus the number of substitutions from the parent."""
    table = np.full((len(library.positions), len(AMINO_ACIDS)), -1.0)
    table[np.arange(len(table)), library.parent_site_tokens] = 0.0
    return ZeroShot(site_table_scores(library, table), "hamming")


# ---------------------------------------------------------------------------------------- ESM-2


def load_masked_lm(model: str | Path, revision: str | None = None) -> tuple[torch.nn.Module, object]:
    """A masked language model and its tokenizer (``AutoModelForMaskedLM``), on the default device."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from activeloop.ml.backbones import default_device, quiet_transformers

    quiet_transformers()
    kwargs = {"revision": revision, "local_files_only": Path(str(model)).is_dir()}
    tokenizer = AutoTokenizer.from_pretrained(str(model), **kwargs)
    net = AutoModelForMaskedLM.from_pretrained(str(model), **kwargs)
    return net.to(default_device()).eval(), tokenizer


def _window(length: int, position: int, width: int) -> tuple[int, int]:
    """The ``width``-residue window of a sequence of ``length`` that holds ``position``, centred."""
    if length <= width:
        return 0, length
    start = min(max(position - width // 2, 0), length - width)
    return start, start + width


def esm_site_table(
    model: torch.nn.Module,
    tokenizer: object,
    parent: str,
    positions: np.ndarray,
    mode: str = "masked",
    max_length: int = 1024,
    batch_size: int = 8,
    on_progress: Progress | None = None,
) -> np.ndarray:
    """``P x 20`` log-ratios ``log p(aa) - log p(parent aa)`` at each of ``positions`` (0-based).

    ``masked``: the site is masked in the parent (Meier et al.'s masked marginal); ``wildtype``:
    the parent unmasked. Sequences longer than the model's window are cut to a window around
    each site.
    """
    if mode not in ESM_MODES:
        raise ConfigError("zeroShot.mode", f"{mode!r}: use one of {ESM_MODES}")
    tok = tokenizer
    aa_ids = torch.tensor(tok.convert_tokens_to_ids(list(AMINO_ACIDS)))  # type: ignore[attr-defined]
    mask_id = tok.mask_token_id  # type: ignore[attr-defined]
    width = max_length - 2  # <cls> and <eos>
    device = next(model.parameters()).device
    table = np.zeros((len(positions), len(AMINO_ACIDS)))
    jobs = []  # (row of table, window start, window end, masked?)
    for i, p in enumerate(int(x) for x in positions):
        start, end = _window(len(parent), p, width)
        jobs.append((i, p, start, end))
    done = 0
    with torch.no_grad():
        for b in range(0, len(jobs), batch_size):
            batch = jobs[b : b + batch_size]
            enc = tok([parent[s:e] for _, _, s, e in batch], return_tensors="pt", padding=True)  # type: ignore[operator]
            ids = enc["input_ids"].clone()
            where = torch.tensor([1 + p - s for _, p, s, _ in batch])
            if mode == "masked":
                ids[torch.arange(len(batch)), where] = mask_id
            logits = model(input_ids=ids.to(device), attention_mask=enc["attention_mask"].to(device)).logits
            logp = torch.log_softmax(logits[torch.arange(len(batch)), where.to(device)].float(), dim=-1)
            site = logp[:, aa_ids.to(device)].double().cpu().numpy()  # len(batch) x 20
            for k, (i, p, _, _) in enumerate(batch):
                table[i] = site[k] - site[k, AMINO_ACIDS.index(parent[p])]
            done += len(batch)
            if on_progress:
                on_progress(done, len(jobs))
    return table


def esm_scores(library: Library, model: str | Path, revision: str | None = None, mode: str = "masked",
               max_length: int = 1024, on_progress: Progress | None = None) -> ZeroShot:
    """ESM-2 masked-marginal (or wild-type-marginal) scores of every row of ``library``."""
    net, tokenizer = load_masked_lm(model, revision)
    table = esm_site_table(net, tokenizer, library.parent, library.positions, mode, max_length,
                           on_progress=on_progress)
    return ZeroShot(site_table_scores(library, table), f"esm-{mode}-marginal", str(model))


# ---------------------------------------------------------------------------------------- UniRep


def unirep_scores(library: Library, model: str | Path, batch_size: int = 512,
                  on_progress: Progress | None = None) -> ZeroShot:
    """UniRep log-likelihood ratios ``log p(variant) - log p(parent)`` of every row of ``library``."""
    from activeloop.ml.backbones import default_device
    from activeloop.ml.unirep import RESIDUE_TOKEN, START, STOP, load_unirep

    net = load_unirep(model).to(default_device()).eval()
    device = next(net.parameters()).device
    parent = library.parent
    first = int(library.positions.min())  # residues before it are the parent's in every variant
    letter_row = torch.tensor([RESIDUE_TOKEN[a] for a in AMINO_ACIDS])
    prefix = torch.tensor([[START, *(RESIDUE_TOKEN[a] for a in parent[:first])]], device=device)
    suffix_parent = torch.tensor([RESIDUE_TOKEN[a] for a in parent[first:]])
    cols = torch.as_tensor(library.positions - first)
    scores = np.empty(len(library), dtype=np.float64)
    done = 0
    with torch.no_grad():
        top, states = net.run(prefix)
        h0 = top[:, -1]  # predicts the residue at ``first``

        def loglik(suffix: torch.Tensor) -> torch.Tensor:
            """log p of ``suffix`` (residues from ``first``, then STOP) after the parent prefix."""
            hidden, _ = net.run(suffix, [(h.expand(len(suffix), -1), c.expand(len(suffix), -1))
                                         for h, c in states])
            h = torch.cat([h0.expand(len(suffix), -1).unsqueeze(1), hidden], dim=1)
            targets = torch.cat([suffix, torch.full((len(suffix), 1), STOP, device=device)], dim=1)
            logp = torch.log_softmax(net.dense(h).double(), dim=-1)
            return logp.gather(-1, (targets - 1).unsqueeze(-1)).squeeze(-1).sum(1)

        base = float(loglik(suffix_parent.unsqueeze(0).to(device))[0])
        for rows in library.chunks(batch_size):
            suffix = suffix_parent.repeat(len(rows), 1)
            suffix[:, cols] = letter_row[torch.as_tensor(library.site_tokens(rows).astype(np.int64))]
            scores[rows] = loglik(suffix.to(device)).cpu().numpy() - base
            done += len(rows)
            if on_progress:
                on_progress(done, len(library))
    return ZeroShot(scores, "unirep-log-likelihood", str(model))


# ---------------------------------------------------------------------------------------- any


def score_library(library: Library, scorer: str, model: str | Path | None = None, revision: str | None = None,
                  mode: str = "masked", max_length: int = 1024, on_progress: Progress | None = None) -> ZeroShot:
    """Zero-shot scores of ``library``: ``scorer`` is ``hamming``, or ``backbone`` (``model``:
    UniRep names and weight files score by log-likelihood ratio, anything else as an ESM-style
    masked language model)."""
    from activeloop.ml.unirep import is_unirep

    if scorer == "hamming":
        return hamming(library)
    if scorer != "backbone":
        raise ConfigError("zeroShot.scorer", f"{scorer!r}: use 'backbone' or 'hamming'")
    if model is None:
        raise ConfigError("backbone.model", "the backbone scorer needs a model")
    if is_unirep(model):
        return unirep_scores(library, model, on_progress=on_progress)
    return esm_scores(library, model, revision, mode, max_length, on_progress)


def standardised(scores: np.ndarray) -> np.ndarray:
    """Scores with mean 0 and standard deviation 1 over the library (constant scores: zeros)."""
    sd = float(scores.std())
    return (scores - scores.mean()) / sd if sd > 0 else np.zeros_like(scores)


__all__ = ["ESM_MODES", "ZeroShot", "esm_scores", "esm_site_table", "hamming", "load_masked_lm",
           "score_library", "site_table_scores", "standardised", "unirep_scores"]
