"""Candidate models for a task, named in one short grammar, fitted and scored the same way.

``HEAD:FEATURES`` or ``student-ARCH[*N]``:

- FEATURES: a fixed encoding (``onehot``, ``physchem``, ``onehot_physchem``) or a protein language
  model, ``esm=ID_OR_DIR`` (ESM-2 via ``transformers``) or ``unirep=64|256|1900|NPZ``;
- HEAD: ``ridge`` (cross-validated ridge regression on the features; frozen embeddings for a
  language model), ``lora`` (LoRA adapters and a linear head tuned on the task, language models
  only), or any surrogate of the core loop (``gp_epistasis``, ``boosting_ensemble``, ...);
- ``student-cnn*4``: an ensemble of 4 CNN students distilled from a teacher's predictions over the
  task's variants (plus the measured training values), run through ONNX Runtime.

Examples: ``ridge:onehot``, ``gp_epistasis:onehot``, ``ridge:unirep=256``, ``lora:esm=facebook/
esm2_t6_8M_UR50D``, ``student-cnn*4``. Used by ``activeloop bench-models``; no Kubernetes here.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from activeloop.errors import ConfigError
from activeloop.ml.encodings import ENCODINGS, get_encoder
from activeloop.ml.library import VariantLibrary
from activeloop.ml.surrogates import SURROGATES, Prediction, get_surrogate
from activeloop.ml.unirep import PUBLISHED_SIZES

PLM_FEATURES = ("esm", "unirep")
_STUDENT = re.compile(r"^student-(cnn|mlp)(?:(\d+))?(?:\*(\d+))?$")


@dataclass(frozen=True)
class ModelSpec:
    """One parsed model name (see the module docstring for the grammar)."""

    text: str
    head: str
    features: str = ""
    source: str = ""
    architecture: str = ""
    channels: int = 16
    members: int = 1

    @property
    def is_student(self) -> bool:
        """Whether this model learns from a teacher's predictions."""
        return self.head == "student"

    @property
    def backbone(self) -> str:
        """Backbone name for :func:`~activeloop.ml.backbones.load_backbone` (language models)."""
        return f"unirep:{self.source}" if self.features == "unirep" and self.source.isdigit() else self.source


def parse_model(text: str) -> ModelSpec:
    """Parse ``HEAD:FEATURES`` / ``student-ARCH[CHANNELS][*N]``; errors name the model and the problem."""
    text = text.strip()
    m = _STUDENT.match(text)
    if m:
        return ModelSpec(text, "student", architecture=m[1], channels=int(m[2] or 16),
                         members=int(m[3] or 1))
    if ":" not in text:
        raise ConfigError("models", f"{text!r}: expected HEAD:FEATURES or student-cnn[*N]")
    head, features = text.split(":", 1)
    source = ""
    if "=" in features:
        features, source = features.split("=", 1)
        if features not in PLM_FEATURES or not source:
            raise ConfigError("models", f"{text!r}: only esm=... and unirep=... take a model")
        if features == "unirep" and source.isdigit() and int(source) not in PUBLISHED_SIZES:
            raise ConfigError("models", f"{text!r}: published UniRep sizes are {PUBLISHED_SIZES}")
    elif features in PLM_FEATURES:
        raise ConfigError("models", f"{text!r}: name the model, e.g. {features}=...")
    elif features not in ENCODINGS:
        raise ConfigError(
            "models", f"{text!r}: features {features!r} unknown; known: {sorted(ENCODINGS)}, esm=, unirep="
        )
    heads = {"ridge", "lora", *SURROGATES}
    if head not in heads:
        raise ConfigError("models", f"{text!r}: head {head!r} unknown; known: {sorted(heads)}")
    if head == "lora" and features not in PLM_FEATURES:
        raise ConfigError("models", f"{text!r}: lora needs a language model (esm= or unirep=)")
    return ModelSpec(text, head, features, source)


