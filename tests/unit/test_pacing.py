"""Usage headers, pacing and retry tiers."""

from __future__ import annotations

import json

import pytest

from jobcast.graph.pacing import (
    STOP_AT,
    RetryPolicy,
    Throttle,
    Usage,
    pacing_delay,
    parse_app_usage,
    parse_business_usage,
)
from tests.clock import ManualClock


def test_parse_app_usage_takes_the_highest_percentage() -> None:
    header = json.dumps({"call_count": 28, "total_time": 91, "total_cputime": 25})
    assert parse_app_usage(header) == Usage(91.0)
    assert parse_app_usage(None) is None
    assert parse_app_usage("not json") is None
    assert parse_app_usage("[1, 2]") is None


def test_parse_business_usage_per_object_with_regain_in_minutes() -> None:
    header = json.dumps(
        {
            "111": [{"type": "pages", "call_count": 97, "total_cputime": 23, "total_time": 23,
                     "estimated_time_to_regain_access": 0}],
            "222": [{"type": "instagram", "call_count": 100, "total_cputime": 40,
                     "total_time": 40, "estimated_time_to_regain_access": 7}],
            "bad": "nope",
        }
    )  # fmt: skip
    assert parse_business_usage(header) == {"111": Usage(97.0, 0.0), "222": Usage(100.0, 420.0)}
    assert parse_business_usage("") == {}


def test_a_repeated_usage_header_is_parsed_once_and_shared_read_only() -> None:
    header = '{"333": [{"call_count": 80, "total_time": 1, "total_cputime": 1}]}'
    first, again = parse_business_usage(header), parse_business_usage(header)
    assert first is again  # the cached parse: every response sends these headers
    with pytest.raises(TypeError):
        first["333"] = Usage(0.0)  # type: ignore[index]
    assert parse_business_usage(header) == {"333": Usage(80.0)}


def test_pacing_grows_with_usage_and_pauses_near_the_limit() -> None:
    assert pacing_delay(10) == 0
    assert pacing_delay(74.9) == 0
    assert 0 < pacing_delay(80) < pacing_delay(90) < pacing_delay(94.9)
    assert pacing_delay(STOP_AT) == 60.0


def test_throttle_holds_only_the_limited_account() -> None:
    clock = ManualClock()
    throttle = Throttle(clock)
    throttle.observe(None, {"111": Usage(100.0, 420.0), "222": Usage(10.0)})
    assert throttle.wait_seconds("111") == 420.0
    assert throttle.wait_seconds("222") == 0
    clock.now += 421
    assert throttle.wait_seconds("111") == 0


def test_rate_limit_error_blocks_account_or_app() -> None:
    clock = ManualClock()
    throttle = Throttle(clock)
    throttle.rate_limited("111", app_wide=False, regain_seconds=None)
    assert throttle.wait_seconds("111") == 300.0
    assert throttle.wait_seconds("222") == 0
    throttle.rate_limited("111", app_wide=True, regain_seconds=60)
    assert throttle.wait_seconds("222") == 60.0


def test_app_usage_slows_everyone() -> None:
    throttle = Throttle(ManualClock())
    throttle.observe(Usage(96.0), {})
    assert throttle.wait_seconds("any-account") == 60.0


@pytest.mark.parametrize(
    ("attempt", "delay"), [(1, 30.0), (2, 120.0), (3, 300.0), (4, 900.0), (5, None)]
)
def test_retry_tiers(attempt: int, delay: float | None) -> None:
    assert RetryPolicy().delay_after(attempt) == delay


def test_retry_tiers_reuse_the_last_delay_when_attempts_outnumber_tiers() -> None:
    policy = RetryPolicy(delays=(1.0, 2.0), max_attempts=5)
    assert [policy.delay_after(a) for a in range(1, 6)] == [1.0, 2.0, 2.0, 2.0, None]
