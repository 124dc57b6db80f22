"""The names a campaign spec accepts for its models, as types the schemas (and CRDs) enumerate.

The ML layer registers an implementation under each name (``ml.surrogates.SURROGATES``,
``ml.encodings.ENCODINGS``, ``ml.acquisition.STRATEGIES``); a test checks that the registries and
these lists agree, so a spec is validated without importing any ML library.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, get_args

SurrogateKind = Literal[
    "gp_epistasis_auto",
    "gp_epistasis",
    "gp",
    "gp_epistasis2",
    "gp_soft_epistasis",
    "boosting_ensemble",
    "mlp_ensemble",
    "student_ensemble",
]
"""Surrogate models with uncertainty (``surrogate.kind``)."""

FixedEncoding = Literal["onehot", "physchem", "onehot_physchem"]
"""Encodings computed from the residues alone."""

LANGUAGE_MODEL_ENCODING = "esm"
"""The encoding whose features come from the campaign's protein language model (``backbone``)."""

Encoding = Literal["onehot", "physchem", "onehot_physchem", "esm"]
"""Every accepted ``surrogate.encoding``."""

Strategy = Literal["thompson", "ucb", "logei", "qlognei", "greedy", "uncertainty", "random"]
"""Acquisition strategies (``acquisition.strategy``)."""

ZeroShotScorer = Literal["backbone", "hamming"]
"""Zero-shot scorers (``zeroShot.scorer``): the campaign's language model, or the Hamming baseline."""

InitialStrategy = Literal["random", "zeroShot", "focused"]
"""How the first batch is chosen (``initialBatch.strategy``)."""

SurrogatePrior = Literal["none", "zeroShot"]
"""Prior knowledge the surrogate is given (``surrogate.prior``)."""

TuningLoss = Literal["mse", "ranking"]
"""Fine-tuning objectives (``activeloop.ml.lora.LOSSES``)."""



class Step(str, Enum):
    """The steps of a round (and of a StudentModel), as Jobs, step functions and records name them."""

    TUNE = "tune"
    SCORE = "score"
    ACQUIRE = "acquire"
    DISTIL = "distil"

    def __str__(self) -> str:
        return self.value


ROUND_STEPS: tuple[Step, ...] = (Step.TUNE, Step.SCORE, Step.ACQUIRE)
"""A round's steps, in order (``score`` only in sharded rounds)."""
STEP_NAMES: tuple[str, ...] = tuple(s.value for s in Step)
"""Every step's name (``python -m activeloop.steps STEP``)."""
GPU_STEPS: tuple[Step, ...] = (Step.TUNE, Step.DISTIL)
"""Steps that may use a GPU (the others score with fitted models on a CPU)."""

SURROGATE_KINDS: tuple[str, ...] = get_args(SurrogateKind)
FIXED_ENCODINGS: tuple[str, ...] = get_args(FixedEncoding)
ENCODINGS: tuple[str, ...] = get_args(Encoding)
STRATEGIES: tuple[str, ...] = get_args(Strategy)

__all__ = [
    "ENCODINGS",
    "GPU_STEPS",
    "ROUND_STEPS",
    "STEP_NAMES",
    "Step",
    "FIXED_ENCODINGS",
    "LANGUAGE_MODEL_ENCODING",
    "STRATEGIES",
    "SURROGATE_KINDS",
    "Encoding",
    "FixedEncoding",
    "InitialStrategy",
    "Strategy",
    "SurrogateKind",
    "SurrogatePrior",
    "ZeroShotScorer",
]