class Fitted(Protocol):
    """A fitted model: scores library rows; counts its parameters and the bytes it deploys as."""

    trainable: int | None
    total: int | None
    bytes: int

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Predicted fitness of library ``rows``."""


@dataclass
class _FeatureModel:
    """A ridge or surrogate head on fixed or frozen-embedding features computed on demand."""

    featurise: Callable[[np.ndarray], np.ndarray]
    head: Any
    trainable: int | None
    total: int | None
    bytes: int

    def predict(self, rows: np.ndarray) -> np.ndarray:
        X = self.featurise(rows)
        out = self.head.predict(X)
        return np.asarray(out.mean if isinstance(out, Prediction) else out, dtype=np.float64)


@dataclass
class _TunedModel:
    tuned: Any
    sequences: list[str]
    trainable: int | None
    total: int | None
    bytes: int

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.tuned.predict([self.sequences[i] for i in rows], batch_size=64)


@dataclass
class _StudentModel:
    ensemble: Any
    paths: list[Path]
    X: np.ndarray
    trainable: int | None
    total: int | None
    bytes: int
    _tmp: object = field(default=None, repr=False)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        from activeloop.ml.distill import onnx_member_predictions

        return onnx_member_predictions(self.paths, self.ensemble, self.X[rows]).mean(0)


def _ridge() -> Any:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))


def fit_model(
    spec: ModelSpec,
    library: VariantLibrary,
    train: np.ndarray,
    y: np.ndarray,
    *,
    teacher: np.ndarray | None = None,
    epochs: int = 10,
    seed: int = 0,
) -> Fitted:
    """Fit ``spec`` on library rows ``train`` with values ``y``.

    Students need ``teacher``: the teacher's prediction for every library row (they learn it on the
    rows outside ``train`` and the measured ``y`` on ``train``).
    """
    if spec.is_student:
        return _fit_student(spec, library, train, y, teacher, epochs=epochs, seed=seed)
    featurise: Callable[[np.ndarray], np.ndarray]
    if spec.features in ENCODINGS:
        X = get_encoder(spec.features).encode(library)

        def featurise(rows: np.ndarray) -> np.ndarray:
            return X[rows]

        base = base_bytes = 0
    else:
        from activeloop.ml.backbones import embed_sequences, load_backbone

        backbone = load_backbone(spec.backbone)
        sequences = library.sequences
        base = backbone.num_parameters()
        base_bytes = sum(p.numel() * p.element_size() for p in backbone.model.parameters())
        if spec.head == "lora":
            from activeloop.ml.lora import tune_lora

            tuned = tune_lora(backbone, [sequences[i] for i in train], y, epochs=epochs, seed=seed)
            tuned_params, all_params = tuned.parameter_counts()
            return _TunedModel(tuned, sequences, tuned_params, all_params, base_bytes + 4 * tuned_params)

        def featurise(rows: np.ndarray) -> np.ndarray:
            return embed_sequences(backbone, [sequences[i] for i in rows], batch_size=64)

    X_train = featurise(train)
    trainable: int | None
    if spec.head == "ridge":
        head = _ridge().fit(X_train, y)
        trainable = X_train.shape[1] + 1
    else:
        head = get_surrogate(spec.head, seed=seed).fit(X_train, y)
        trainable = _surrogate_size(head, X_train)
    total = None if trainable is None else trainable + base
    return _FeatureModel(featurise, head, trainable, total, base_bytes + _pickled_bytes(head))


def _surrogate_size(surrogate: object, X_train: np.ndarray) -> int | None:
    """Numbers a fitted GP keeps (hyperparameters and its training set); None for ensembles."""
    model = getattr(surrogate, "model", None)
    if model is not None and hasattr(model, "parameters"):
        return int(sum(p.numel() for p in model.parameters()) + X_train.size + len(X_train))
    return None


def _pickled_bytes(obj: object) -> int:
    """Serialised size of a fitted head (what a lab would store to score with it)."""
    import pickle

    try:
        return len(pickle.dumps(obj))
    except (pickle.PicklingError, AttributeError, TypeError):
        # ensembles hold closures over their fitted members: count what the closures keep
        members = getattr(obj, "members", [])
        cells = [c.cell_contents for m in members for c in (getattr(m, "__closure__", None) or ())]
        return sum(_pickled_bytes(c) for c in cells)


def _fit_student(
    spec: ModelSpec,
    library: VariantLibrary,
    train: np.ndarray,
    y: np.ndarray,
    teacher: np.ndarray | None,
    *,
    epochs: int,
    seed: int,
) -> _StudentModel:
    from activeloop.ml.distill import export_ensemble, train_ensemble

    if teacher is None or len(teacher) != len(library):
        raise ConfigError("teacher", f"{spec.text} needs the teacher's prediction for every variant")
    X = get_encoder("onehot").encode(library)
    targets = np.asarray(teacher, dtype=np.float64).copy()
    targets[train] = y
    ensemble = train_ensemble(X, targets, members=spec.members, seed=seed,
                              architecture=spec.architecture, channels=spec.channels,
                              epochs=max(epochs, 20))
    tmp = tempfile.TemporaryDirectory(prefix="activeloop-student-")
    paths = export_ensemble(ensemble, X.shape[1] // 20, tmp.name)
    size = ensemble.num_parameters()
    return _StudentModel(ensemble, paths, X, size, size, sum(p.stat().st_size for p in paths), tmp)
