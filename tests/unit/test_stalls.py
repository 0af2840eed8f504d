"""Which consumers count as stalled: failing for longer than the stall time with the failing
records not getting through; and what the gauge says meanwhile."""

from __future__ import annotations

from prometheus_client import REGISTRY

from jobcast.stalls import StallWatch
from tests.clock import ManualClock


def gauge(group: str, topic: str) -> float | None:
    return REGISTRY.get_sample_value("jobcast_consumer_stalled", {"group": group, "topic": topic})


def watch_on(clock: ManualClock, stall_seconds: float = 60.0) -> StallWatch:
    return StallWatch(stall_seconds, clock=clock, wall_clock=lambda: 1_800_000_000.0 + clock.now)


def test_failing_for_longer_than_the_stall_time_is_a_stall_until_it_gets_through() -> None:
    clock = ManualClock()
    watch = watch_on(clock)
    watch.watch("g-stall", "t")
    assert gauge("g-stall", "t") == 0
    watch.failed("g-stall", "t", 0, ConnectionRefusedError())
    clock.now += 30
    watch.failed("g-stall", "t", 0, ConnectionRefusedError())
    assert watch.stalls() == []
    clock.now += 31
    watch.failed("g-stall", "t", 0, TimeoutError())
    [stall] = watch.stalls()
    assert stall.describe() == {
        "group": "g-stall",
        "topic": "t",
        "since": "2027-01-15T08:16:40+00:00",
        "seconds": 61,
        "error": "TimeoutError",
        "failures": 3,
    }
    assert gauge("g-stall", "t") == 1
    watch.recovered("g-stall", "t", 0)
    assert watch.stalls() == []
    assert gauge("g-stall", "t") == 0


def test_other_records_getting_through_do_not_hide_one_that_keeps_failing() -> None:
    clock = ManualClock()
    watch = watch_on(clock, stall_seconds=10)
    watch.failed("g-lane", "t", ("t", 0, 5), ConnectionRefusedError())
    for offset in range(6, 20):  # other lanes complete meanwhile
        watch.failed("g-lane", "t", ("t", 0, offset), ConnectionRefusedError())
        watch.recovered("g-lane", "t", ("t", 0, offset))
        clock.now += 1
    assert [s.group for s in watch.stalls()] == ["g-lane"]


def test_an_entry_no_failure_renews_is_forgotten() -> None:
    # The partition moved to another member while failing: nobody here retries it.
    clock = ManualClock()
    watch = watch_on(clock, stall_seconds=5)
    watch.failed("g-gone", "t", 1, ConnectionRefusedError())
    clock.now += 6
    assert watch.stalls() != []
    clock.now += 30
    assert watch.stalls() == []
    assert gauge("g-gone", "t") == 0


def test_recovering_something_never_failing_is_harmless() -> None:
    watch = watch_on(ManualClock())
    watch.recovered("g-none", "t", 3)
    assert watch.stalls() == []
