"""Fitness landscapes: measured variants with fitness, used as the "lab" of simulated campaigns.

A landscape is a CSV with one variant column and one fitness column. Column names are detected
(``variant``/``Variants``/``mutant``/``sequence`` and ``fitness``/``Fitness``/``DMS_score``) or
given. Known public landscapes are fetched by name with a checksum and a cache (``pooch``); an
environment variable points at a local copy instead (``ACTIVELOOP_GB1_CSV`` for ``gb1``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from activeloop.errors import InputError
from activeloop.ml.library import VariantLibrary

GB1_PARENT = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"
"""Protein G domain B1 (56 aa); Wu et al. 2016 mutated the 1-based sites 39, 40, 41 and 54."""

BLAT_PARENT = (
    "HPETLVKVKDAEDQLGARVGYIELDLNSGKILESFRPEERFPMMSTFKVLLCGAVLSRVDAGQEQLGRRIHYSQNDLVEYSPVTEKHLTDGMTV"
    "RELCSAAITMSDNTAANLLLTTIGGPKELTAFLHNMGDHVTRLDRWEPELNEAIPNDERDTTMPAAMATTLRKLLTGELLTLASRQQLIDWMEAD"
    "KVAGPLLRSALPAGWFIADKSGAGERGSRGIIAALGPDGKPSRIVVIYTTGSQATMDERNRQIAEIGASLIKHW"
)
"""TEM-1 beta-lactamase, residues 24-286 (Ambler-style numbering of the deep mutational scan)."""


@dataclass(frozen=True)
class KnownLandscape:
    """A public landscape that can be fetched by name."""

    name: str
    url: str
    sha256: str
    env_var: str
    variant_column: str
    fitness_column: str
    parent: str | None
    sites: tuple[int, ...]
    citation: str
    first_position: int = 1
    shared_file: str = ""
    """Its file name in the ``datasets/`` folder of a development checkout's ``../shared``."""


KNOWN: dict[str, KnownLandscape] = {
    "gb1": KnownLandscape(
        name="gb1",
        url=(
            "https://raw.githubusercontent.com/fhalab/MLDE/"
            "f5ac34d13b15f3ce3fa9deb1d043a5e97fe46cdc/code/validation/basic_test_data/Gb1Dataset.csv"
        ),
        sha256="b82393d47b09281db823c661a3df6acac89179119eb2e0d1daa793052fe0228b",
        env_var="ACTIVELOOP_GB1_CSV",
        variant_column="Variants",
        fitness_column="Fitness",
        parent=GB1_PARENT,
        sites=(39, 40, 41, 54),
        citation="Wu, Dai, Olson, Lloyd-Smith & Sun (2016) eLife 5:e16965, CC BY 4.0",
        shared_file="gb1_wu2016.csv",
    ),
    "blat": KnownLandscape(
        name="blat",
        url=(
            "https://raw.githubusercontent.com/facebookresearch/esm/main/"
            "examples/variant-prediction/data/BLAT_ECOLX_Ranganathan2015.csv"
        ),
        sha256="2bf86306d8841b771bc8d8e717adac8d75adf1586759c0ccc1878ff408e13a29",
        env_var="ACTIVELOOP_BLAT_CSV",
        variant_column="mutant",
        fitness_column="2500",
        parent=BLAT_PARENT,
        sites=(),
        citation="Stiffler, Hochberg & Ranganathan (2015) Cell 160:882; copy from facebookresearch/esm (MIT)",
        first_position=24,
        shared_file="blat_ecolx_stiffler2015.csv",
    ),
}

_VARIANT_COLUMNS = ("variant", "variants", "mutant", "mutation", "mutations", "sequence", "seq")
_FITNESS_COLUMNS = ("fitness", "dms_score", "score", "value", "y")


@dataclass(frozen=True)
class Landscape:
    """A library with a measured fitness for every variant (``fitness[i]`` of ``library.names[i]``)."""

    name: str
    library: VariantLibrary
    fitness: np.ndarray

    @property
    def global_max(self) -> float:
        """The highest fitness in the landscape."""
        return float(self.fitness.max())

    def __len__(self) -> int:
        return len(self.library)


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def development_shared() -> Path:
    """``../shared`` beside a development checkout (where this package is ``operator/activeloop``)."""
    root = Path(__file__).resolve().parents[2]
    return root.parent / "shared" if (root / "pyproject.toml").is_file() else Path("/nonexistent")


