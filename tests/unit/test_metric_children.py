"""`child`: a labelled series looked up once, then reused, and the same series as labels()."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from jobcast.metrics import child


def test_child_is_the_labelled_series_and_is_remembered() -> None:
    counter = Counter(
        "t_children_total", "test", ["topic", "outcome"], registry=CollectorRegistry()
    )
    first = child(counter, "jobs.events", "handled")
    first.inc(2)
    assert child(counter, "jobs.events", "handled") is first
    assert counter.labels(topic="jobs.events", outcome="handled")._value.get() == 2
    child(counter, "jobs.events", "dead_lettered").inc()
    assert counter.labels(topic="jobs.events", outcome="dead_lettered")._value.get() == 1
