"""The event contract: models, JSON Schema files, post keys."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import JobCreated, JobEvent, JobPosting, PublishAction, make_post_key
from schemas.export import render, stale_files

JOB = {
    "job_id": "job-1",
    "title": "Barista",
    "company": "Kopi Pagi",
    "location": "Ubud",
    "employment_type": "daily",
    "apply_url": "https://jobs.example.com/1",
}


def test_schema_files_match_the_models() -> None:
    assert stale_files() == [], "run `make schemas` and commit the result"
    assert {p.name for p in render()} == {
        "jobs.events.schema.json",
        "publish.command.schema.json",
        "publish.result.schema.json",
        "connections.events.schema.json",
        "platform.webhooks.schema.json",
        "operator.commands.schema.json",
        "engagement.events.schema.json",
        "webhooks.outbound.schema.json",
    }


def test_post_key_is_deterministic_and_distinct() -> None:
    tenant, connection = uuid4(), uuid4()
    key = make_post_key(tenant, "job-1", connection, 1)
    assert key == make_post_key(tenant, "job-1", connection, 1)
    assert key.startswith("pk_")
    assert len(key) == 35
    others = {
        make_post_key(uuid4(), "job-1", connection, 1),
        make_post_key(tenant, "job-2", connection, 1),
        make_post_key(tenant, "job-1", uuid4(), 1),
        make_post_key(tenant, "job-1", connection, 2),
        make_post_key(tenant, "job-1", connection, 1, PublishAction.EDIT),
        make_post_key(tenant, "job-1", connection, 1, PublishAction.DELETE),
    }
    assert key not in others
    assert len(others) == 6


def test_job_event_discriminates_on_event_type() -> None:
    adapter: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)
    event = adapter.validate_python(
        {"event_type": "job.created", "tenant_id": str(uuid4()), "payload": JOB}
    )
    assert isinstance(event, JobCreated)
    assert event.occurred_at.tzinfo is UTC
    with pytest.raises(ValidationError):
        adapter.validate_python({"event_type": "job.exploded", "tenant_id": str(uuid4())})


def test_occurred_at_is_normalised_to_utc() -> None:
    event = JobCreated(
        tenant_id=uuid4(),
        occurred_at=datetime.fromisoformat("2026-03-29T02:30:00+08:00"),
        payload=JobPosting.model_validate(JOB),
    )
    assert event.occurred_at == datetime(2026, 3, 28, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"publish_at": "2026-12-01T09:00:00"}, "publish_at"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        (
            {"pay": {"min_amount": "10", "max_amount": "5", "currency": "IDR", "period": "day"}},
            "pay",
        ),
        ({"apply_url": "not a url"}, "apply_url"),
        ({"title": ""}, "title"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_jobs_are_rejected_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        JobPosting.model_validate({**JOB, **change})
    text = str(caught.value)
    assert field in text or "publish_at" in text


def test_naive_publish_at_with_zone_is_accepted() -> None:
    job = JobPosting.model_validate(
        {**JOB, "publish_at": "2026-12-01T09:00:00", "timezone": "Asia/Makassar"}
    )
    assert job.timezone == "Asia/Makassar"


def test_operator_commands_must_name_their_target() -> None:
    from pydantic import ValidationError

    from schemas.operator import OperatorAction, OperatorCommand

    key = "pk_" + "0" * 32
    assert OperatorCommand(action=OperatorAction.RETRY, actor="ops", post_key=key).post_key == key
    assert OperatorCommand(action=OperatorAction.PAUSE, actor="ops").platform is None
    bad = [
        {"action": "retry", "actor": "ops"},
        {"action": "retry", "actor": "ops", "job_id": "j1"},
        {"action": "approve", "actor": "ops"},
        {"action": "cancel", "actor": "ops", "job_id": "j1", "post_key": key},
        {"action": "pause", "actor": "ops", "job_id": "j1"},
        {"action": "resume", "actor": ""},
    ]
    for fields in bad:
        try:
            OperatorCommand.model_validate(fields)
        except ValidationError:
            continue
        raise AssertionError(f"accepted {fields}")
