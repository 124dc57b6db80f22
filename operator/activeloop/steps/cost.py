"""What a piece of work cost: wall time, CPU time and an energy estimate (``codecarbon``).

Every step records its cost in its result record (and the operator copies it into the LoopRound's
status), so a lab sees what each round cost. Energy comes from ``codecarbon``: measured through
RAPL (CPU) and NVML (GPU) where the machine exposes them, otherwise estimated from CPU load and the
processor's TDP; :func:`energy_method` says which.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")


def energy_method() -> str:
    """How ``codecarbon`` can know CPU energy on this machine."""
    if RAPL.is_file() and os.access(RAPL, os.R_OK):
        return "measured (RAPL)"
    return "estimated (CPU load x TDP; no readable RAPL)"


def emissions_tracker(country: str = "USA") -> Any:
    """An offline ``codecarbon`` tracker of this process (no network, nothing written)."""
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)  # after import: it sets its own level
    return OfflineEmissionsTracker(
        country_iso_code=country, output_methods=[], log_level="error", tracking_mode="process",
        measure_power_secs=1,
    )


@contextmanager
def measure(country: str | None = None) -> Iterator[dict[str, Any]]:
    """Measure the ``with`` block; the yielded dict is filled in on exit.

    Keys: ``wall_seconds``, ``cpu_seconds``, ``energy_kwh`` and ``co2e_kg`` (``None`` without
    ``codecarbon``), ``energy_method``.
    """
    cost: dict[str, Any] = {}
    tracker = None
    try:
        tracker = emissions_tracker(country or os.environ.get("ACTIVELOOP_COUNTRY", "USA"))
        tracker.start()
    except Exception:  # codecarbon missing or unable to start: time still counts
        tracker = None
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield cost
    finally:
        cost["wall_seconds"] = time.perf_counter() - wall
        cost["cpu_seconds"] = time.process_time() - cpu
        cost["energy_kwh"] = cost["co2e_kg"] = None
        cost["energy_method"] = "not measured"
        if tracker is not None:
            try:
                emissions = tracker.stop()
                cost["energy_kwh"] = float(tracker.final_emissions_data.energy_consumed)
                cost["co2e_kg"] = float(emissions or 0.0)
                cost["energy_method"] = energy_method()
            except Exception:
                pass


__all__ = ["RAPL", "emissions_tracker", "energy_method", "measure"]
