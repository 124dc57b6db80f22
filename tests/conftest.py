"""Shared fixtures: small landscapes built here, a tiny ESM-2 saved locally, the shared data sets."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from activeloop.ml.sequences import AMINO_ACIDS

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def make_landscape_csv(path: Path, n_sites: int = 3, seed: int = 0) -> Path:
    """A synthetic site-combination landscape with additive and pairwise effects (20^n rows)."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(n_sites, 20))
    w2 = rng.normal(size=(20, 20)) * 0.7
    lines = ["variant,fitness"]
    for combo in itertools.product(range(20), repeat=n_sites):
        y = sum(w1[i, c] for i, c in enumerate(combo)) + w2[combo[0], combo[1]]
        lines.append("".join(AMINO_ACIDS[c] for c in combo) + f",{np.exp(y / 2):.6f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def small_landscape_csv(tmp_path_factory) -> Path:
    return make_landscape_csv(tmp_path_factory.mktemp("land") / "small.csv")


@pytest.fixture(scope="session")
def tiny_esm(tmp_path_factory) -> Path:
    from activeloop.ml.backbones import build_tiny_esm

    return build_tiny_esm(tmp_path_factory.mktemp("esm") / "tiny-esm2")


def _shared_dataset(file: str, name: str) -> Path:
    path = SHARED / "datasets" / file
    if not path.is_file():
        pytest.skip(f"{name} data set not found at {path} (shared/ folder missing)")
    return path


@pytest.fixture(scope="session")
def gb1_csv() -> Path:
    return _shared_dataset("gb1_wu2016.csv", "GB1")


@pytest.fixture(scope="session")
def blat_csv() -> Path:
    return _shared_dataset("blat_ecolx_stiffler2015.csv", "BLAT")
