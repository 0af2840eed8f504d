from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.distributor.clock import Clock
from services.distributor.schedule import (
    PostState,
    initial_state,
    is_paused,
    resolve_due,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_no_publish_at_means_now() -> None:
    assert resolve_due(None, None, NOW) == NOW


def test_an_instant_is_kept_as_it_is() -> None:
    wita = timezone(timedelta(hours=8))
    assert resolve_due(datetime(2026, 3, 2, 9, 0, tzinfo=wita), "Europe/Berlin", NOW) == (
        datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    )


def test_wall_clock_time_in_a_zone_without_dst() -> None:
    assert resolve_due(datetime(2026, 3, 2, 9, 0), "Asia/Makassar", NOW) == datetime(
        2026, 3, 2, 1, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("local", "zone", "expected_utc"),
    [
        # New York, 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
        (datetime(2026, 3, 8, 1, 30), "America/New_York", datetime(2026, 3, 8, 6, 30)),
        (datetime(2026, 3, 8, 3, 30), "America/New_York", datetime(2026, 3, 8, 7, 30)),
        # 02:30 does not exist: it moves forward by the gap, i.e. to 03:30 EDT.
        (datetime(2026, 3, 8, 2, 30), "America/New_York", datetime(2026, 3, 8, 7, 30)),
        # New York, 2026-11-01: 01:00-02:00 happens twice; the first (EDT) one is meant.
        (datetime(2026, 11, 1, 1, 30), "America/New_York", datetime(2026, 11, 1, 5, 30)),
        (datetime(2026, 11, 1, 2, 30), "America/New_York", datetime(2026, 11, 1, 7, 30)),
        # Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST.
        (datetime(2026, 3, 29, 2, 15), "Europe/Berlin", datetime(2026, 3, 29, 1, 15)),
        # Lord Howe shifts by 30 minutes only (2026-10-04 02:00 -> 02:30).
        (datetime(2026, 10, 4, 2, 10), "Australia/Lord_Howe", datetime(2026, 10, 3, 15, 40)),
    ],
)
def test_dst_edges(local: datetime, zone: str, expected_utc: datetime) -> None:
    assert resolve_due(local, zone, NOW) == expected_utc.replace(tzinfo=UTC)


def test_same_wall_time_on_both_sides_of_a_change_is_a_day_minus_an_hour_apart() -> None:
    before = resolve_due(datetime(2026, 3, 7, 9, 0), "America/New_York", NOW)
    after = resolve_due(datetime(2026, 3, 8, 9, 0), "America/New_York", NOW)
    assert after - before == timedelta(hours=23)


def test_wall_clock_time_without_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        resolve_due(datetime(2026, 3, 2, 9, 0), None, NOW)


def test_approval_decides_the_first_state() -> None:
    assert initial_state(require_approval=True) is PostState.AWAITING_APPROVAL
    assert initial_state(require_approval=False) is PostState.SCHEDULED


def test_pause_scopes() -> None:
    assert is_paused(frozenset({"*"}), "facebook")
    assert is_paused(frozenset({"instagram"}), "instagram")
    assert not is_paused(frozenset({"instagram"}), "facebook")
    assert not is_paused(frozenset(), "facebook")


def test_clock_offset_file_shifts_time(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    clock = Clock(offset)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 1
    offset.write_text("3600")
    shifted = Clock(offset).now() - datetime.now(UTC)
    assert timedelta(minutes=59) < shifted < timedelta(minutes=61)
    assert abs((Clock(None).now() - datetime.now(UTC)).total_seconds()) < 1
