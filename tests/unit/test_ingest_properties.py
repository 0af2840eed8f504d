"""Property tests for front-door validation: any JSON in, a typed answer out."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import JobCreated
from services.ingest.domain import (
    BatchTooLargeError,
    ForeignTenantError,
    SubmissionError,
    encoded,
    is_batch,
    to_job_event,
    to_job_events,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=20,
)  # fmt: skip

FIELDS = [
    *("job_id", "title", "company", "location", "employment_type", "apply_url", "pay"),
    *("image_url", "tags", "publish_at", "timezone", "platform_settings", "revision"),
]


@st.composite
def job_like(draw: st.DrawFn) -> dict[str, Any]:
    """Events that look right in shape but carry arbitrary values."""
    payload = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS)))
    return {
        "event_type": draw(
            st.sampled_from(["job.created", "job.updated", "job.closed", "job.filled", "job.nope"])
        ),
        "payload": payload,
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values | job_like())
def test_any_json_gets_an_event_or_a_field_naming_rejection(body: Any) -> None:
    outcomes: list[Any]
    try:
        if is_batch(body):
            outcomes = to_job_events(body, uuid4())
        else:
            outcomes = [encoded(to_job_event(body, uuid4()))]
    except SubmissionError as exc:
        outcomes = [exc]
    except (ForeignTenantError, BatchTooLargeError):
        return
    for outcome in outcomes:
        if isinstance(outcome, SubmissionError):
            assert outcome.errors
            assert all(e["field"] and e["msg"] for e in outcome.errors)
        else:
            assert outcome.event.event_type.startswith("job.")


# Control characters are left out: what counts as whitespace around them differs
# between str.strip and pydantic, which is not what this property is about.
names = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(
    lambda s: s.strip() != ""
)


@settings(max_examples=200, deadline=None)
@given(title=names, company=names, location=names, job_number=st.integers(0, 10**9))
def test_valid_jobs_are_always_accepted(
    title: str, company: str, location: str, job_number: int
) -> None:
    tenant = uuid4()
    body = {
        "event_type": "job.created",
        "payload": {
            "job_id": f"job-{job_number}", "title": title, "company": company,
            "location": location, "employment_type": "daily",
            "apply_url": f"https://jobs.example.com/{job_number}",
        },
    }  # fmt: skip
    event = to_job_event(body, tenant)
    assert isinstance(event, JobCreated)
    assert event.tenant_id == tenant
    assert event.payload.title == title.strip()
