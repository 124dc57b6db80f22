"""The kopf operator: a pure state machine (``machine``), pure builders of child objects
(``builders``), one reconcile loop per campaign (``loop``) and thin kopf glue (``handlers``)."""

from __future__ import annotations

import asyncio
import threading


def run_in_thread(namespaces: list[str]) -> tuple[threading.Thread, threading.Event]:
    """Start the operator in a thread of its own (tests, benchmarks); returns it and its stop flag.

    The operator reads its configuration from the environment when it starts.
    """
    import kopf

    from activeloop.controller import handlers  # noqa: F401  (registers the handlers)

    stop = threading.Event()
    ready = threading.Event()

    def main() -> None:
        asyncio.run(
            kopf.operator(
                namespaces=namespaces, standalone=True, clusterwide=False,
                stop_flag=stop, ready_flag=ready,
            )
        )

    thread = threading.Thread(target=main, name="kopf", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the operator did not become ready in 30 s")
    return thread, stop
