"""Every collection of the cyclic garbage collector is timed, by generation."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from jobcast.gc_pauses import _PauseTimer, time_collector_pauses


def _collections(generation: int) -> float:
    found = REGISTRY.get_sample_value(
        "jobcast_gc_pause_seconds_count", {"generation": str(generation)}
    )
    return found or 0.0


def test_a_collection_is_observed_once_however_often_the_timer_is_installed() -> None:
    time_collector_pauses()
    time_collector_pauses()
    assert sum(isinstance(c, _PauseTimer) for c in gc.callbacks) == 1
    before = _collections(2)
    gc.collect()
    assert _collections(2) == before + 1
    seconds = REGISTRY.get_sample_value("jobcast_gc_pause_seconds_sum", {"generation": "2"})
    assert seconds is not None
    assert seconds > 0
