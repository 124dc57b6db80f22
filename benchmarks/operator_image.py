"""Size of the operator image's Python layer: what `pip install ".[operator]"` installs.

    python benchmarks/operator_image.py

No Docker engine runs on our CI machines, so the image itself is not built here: this installs
the package with its ``operator`` extra into an empty directory (as the Dockerfile's final stage
does), checks that no torch (nor any other ML library) came with it, and reports its size beside
the worker's (``workstation`` extra, with the CPU build of torch). The base image
(python:3.11-slim-bookworm, about 125 MB) comes on top of both. Writes
``benchmarks/results/operator-image.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ML = ("torch", "botorch", "gpytorch", "transformers", "peft", "scipy", "sklearn")


def install(extra: str, target: Path, pre: list[str] = ()) -> dict:
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-cache-dir",
                    "--target", str(target), *pre, f"{ROOT}[{extra}]"], check=True)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    packages = sorted({p.name.split("-")[0].lower() for p in target.glob("*.dist-info")})
    biggest = sorted(((sum(f.stat().st_size for f in d.rglob("*") if f.is_file()), d.name)
                      for d in target.iterdir() if d.is_dir() and not d.name.endswith(".dist-info")), reverse=True)[:5]
    return {"extra": extra, "megabytes": round(size / 2**20, 1), "packages": len(packages),
            "largest_mb": {name: round(b / 2**20, 1) for b, name in biggest},
            "ml_libraries": [m for m in ML if (target / m).is_dir()], "seconds": round(time.time() - t0, 1)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        operator = install("operator", Path(tmp) / "operator")
        worker = install("workstation", Path(tmp) / "worker", pre=["torch==2.13.0"])
    result = {"operator": operator, "worker": worker,
              "note": "Python packages only; the python:3.11-slim-bookworm base (about 125 MB) is under both"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "operator-image.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if operator["ml_libraries"]:
        sys.exit(f"the operator extra installed {operator['ml_libraries']}")


if __name__ == "__main__":
    main()
