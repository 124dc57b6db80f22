"""Distillation of a teacher (any model that predicts fitness) into compact students.

A student is a small 1-D CNN (or MLP) over one-hot residues at the library's variable positions,
trained to match the teacher's predictive mean on unlabelled library variants plus the measured
data. Students export to a single ONNX file and run with ``onnxruntime``; an ensemble of students
(different seeds and bootstraps) gives a disagreement that acquisition can use as uncertainty.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from activeloop.errors import ConfigError
from activeloop.registry import Registry


class CNNStudent(nn.Module):
    """Two 1-D convolutions over residues, mean+max pooling, a linear head.

    Input: ``B x P x 20`` one-hot (float32); output: ``B`` (mean), or ``B x 2`` (mean and log
    standard deviation) with ``outputs=2``.
    """

    def __init__(self, positions: int, channels: int = 32, kernel: int = 3, outputs: int = 1) -> None:
        super().__init__()
        self.outputs = outputs
        self.conv = nn.Sequential(
            nn.Conv1d(20, channels, kernel, padding=kernel // 2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel, padding=kernel // 2),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Linear(2 * channels + 20 * positions, channels), nn.ReLU(),
                                  nn.Linear(channels, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = self.conv(x.transpose(1, 2))
        pooled = torch.cat([h.mean(-1), h.amax(-1), x.flatten(1)], dim=-1)
        out = self.head(pooled)
        return out.squeeze(-1) if self.outputs == 1 else out


class MLPStudent(nn.Module):
    """A two-layer MLP over flattened one-hot input (``B x P x 20`` -> ``B``, or ``B x 2``)."""

    def __init__(self, positions: int, channels: int = 32, outputs: int = 1) -> None:
        super().__init__()
        self.outputs = outputs
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(20 * positions, channels), nn.ReLU(),
                                 nn.Linear(channels, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = self.net(x)
        return out.squeeze(-1) if self.outputs == 1 else out


ARCHITECTURES: Registry[Callable[..., nn.Module]] = Registry("architecture", "student architecture")
ARCHITECTURES.add("cnn", CNNStudent)
ARCHITECTURES.add("mlp", MLPStudent)


def gaussian_kl(t_mean: torch.Tensor, t_std: torch.Tensor, mean: torch.Tensor,
                log_std: torch.Tensor) -> torch.Tensor:
    """Mean ``KL(N(t_mean, t_std^2) || N(mean, exp(log_std)^2))``: the student matches both moments."""
    var = torch.exp(2 * log_std)
    return (log_std - torch.log(t_std) + (t_std**2 + (t_mean - mean) ** 2) / (2 * var) - 0.5).mean()


def onehot_tensor(X_onehot: np.ndarray) -> torch.Tensor:
    """``N x 20P`` one-hot features -> ``N x P x 20`` float32 student input."""
    # cast in numpy: torch's float64 -> float32 conversion costs milliseconds per thousand rows
    return torch.from_numpy(onehot_array(X_onehot))


def onehot_array(X_onehot: np.ndarray) -> np.ndarray:
    """``N x 20P`` one-hot features -> ``N x P x 20`` float32 array (the ONNX input)."""
    return np.ascontiguousarray(X_onehot, dtype=np.float32).reshape(len(X_onehot), -1, 20)


@dataclass
class Student:
    """A trained student with the target scaling it was trained with."""

    net: nn.Module
    y_mean: float
    y_std: float

    @property
    def has_std(self) -> bool:
        """Whether the student also learned the teacher's predictive standard deviation."""
        return getattr(self.net, "outputs", 1) == 2

    def _raw(self, X_onehot: np.ndarray, batch: int) -> np.ndarray:
        self.net.eval()
        out = []
        with torch.no_grad():
            for s in range(0, len(X_onehot), batch):
                out.append(self.net(onehot_tensor(X_onehot[s : s + batch])).numpy())
        return np.concatenate(out).astype(np.float64)

    def predict(self, X_onehot: np.ndarray, batch: int = 65536) -> np.ndarray:
        """Predictions in teacher units, ``N``."""
        raw = self._raw(X_onehot, batch)
        return (raw[:, 0] if raw.ndim == 2 else raw) * self.y_std + self.y_mean

    def predict_std(self, X_onehot: np.ndarray, batch: int = 65536) -> np.ndarray:
        """The teacher's predictive standard deviation as the student learned it (teacher units)."""
        if not self.has_std:
            raise ConfigError("match_variance", "this student learned the teacher's mean only")
        return np.exp(self._raw(X_onehot, batch)[:, 1]) * self.y_std

    def num_parameters(self) -> int:
        """Parameters of the network."""
        return sum(p.numel() for p in self.net.parameters())


