"""Dead letters as the operator sees them (jobcast_cli.dlq.records, .replaying's plan):
ids, times, what is replayable, what a replayed record carries, and what is printed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from jobcast_cli.dlq.ledger import ReplayState
from jobcast_cli.dlq.records import (
    REPLAY_OF,
    DeadLetter,
    DeadLetterId,
    Selection,
    newest_first,
    parse_moment,
    preview_value,
    printable_key,
    replay_headers,
    shown_headers,
    why_not_replayable,
)
from jobcast_cli.dlq.replaying import plan_replay, target_partition
from schemas import headers as h

NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def letter(
    offset: int = 7,
    *,
    value: bytes = b'{"n": 1}',
    extra: dict[str, str] | None = None,
    minutes_ago: int = 0,
    reason: str = "n: Field required",
) -> DeadLetter:
    headers = {
        h.CORRELATION_ID: "corr-1",
        h.DLQ_REASON: reason,
        h.DLQ_TOPIC: "jobs.events",
        h.DLQ_PARTITION: "3",
        h.DLQ_OFFSET: str(1000 + offset),
        h.DLQ_GROUP: "distributor",
        **(extra or {}),
    }
    stamp = NOW - timedelta(minutes=minutes_ago)
    return DeadLetter(
        DeadLetterId("jobs.events.dlq", 0, offset),
        int(stamp.timestamp() * 1000),
        b"job-1",
        value,
        len(value),
        tuple((k, v.encode()) for k, v in headers.items()),
        hashlib.sha256(value).digest(),
    )


def test_an_id_names_a_dead_letter_topic_partition_and_offset() -> None:
    parsed = DeadLetterId.parse("jobs.events.dlq:0:12")
    assert parsed == DeadLetterId("jobs.events.dlq", 0, 12)
    assert str(parsed) == "jobs.events.dlq:0:12"
    for bad in (
        "jobs.events:0:12",
        "jobs.events.dlq:0",
        "jobs.events.dlq:x:1",
        ":0:1",
        "t.dlq:0:-1",
    ):
        with pytest.raises(ValueError, match=r"."):
            DeadLetterId.parse(bad)


def test_a_moment_is_a_duration_back_or_an_iso_time_utc_by_default() -> None:
    assert parse_moment("15m", NOW) == NOW - timedelta(minutes=15)
    assert parse_moment("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_moment("1.5d", NOW) == NOW - timedelta(hours=36)
    assert parse_moment("2026-12-01T10:00:00", NOW) == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_moment("2026-12-01T10:00:00+02:00", NOW) == datetime(2026, 12, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a duration"):
        parse_moment("yesterday", NOW)


def test_a_replayed_record_has_its_original_headers_and_where_it_came_from() -> None:
    dead = letter(extra={REPLAY_OF: "jobs.events.dlq:0:1"})  # a replay that failed again
    assert replay_headers(dead) == [
        (h.CORRELATION_ID, b"corr-1"),
        (REPLAY_OF, b"jobs.events.dlq:0:7"),
    ]
    assert dead.replay_of == "jobs.events.dlq:0:1"


def test_truncated_and_foreign_records_are_not_replayable() -> None:
    assert why_not_replayable(letter()) is None
    truncated = why_not_replayable(letter(extra={h.DLQ_TRUNCATED: "2000000"}))
    assert truncated is not None
    assert "truncated" in truncated
    assert "2000000 bytes" in truncated
    foreign = DeadLetter(DeadLetterId("x.dlq", 0, 0), 0, None, b"", 0, ())
    assert "not a jobcast dead letter" in (why_not_replayable(foreign) or "")


def test_plan_sends_in_parked_order_and_skips_what_was_replayed_unless_again() -> None:
    first, second, third = letter(1), letter(2), letter(3, extra={h.DLQ_TRUNCATED: "9"})
    done = ReplayState(first.id, "replayed", "cli:a@b", NOW, NOW, 3, 99, 1, None)
    failed = ReplayState(first.id, "failed", "cli:a@b", NOW, None, None, None, 0, "refused")
    states = {first.id: done}
    plan = plan_replay([second, third, first], states, {"jobs.events": 6}, again=False)
    assert plan.to_send == [second]
    assert [d for d, _ in plan.done_before] == [first]
    assert [d for d, _ in plan.refused] == [third]
    again = plan_replay([second, first], states, {"jobs.events": 6}, again=True)
    assert again.to_send == [first, second]
    retry = plan_replay([first], {first.id: failed}, {"jobs.events": 6}, again=False)
    assert retry.to_send == [first]  # nothing went the first time
    gone = plan_replay([first], {}, {}, again=False)
    assert "does not exist" in gone.refused[0][1]


def test_dead_letters_of_one_record_by_several_groups_send_it_once() -> None:
    by_distributor = letter(1)
    by_metrics = letter(2, extra={h.DLQ_GROUP: "metrics", h.DLQ_OFFSET: "1001"})
    other_bytes = letter(3, extra={h.DLQ_OFFSET: "1001"}, value=b"{}")  # the topic made anew
    plan = plan_replay(
        [by_metrics, other_bytes, by_distributor], {}, {"jobs.events": 6}, again=False
    )
    assert plan.to_send == [by_distributor, other_bytes]
    assert plan.same_record == [(by_metrics, by_distributor)]
    replayed = ReplayState(by_distributor.id, "replayed", "cli:a@b", NOW, NOW, 3, 99, 1, None)
    assert "as jobs.events.dlq:0:1 (the same record)" in replayed.describe(by_metrics.id)
    assert "same record" not in replayed.describe(by_distributor.id)


def test_a_replay_goes_to_the_partition_it_was_consumed_from_while_it_exists() -> None:
    assert target_partition(letter(), {"jobs.events": 6}) == 3
    assert target_partition(letter(), {"jobs.events": 2}) is None  # the key decides


def test_selection_by_time_reason_and_id() -> None:
    old, new = letter(1, minutes_ago=90), letter(2, minutes_ago=5, reason="not JSON: Expecting")
    assert newest_first([old, new]) == [new, old]
    assert [
        d.id.offset for d in (old, new) if Selection(since=NOW - timedelta(hours=1)).matches(d)
    ] == [2]
    assert [
        d.id.offset for d in (old, new) if Selection(until=NOW - timedelta(hours=1)).matches(d)
    ] == [1]
    assert [d.id.offset for d in (old, new) if Selection(reason="not json").matches(d)] == [2]
    assert [d.id.offset for d in (old, new) if Selection(ids=frozenset({old.id})).matches(d)] == [1]


def test_secrets_in_a_value_are_redacted_and_json_is_pretty() -> None:
    value = json.dumps(
        {"payload": {"page_access_token": "EAABsecretsecret123", "note": "Bearer abc.def.ghi"}}
    ).encode()
    shown = preview_value(value)
    assert shown.kind == "json"
    assert "EAABsecretsecret123" not in shown.text
    assert "abc.def.ghi" not in shown.text
    assert '\n  "payload": {' in shown.text
    text = preview_value(b"token=EAABsecretsecret123 and \x1b[31mred")
    assert text.kind == "text"
    assert "EAABsecretsecret123" not in text.text
    assert "\x1b" not in text.text
    assert "\\x1b[31mred" in text.text


def test_large_values_are_cut_unless_full_and_binary_is_escaped() -> None:
    big = b"x" * 10_000
    assert preview_value(big).cut == 10_000 - 4096
    assert preview_value(big, full=True).text == "x" * 10_000
    binary = preview_value(b"\xff\xfe\x00abc")
    assert binary.kind == "binary"
    assert binary.text == "\\xff\\xfe\\x00abc"


def test_keys_and_headers_are_printable_and_redacted() -> None:
    assert printable_key(None) == "-"
    assert printable_key(b"job-1") == "job-1"
    assert printable_key(b"\xff\x01") == "0xff01"
    assert printable_key(b"a\nb") == "a\\x0ab"
    dead = letter(extra={"authorization": "Bearer jc_abcdefghijklmnopqrstuvwxyz"})
    headers = shown_headers(dead)
    assert headers["authorization"] == "[redacted]"
    assert headers[h.DLQ_TOPIC] == "jobs.events"