def fetch_known(name: str) -> Path:
    """Local path of known landscape ``name``, looked for in this order:

    1. the environment variable (``ACTIVELOOP_GB1_CSV`` for ``gb1``);
    2. the cached download (checksum-verified);
    3. in a development checkout, ``../shared/datasets/`` beside it;
    4. a download from its pinned URL (checksum-verified, then cached).

    Offline with none of these, the error is one line naming the environment variable.
    """
    known = KNOWN[name]
    local = os.environ.get(known.env_var)
    if local:
        path = Path(local)
        if not path.is_file():
            raise InputError(known.env_var, f"{path} does not exist")
        return path
    import pooch

    cache = Path(pooch.os_cache("activeloop"))
    cached = cache / f"{name}.csv"
    if cached.is_file() and _sha256(cached) == known.sha256:
        return cached
    shared = development_shared() / "datasets" / known.shared_file
    if known.shared_file and shared.is_file():
        return shared
    try:
        return Path(pooch.retrieve(known.url, known_hash=f"sha256:{known.sha256}", fname=f"{name}.csv",
                                   path=cache, progressbar=False))
    except Exception as exc:  # no network, a proxy, a changed file: all mean "give us a local copy"
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise InputError(known.env_var, (
            f"the {name} data set is not here and could not be downloaded ({reason}); set "
            f"{known.env_var} to a local copy of {known.url}")) from None


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise InputError(f"{what}_column", f"{wanted!r} is not a column; columns: {columns}")
        return wanted
    lower = {c.lower().strip(): c for c in columns}
    for c in candidates:
        if c in lower:
            return lower[c]
    raise InputError(f"{what}_column", f"no column like {candidates} among {columns}; name one")


def load_landscape(
    source: str | Path,
    *,
    parent: str | None = None,
    sites: tuple[int, ...] = (),
    variant_column: str | None = None,
    fitness_column: str | None = None,
    first_position: int | None = None,
) -> Landscape:
    """Load a landscape from a known name (``gb1``, ``blat``) or a CSV path.

    Without a ``parent``, variants must be equal-length residue strings (site combinations such as
    ``VDGV``); they are then their own sequences. Mutation strings numbered from
    ``first_position`` (BLAT's start at 24) are renumbered to 1-based positions in ``parent``. Rows
    with a missing fitness are dropped; a duplicated variant is an error that names both rows.
    """
    name = str(source)
    if name in KNOWN:
        known = KNOWN[name]
        path = fetch_known(name)
        parent = parent or known.parent
        sites = sites or known.sites
        variant_column = variant_column or known.variant_column
        fitness_column = fitness_column or known.fitness_column
        first_position = first_position or known.first_position
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError("landscape", f"{path} is not a file nor one of {sorted(KNOWN)}")
        name = path.stem
    df = pd.read_csv(path, encoding="utf-8-sig")
    vcol = _pick(list(df.columns), variant_column, _VARIANT_COLUMNS, "variant")
    fcol = _pick(list(df.columns), fitness_column, _FITNESS_COLUMNS, "fitness")
    df = df[[vcol, fcol]].dropna()
    variants = df[vcol].astype(str).str.strip().tolist()
    fitness = pd.to_numeric(df[fcol], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(fitness).all():
        bad = int(np.nonzero(~np.isfinite(fitness))[0][0])
        raise InputError(fcol, f"row {bad + 2} has a non-numeric fitness")
    if first_position and first_position != 1:
        variants = [_renumber(v, first_position - 1) for v in variants]
    if parent is None:
        lengths = {len(v) for v in variants}
        if len(lengths) != 1:
            raise InputError(vcol, "variants of different lengths need a parent sequence")
        library = VariantLibrary.from_sequences(variants[0], variants)
        library = VariantLibrary(
            parent=variants[0], tokens=library.tokens, names=tuple(variants), sites=()
        )
    else:
        library = VariantLibrary.from_strings(parent, variants, sites)
    return Landscape(name=name, library=library, fitness=fitness)


_MUTATION = re.compile(r"([A-Za-z])(\d+)([A-Za-z*])")


def _renumber(variant: str, shift: int) -> str:
    """``H24C`` -> ``H1C`` for ``shift=23`` (every mutation of a ``:``-joined variant)."""
    return _MUTATION.sub(lambda m: f"{m[1]}{int(m[2]) - shift}{m[3]}", variant)
