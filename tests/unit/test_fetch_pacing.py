"""Fetch waits that follow the traffic: long once a consumer is idle, the usual ones as soon
as a record comes (jobcast.kafka.polling.FetchPacing)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from jobcast.kafka import polling
from jobcast.kafka.polling import (
    FETCH_MAX_WAIT_MS,
    GATHER_MIN_BYTES,
    GATHER_WAIT_MS,
    IDLE_FETCH_WAIT_MS,
    QUIET_BEFORE_IDLE_S,
    FetchPacing,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def consumer(wait_ms: int = FETCH_MAX_WAIT_MS, min_bytes: int = 1) -> SimpleNamespace:
    """What FetchPacing touches of an aiokafka consumer: its fetcher's two settings."""
    return SimpleNamespace(
        _fetcher=SimpleNamespace(_fetch_max_wait_ms=wait_ms, _fetch_min_bytes=min_bytes)
    )


def settings(c: SimpleNamespace) -> tuple[int, int]:
    return c._fetcher._fetch_max_wait_ms, c._fetcher._fetch_min_bytes


def test_a_quiet_consumer_turns_idle_and_fetches_long_taking_the_first_byte() -> None:
    clock, c = Clock(), consumer(GATHER_WAIT_MS, GATHER_MIN_BYTES)
    pacing = FetchPacing(GATHER_WAIT_MS, GATHER_MIN_BYTES, clock=clock)
    clock.now += QUIET_BEFORE_IDLE_S - 0.1
    pacing.after_poll(c, 0)
    assert not pacing.idle
    assert pacing.poll_timeout_ms == FETCH_MAX_WAIT_MS
    assert settings(c) == (GATHER_WAIT_MS, GATHER_MIN_BYTES)
    clock.now += 0.1
    pacing.after_poll(c, 0)
    assert pacing.idle
    assert pacing.poll_timeout_ms == IDLE_FETCH_WAIT_MS
    assert settings(c) == (IDLE_FETCH_WAIT_MS, 1)


def test_the_first_record_brings_the_usual_waits_back() -> None:
    clock, c = Clock(), consumer(GATHER_WAIT_MS, GATHER_MIN_BYTES)
    pacing = FetchPacing(GATHER_WAIT_MS, GATHER_MIN_BYTES, clock=clock)
    clock.now += QUIET_BEFORE_IDLE_S
    pacing.after_poll(c, 0)
    assert pacing.idle
    pacing.after_poll(c, 3)
    assert not pacing.idle
    assert settings(c) == (GATHER_WAIT_MS, GATHER_MIN_BYTES)
    assert pacing.poll_timeout_ms == FETCH_MAX_WAIT_MS
    clock.now += QUIET_BEFORE_IDLE_S - 1  # the quiet period starts again from that record
    pacing.after_poll(c, 0)
    assert not pacing.idle


def test_records_still_being_handled_keep_a_consumer_busy() -> None:
    # Their partitions may be left out of a fetch sent meanwhile: it must stay short.
    clock, c = Clock(), consumer()
    pacing = FetchPacing(clock=clock)
    clock.now += 3 * QUIET_BEFORE_IDLE_S
    pacing.after_poll(c, 0, handling=1)
    assert not pacing.idle
    assert settings(c) == (FETCH_MAX_WAIT_MS, 1)
    clock.now += QUIET_BEFORE_IDLE_S
    pacing.after_poll(c, 0, handling=0)
    assert pacing.idle


def test_an_aiokafka_without_those_settings_keeps_its_waits_and_says_so_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "_warned", False)
    clock = Clock()
    pacing = FetchPacing(clock=clock)
    clock.now += QUIET_BEFORE_IDLE_S
    with caplog.at_level(logging.WARNING, logger="jobcast.kafka.polling"):
        pacing.after_poll(SimpleNamespace(), 0)
        pacing.after_poll(SimpleNamespace(), 0)
    assert not pacing.idle
    assert pacing.poll_timeout_ms == FETCH_MAX_WAIT_MS
    assert len([r for r in caplog.records if "idle fetches stay short" in r.message]) == 1