def train_student(
    X_onehot: np.ndarray,
    targets: np.ndarray,
    *,
    architecture: str = "cnn",
    channels: int = 32,
    epochs: int = 60,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    seed: int = 0,
    bootstrap: bool = False,
    target_std: np.ndarray | None = None,
) -> Student:
    """Fit a student to ``targets`` (the teacher's means, plus measured values).

    Without ``target_std`` the loss is the squared error to the teacher's mean. With it (the
    teacher's predictive standard deviation per row), the student outputs a mean and a log standard
    deviation and minimises the KL divergence from the teacher's Gaussian to its own.
    """
    from activeloop.ml.determinism import seeded

    with seeded(seed):
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, len(X_onehot), len(X_onehot)) if bootstrap else np.arange(len(X_onehot))
        x = onehot_tensor(X_onehot[rows])
        mu, sd = float(targets.mean()), float(targets.std() or 1.0)
        y = torch.as_tensor((targets[rows] - mu) / sd, dtype=torch.float32)
        ys = None
        if target_std is not None:
            ys = torch.as_tensor(np.maximum(target_std[rows], 1e-6) / sd, dtype=torch.float32)
        net = ARCHITECTURES.get(architecture)(x.shape[1], channels, outputs=1 if ys is None else 2)
        opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            net.train()
            perm = torch.randperm(len(x), generator=gen)
            for s in range(0, len(x), batch_size):
                idx = perm[s : s + batch_size]
                out = net(x[idx])
                if ys is None:
                    loss = nn.functional.mse_loss(out, y[idx])
                else:
                    loss = gaussian_kl(y[idx], ys[idx], out[:, 0], out[:, 1])
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
        net.eval()
        return Student(net, mu, sd)


@dataclass
class StudentEnsemble:
    """Students of one teacher (different seeds and bootstraps); their spread is an uncertainty."""

    members: list[Student]

    def member_predictions(self, X_onehot: np.ndarray) -> np.ndarray:
        """``members x N`` predictions in teacher units."""
        return np.stack([m.predict(X_onehot) for m in self.members])

    def predict(self, X_onehot: np.ndarray):  # noqa: ANN201 (surrogates.Prediction)
        """Mean and spread (standard deviation across members) at every row."""
        from activeloop.ml.surrogates.base import Prediction

        preds = self.member_predictions(X_onehot)
        var = preds.var(0, ddof=1) if len(preds) > 1 else np.zeros(preds.shape[1])
        if all(m.has_std for m in self.members):  # total variance: spread + learned teacher variance
            var = var + np.mean([m.predict_std(X_onehot) ** 2 for m in self.members], axis=0)
        return Prediction(preds.mean(0), np.sqrt(var))

    def num_parameters(self) -> int:
        """Parameters of all members."""
        return sum(m.num_parameters() for m in self.members)


def train_ensemble(
    X_onehot: np.ndarray, targets: np.ndarray, members: int = 4, seed: int = 0, **options: Any
) -> StudentEnsemble:
    """``members`` students on bootstrap resamples (one student without resampling if ``members=1``)."""
    return StudentEnsemble([
        train_student(X_onehot, targets, seed=seed * 100 + k, bootstrap=members > 1, **options)
        for k in range(members)
    ])


def export_onnx(student: Student, positions: int, path: str | Path) -> Path:
    """Export to one ONNX file (weights inside) with a dynamic batch dimension.

    The graph returns standardised outputs; multiply by ``y_std`` and add ``y_mean`` (kept in the
    metrics record) to get teacher units — :func:`onnx_predict` does.
    """
    path = Path(path)
    # the exporter warns about every torchvision op it cannot register; students use none
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    dummy = torch.zeros(2, positions, 20)
    torch.onnx.export(
        student.net, (dummy,), str(path), input_names=["x"], output_names=["y"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, external_data=False, verbose=False,
    )
    return path


@lru_cache(maxsize=32)
def _session(path: str, mtime_ns: int):  # noqa: ANN202 (onnxruntime.InferenceSession)
    import onnxruntime as ort

    # one thread: a student is tiny, and a spinning thread pool only fights other work for cores
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def onnx_predict(path: str | Path, X_onehot: np.ndarray, y_mean: float, y_std: float) -> np.ndarray:
    """Run an exported student with ``onnxruntime`` (CPU); the mean, in teacher units.

    Sessions are cached per file. A student that learned the teacher's standard deviation has a
    second output column (log standard deviation, standardised units); it is not returned here.
    """
    sess = _session(str(path), Path(path).stat().st_mtime_ns)
    out = sess.run(None, {"x": onehot_array(X_onehot)})[0].astype(np.float64)
    return (out[:, 0] if out.ndim == 2 else out) * y_std + y_mean


def export_ensemble(ensemble: StudentEnsemble, positions: int, directory: str | Path) -> list[Path]:
    """One ONNX file per member, ``directory/member-<k>.onnx``."""
    return [export_onnx(m, positions, Path(directory) / f"member-{k}.onnx")
            for k, m in enumerate(ensemble.members)]


def onnx_member_predictions(paths: list[Path], ensemble: StudentEnsemble, X_onehot: np.ndarray) -> np.ndarray:
    """``members x N`` predictions (teacher units) of an ensemble exported by :func:`export_ensemble`."""
    return np.stack([onnx_predict(p, X_onehot, m.y_mean, m.y_std) for p, m in zip(paths, ensemble.members)])


def latency_ms(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))
