"""Prometheus metrics of the operator (``prometheus_client``), served on ``metricsPort``.

* ``activeloop_reconcile_total{outcome}``: campaign loop passes (``ok``, ``error``);
* ``activeloop_step_jobs_created_total{step}``, ``activeloop_step_jobs_finished_total{step,outcome}``
  and ``activeloop_step_job_seconds{step}`` (from the Job's start to its end);
* ``activeloop_rounds{phase}``: LoopRounds by phase, over every campaign;
* ``activeloop_rounds_started_total``;
* ``activeloop_assays_total{outcome}`` (accepted, rejected, superseded) and
  ``activeloop_measurements_total{outcome}`` (accepted, rejected);
* ``activeloop_assay_to_job_seconds``: from the last accepted AssayResult of a round to the next
  round's tune Job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from threading import Lock

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from activeloop.api.resources import LoopRoundStatus, RoundPhase

_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)


class _RoundsByPhase(Collector):
    """``activeloop_rounds{phase}``, from what each campaign's last pass saw."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._by_campaign: dict[tuple[str, str], dict[str, int]] = {}

    def update(self, namespace: str, name: str, rounds: Mapping[int, LoopRoundStatus]) -> None:
        counts: dict[str, int] = {}
        for st in rounds.values():
            counts[st.phase.value] = counts.get(st.phase.value, 0) + 1
        with self._lock:
            self._by_campaign[(namespace, name)] = counts

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._by_campaign.pop((namespace, name), None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("activeloop_rounds", "LoopRounds by phase", labels=["phase"])
        with self._lock:
            for phase in RoundPhase:
                total = sum(c.get(phase.value, 0) for c in self._by_campaign.values())
                family.add_metric([phase.value], total)
        yield family


class Metrics:
    """The operator's metrics, in a registry of their own (made by the operator at startup and
    passed to what records them: nothing is registered at import)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.reconciles = Counter("activeloop_reconcile", "Campaign loop passes", ["outcome"], registry=r)
        self.jobs_created = Counter("activeloop_step_jobs_created", "Step Jobs created", ["step"], registry=r)
        self.jobs_finished = Counter("activeloop_step_jobs_finished", "Step Jobs finished", ["step", "outcome"],
                                     registry=r)
        self.job_seconds = Histogram("activeloop_step_job_seconds", "Step Job duration", ["step"],
                                     buckets=_BUCKETS, registry=r)
        self.rounds_started = Counter("activeloop_rounds_started", "LoopRounds created", registry=r)
        self.assays = Counter("activeloop_assays", "AssayResults decided", ["outcome"], registry=r)
        self.measurements = Counter("activeloop_measurements", "Measurements checked", ["outcome"], registry=r)
        self.assay_to_job = Histogram("activeloop_assay_to_job_seconds",
                                      "From the last accepted AssayResult to the next round's tune Job",
                                      buckets=_BUCKETS, registry=r)
        self.rounds = _RoundsByPhase()
        r.register(self.rounds)

    def observe_rounds(self, namespace: str, name: str, rounds: Mapping[int, LoopRoundStatus]) -> None:
        """Record the rounds a campaign's pass saw (for ``activeloop_rounds``)."""
        self.rounds.update(namespace, name, rounds)


__all__ = ["Metrics"]
