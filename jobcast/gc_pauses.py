"""How long the cyclic garbage collector holds the event loop, as a Prometheus histogram.

A collection runs on the loop's thread and nothing else runs meanwhile: every record in
every lane waits it out. Python's own collector metrics (`python_gc_*`) count collections
and objects, not time; a pause that grows (a reference cycle per record, so each pass frees
tens of thousands of objects) shows only as latency somewhere else. This puts the time on
the collector.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

GC_PAUSE_SECONDS = Histogram(
    "jobcast_gc_pause_seconds",
    "Time the cyclic garbage collector held the process, per collection, by generation",
    ["generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


class _PauseTimer:
    def __init__(self) -> None:
        self._started = 0.0
        self._by_generation = [GC_PAUSE_SECONDS.labels(generation=str(g)) for g in range(3)]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._by_generation[info["generation"]].observe(time.perf_counter() - self._started)


def time_collector_pauses() -> None:
    """Observe every collection from now on (once per process; again is a no-op)."""
    if not any(isinstance(callback, _PauseTimer) for callback in gc.callbacks):
        gc.callbacks.append(_PauseTimer())
