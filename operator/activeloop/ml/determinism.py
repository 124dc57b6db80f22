"""Same seed, same result: whatever the thread count, and without touching global random state.

* :func:`single_threaded`: torch and the BLAS libraries use one thread inside the block. Parallel
  reductions add floating-point numbers in an order that depends on the thread count, so a GP fit
  with two threads ends at a (slightly) different optimum than with one, and a campaign then
  diverges. On the machines we measured, one thread was rarely slower for these small problems;
  parallel work comes from running seeds or shards in separate processes.
* :func:`seeded`: torch's global generator seeded for the block and restored after it (layers such
  as ``nn.Linear`` and peft's LoRA draw their initial weights from it), so a fit is reproducible
  and leaves the caller's random state as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run the block with one torch thread and one BLAS/OpenMP thread."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global generators seeded with ``seed``, then restore them."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


__all__ = ["seeded", "single_threaded"]
