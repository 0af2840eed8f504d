"""Validation at the front door: clear, field-naming errors; the tenant comes from the key."""

from __future__ import annotations

from uuid import uuid4

import pytest

from schemas import JobClosed, JobCreated
from services.ingest.domain import ForeignTenantError, SubmissionError, to_job_event

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
    from services.ingest.domain import to_job_events

    tenant = uuid4()
    good = {"event_type": "job.created", "payload": JOB}
    bad = {"event_type": "job.created", "payload": {**JOB, "title": ""}}
    foreign = {**good, "tenant_id": str(uuid4())}
    outcomes = to_job_events({"events": [good, bad, foreign, good]}, tenant)
    assert isinstance(outcomes[0], JobCreated)
    assert isinstance(outcomes[1], SubmissionError)
    assert outcomes[1].errors[0]["field"] == "payload.title"
    assert isinstance(outcomes[2], SubmissionError)
    assert outcomes[2].errors[0]["field"] == "tenant_id"
    assert isinstance(outcomes[3], JobCreated)


def test_batch_limits() -> None:
    from services.ingest.domain import MAX_BATCH, BatchTooLargeError, to_job_events

    good = {"event_type": "job.created", "payload": JOB}
    with pytest.raises(BatchTooLargeError):
        to_job_events({"events": [good] * (MAX_BATCH + 1)}, uuid4())
    with pytest.raises(SubmissionError):
        to_job_events({"events": []}, uuid4())
