"""Validation at the front door: clear, field-naming errors; the tenant comes from the key."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from schemas import JobClosed, JobCreated
from services.ingest.domain import (
    EncodedEvent,
    ForeignTenantError,
    SubmissionError,
    encoded,
    to_job_event,
    to_job_events,
)

JOB = {
    "job_id": "job-7",
    "title": "Cook",
    "company": "Warung",
    "location": "Canggu",
    "employment_type": "daily",
    "apply_url": "https://jobs.example.com/7",
}


def test_valid_event_is_stamped_with_the_callers_tenant() -> None:
    tenant = uuid4()
    event = to_job_event({"event_type": "job.created", "payload": JOB}, tenant)
    assert isinstance(event, JobCreated)
    assert event.tenant_id == tenant
    assert event.payload.job_id == "job-7"


def test_upstream_event_id_is_kept_for_idempotency() -> None:
    event_id = uuid4()
    event = to_job_event(
        {"event_id": str(event_id), "event_type": "job.created", "payload": JOB}, uuid4()
    )
    assert event.event_id == event_id


def test_close_event() -> None:
    event = to_job_event({"event_type": "job.filled", "payload": {"job_id": "job-7"}}, uuid4())
    assert isinstance(event, JobClosed)
    assert event.event_type == "job.filled"


def test_errors_name_each_bad_field() -> None:
    bad = {**JOB, "title": "", "apply_url": "nope"}
    del bad["company"]
    with pytest.raises(SubmissionError) as caught:
        to_job_event({"event_type": "job.created", "payload": bad}, uuid4())
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"payload.title", "payload.apply_url", "payload.company"}


@pytest.mark.parametrize("body", [[], "x", 3, None])
def test_non_object_body(body: object) -> None:
    with pytest.raises(SubmissionError) as caught:
        to_job_event(body, uuid4())
    assert caught.value.errors[0]["field"] == "body"


def test_unknown_event_type_is_named() -> None:
    with pytest.raises(SubmissionError) as caught:
        to_job_event({"event_type": "job.deleted", "payload": JOB}, uuid4())
    assert caught.value.errors[0]["field"] == "event_type"


def test_body_naming_another_tenant_is_refused() -> None:
    with pytest.raises(ForeignTenantError):
        to_job_event(
            {"event_type": "job.created", "tenant_id": str(uuid4()), "payload": JOB}, uuid4()
        )


def test_batch_validates_each_event_on_its_own() -> None:
    tenant = uuid4()
    good = {"event_type": "job.created", "payload": JOB}
    bad = {"event_type": "job.created", "payload": {**JOB, "title": ""}}
    foreign = {**good, "tenant_id": str(uuid4())}
    outcomes = to_job_events({"events": [good, bad, foreign, good]}, tenant)
    assert isinstance(outcomes[0], EncodedEvent)
    assert isinstance(outcomes[0].event, JobCreated)
    assert isinstance(outcomes[1], SubmissionError)
    assert outcomes[1].errors[0]["field"] == "payload.title"
    assert isinstance(outcomes[2], SubmissionError)
    assert outcomes[2].errors[0]["field"] == "tenant_id"
    assert isinstance(outcomes[3], EncodedEvent)


def described(text: str) -> dict[str, Any]:
    return {"event_type": "job.created", "payload": {**JOB, "description": text}}


def test_an_event_too_large_for_kafka_is_rejected_alone_in_a_batch() -> None:
    # The contract keeps every valid event far below MAX_EVENT_BYTES, so a lower limit
    # (INGEST_MAX_EVENT_BYTES) stands in for it: one large event beside two ordinary ones.
    good = {"event_type": "job.created", "payload": JOB}
    outcomes = to_job_events({"events": [good, described("x" * 10_000), good]}, uuid4(), 8_000)
    assert isinstance(outcomes[0], EncodedEvent)
    assert isinstance(outcomes[2], EncodedEvent)
    rejected = outcomes[1]
    assert isinstance(rejected, SubmissionError)
    assert rejected.errors[0]["field"] == "body"
    assert "over the limit of 8000" in rejected.errors[0]["msg"]


def test_the_size_is_counted_in_utf8_bytes_and_the_json_is_the_producers() -> None:
    tenant = uuid4()
    ascii_event = encoded(to_job_event(described("x" * 1_000), tenant))
    assert ascii_event.json == ascii_event.event.model_dump_json()
    assert ascii_event.model_dump_json() is ascii_event.json  # rendered once, produced as is
    # 10,000 characters of 3 bytes each: under the limit in characters, over it in bytes.
    wide = to_job_event(described("€" * 10_000), tenant)
    assert len(wide.model_dump_json()) < 20_000
    with pytest.raises(SubmissionError) as caught:
        encoded(wide, 20_000)
    assert "bytes as JSON" in caught.value.errors[0]["msg"]


def test_errors_do_not_quote_what_was_sent() -> None:
    marker = "zone-marker-" + "q" * 40
    body = {"event_type": "job.created", "payload": {**JOB, "timezone": marker}}
    with pytest.raises(SubmissionError) as caught:
        to_job_event(body, uuid4())
    assert [e["field"] for e in caught.value.errors] == ["payload.timezone"]
    assert "zone-marker" not in str(caught.value.errors)
    assert "unknown IANA time zone" in caught.value.errors[0]["msg"]


def test_batch_limits() -> None:
    from services.ingest.domain import MAX_BATCH, BatchTooLargeError

    good = {"event_type": "job.created", "payload": JOB}
    with pytest.raises(BatchTooLargeError):
        to_job_events({"events": [good] * (MAX_BATCH + 1)}, uuid4())
    with pytest.raises(SubmissionError):
        to_job_events({"events": []}, uuid4())
