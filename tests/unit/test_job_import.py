"""Sending a job file's rows in batches: every row gets an outcome on its own line."""

from __future__ import annotations

from typing import Any

import pytest

from jobcast.http_client import Answer, NoAnswerError
from jobcast.job_files import JobRow, job_event
from jobcast.job_import import MAX_BATCH_SIZE, RowOutcome, import_rows
from services.ingest.domain import MAX_BATCH
from tests.fake_answers import answer

KEY = "jc_secret_key_0123456789"
URL = "http://ingest.test"


def _row(line: int, job_id: str | None = None) -> JobRow:
    if job_id is None:
        return JobRow(line, None, "title: Field required")
    payload: dict[str, object] = {"job_id": job_id, "title": "Cook", "company": "W",
                                  "location": "B", "employment_type": "daily",
                                  "apply_url": "https://e.com/a"}  # fmt: skip
    return JobRow(line, payload, None)


class FakeIngest:
    """Answers like the ingest API (an `HttpClient`'s exchanges): every event accepted,
    unless a rule says otherwise."""

    def __init__(self, *answers: int, reject: frozenset[str] = frozenset(), max_events: int = 500):
        self.answers = list(answers)  # status codes to answer first, in order
        self.reject = reject
        self.max_events = max_events
        self.batches: list[list[dict[str, Any]]] = []
        self.seen: set[str] = set()

    async def exchange(
        self, method: str, url: str, *, headers: dict[str, str], json: Any
    ) -> Answer:
        assert (method, url) == ("POST", f"{URL}/v1/job-events")
        assert headers["Authorization"] == f"Bearer {KEY}"
        events = json["events"]
        if self.answers:
            status = self.answers.pop(0)
            if status == 0:
                raise NoAnswerError("ClientConnectorError")
            return answer(status, headers={"Retry-After": "3"}, json={"detail": "no"})
        if len(events) > self.max_events:
            return answer(413, json={"detail": "too large"})
        self.batches.append(events)
        results = []
        for index, event in enumerate(events):
            if event["payload"]["job_id"] in self.reject:
                error = {"field": "payload.title", "msg": "too long"}
                results.append(
                    {"index": index, "event_id": None, "status": "rejected", "errors": [error]}
                )
                continue
            new = event["event_id"] not in self.seen
            self.seen.add(event["event_id"])
            outcome = "accepted" if new else "duplicate"
            results.append(
                {"index": index, "event_id": event["event_id"], "status": outcome, "errors": []}
            )
        return answer(202, json={"results": results})


async def _run(
    ingest: FakeIngest, rows: list[JobRow], **options: Any
) -> tuple[list[RowOutcome], list[float], list[int]]:
    slept: list[float] = []
    progressed: list[int] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    outcomes = await import_rows(ingest, URL, KEY, rows, sleep=sleep,  # type: ignore[arg-type]
                                 progress=progressed.append, **options)  # fmt: skip
    return outcomes, slept, progressed


async def test_rows_are_sent_in_batches_and_each_outcome_keeps_its_line() -> None:
    ingest = FakeIngest(reject=frozenset({"j5"}))
    rows = [_row(2, "j1"), _row(3), _row(4, "j2"), _row(6, "j3"), _row(7, "j4"), _row(8, "j5")]
    outcomes, _, progressed = await _run(ingest, rows, batch_size=2)
    assert [len(b) for b in ingest.batches] == [2, 2, 1]
    assert [(o.line, o.status) for o in outcomes] == [
        (2, "accepted"), (3, "rejected"), (4, "accepted"), (6, "accepted"), (7, "accepted"),
        (8, "rejected"),
    ]  # fmt: skip
    assert outcomes[1].reason == "title: Field required"
    assert outcomes[5].reason == "title: too long"
    assert outcomes[0].event_id == job_event(rows[0].payload or {})["event_id"]
    assert sum(progressed) == len(rows)


async def test_importing_again_is_answered_duplicate() -> None:
    ingest = FakeIngest()
    rows = [_row(2, "j1"), _row(3, "j2")]
    await _run(ingest, rows)
    again, _, _ = await _run(ingest, rows)
    assert [o.status for o in again] == ["duplicate", "duplicate"]


async def test_a_rate_limited_batch_waits_and_is_sent_again() -> None:
    ingest = FakeIngest(429, 429)
    outcomes, slept, _ = await _run(ingest, [_row(2, "j1")])
    assert slept == [3.0, 3.0]
    assert outcomes[0].status == "accepted"


async def test_a_batch_too_large_is_sent_in_halves() -> None:
    ingest = FakeIngest(max_events=2)
    rows = [_row(n, f"j{n}") for n in range(2, 9)]
    outcomes, _, _ = await _run(ingest, rows, batch_size=7)
    assert all(len(b) <= 2 for b in ingest.batches)
    assert [o.line for o in outcomes] == list(range(2, 9))
    assert {o.status for o in outcomes} == {"accepted"}


async def test_a_flaky_connection_is_retried() -> None:
    ingest = FakeIngest(0, 503)
    outcomes, slept, _ = await _run(ingest, [_row(2, "j1")])
    assert outcomes[0].status == "accepted"
    assert len(slept) == 2


async def test_an_unreachable_api_leaves_the_rest_not_sent() -> None:
    ingest = FakeIngest(*[503] * 5)
    rows = [_row(2, "j1"), _row(3, "j2"), _row(4)]
    outcomes, _, _ = await _run(ingest, rows, batch_size=1)
    assert [o.status for o in outcomes] == ["not_sent", "not_sent", "rejected"]
    assert outcomes[0].reason == "the ingest API answered 503"
    assert ingest.batches == []  # the second batch was never tried


async def test_a_refused_key_stops_the_import_without_showing_the_key() -> None:
    outcomes, _, _ = await _run(FakeIngest(401), [_row(2, "j1"), _row(3, "j2")], batch_size=1)
    assert [o.status for o in outcomes] == ["not_sent", "not_sent"]
    assert all(KEY not in repr(o) for o in outcomes)
    assert outcomes[0].reason == "the ingest API refused the key (401)"


async def test_a_batch_size_outside_the_api_limit_is_refused() -> None:
    assert MAX_BATCH_SIZE == MAX_BATCH
    with pytest.raises(ValueError, match="batch_size"):
        await _run(FakeIngest(), [_row(2, "j1")], batch_size=MAX_BATCH + 1)
