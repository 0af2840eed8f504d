"""The contract's bounds (schemas.bounds): what storage holds is what the models accept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import JobCreated, JobPosting, Platform, PublishResult
from schemas.bounds import EARLIEST, LATEST, MAX_BIGINT, MAX_EVENT_BYTES, MAX_INT, check_text
from schemas.export import CONTRACT
from services.distributor.captions import drop_bidi_controls, facebook_message
from services.distributor.schedule import resolve_due
from tests.unit.test_contract import JOB


def refused_fields(**changes: Any) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        JobPosting.model_validate({**JOB, **changes})
    return {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


@pytest.mark.parametrize("revision", [1, 1_764_735_000_000, 2**31, MAX_BIGINT])
def test_revisions_up_to_bigint_are_accepted(revision: int) -> None:
    assert JobPosting.model_validate({**JOB, "revision": revision}).revision == revision


@pytest.mark.parametrize("revision", [MAX_BIGINT + 1, 10**30, 0])
def test_revisions_beyond_bigint_are_refused(revision: int) -> None:
    assert refused_fields(revision=revision) == {"revision"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", "a\x00b"), ("description", "\x00"), ("company", "x\ud800"), ("location", "\udfff")],
)
def test_nul_and_unpaired_surrogates_are_refused_in_text(field: str, value: str) -> None:
    assert refused_fields(**{field: value}) == {field}


def test_nul_is_refused_through_json_as_well() -> None:
    raw = json.dumps({**JOB, "title": "Cook\u0000"})
    with pytest.raises(ValidationError, match="string_pattern_mismatch"):
        JobPosting.model_validate_json(raw)


@given(st.text())
def test_check_text_refuses_exactly_nul_and_surrogates(text: str) -> None:
    bad = any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in text)
    if bad:
        with pytest.raises(ValueError, match=r"NUL|surrogate"):
            check_text(text)
    else:
        assert check_text(text) == text


@pytest.mark.parametrize(
    "publish_at",
    [
        "9999-12-31T23:59:59-11:00",
        "0001-01-01T00:00:00+00:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "2099-12-31T23:00:00-11:00",  # 2100-01-01T10:00Z
    ],
)
def test_instants_outside_the_window_are_refused(publish_at: str) -> None:
    assert refused_fields(publish_at=publish_at) == {"publish_at"}


@pytest.mark.parametrize(
    "local", ["9999-12-31T23:59:59", "0001-01-01T00:00:00", "1999-06-01T00:00:00"]
)
def test_wall_times_outside_the_window_are_refused(local: str) -> None:
    assert refused_fields(publish_at=local, timezone="Pacific/Kiritimati") == {"publish_at"}


@given(
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)),
    st.sampled_from(["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Makassar", "UTC"]),
)
def test_every_accepted_wall_time_resolves_without_overflow(local: datetime, zone: str) -> None:
    job = JobPosting.model_validate({**JOB, "publish_at": local.isoformat(), "timezone": zone})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    due = resolve_due(job.publish_at, job.timezone, now)
    assert abs(due - local.replace(tzinfo=UTC)) <= timedelta(hours=14)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=14))]
        ),
    )
)
def test_aware_times_are_accepted_exactly_inside_the_window(moment: datetime) -> None:
    inside = EARLIEST <= moment < LATEST
    if inside:
        job = JobPosting.model_validate({**JOB, "publish_at": moment.isoformat()})
        assert job.publish_at == moment
        resolve_due(job.publish_at, job.timezone, datetime(2026, 1, 1, tzinfo=UTC))
    else:
        assert refused_fields(publish_at=moment.isoformat()) == {"publish_at"}


def test_counters_are_bounded_by_their_columns() -> None:
    base = {
        "post_key": "pk_" + "0" * 32,
        "platform": "facebook",
        "connection_id": "00000000-0000-0000-0000-000000000001",
        "job_id": "j",
        "status": "posted",
        "completed_at": "2026-01-01T00:00:00Z",
    }
    PublishResult.model_validate({**base, "attempt": MAX_INT, "latency_ms": MAX_INT})
    for field in ("attempt", "latency_ms"):
        with pytest.raises(ValidationError, match=field):
            PublishResult.model_validate({**base, field: MAX_INT + 1})


def test_the_json_schemas_carry_the_bounds() -> None:
    schema = json.dumps(CONTRACT["jobs.events"].json_schema())
    assert f'"maximum": {MAX_BIGINT}' in schema
    assert '"formatMinimum": "2000-01-01T00:00:00+00:00"' in schema
    assert "\\\\u0000" in schema  # the text pattern


def test_captions_drop_bidi_controls_but_keep_emoji_sequences() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"
    text = f"Pay \u202e0051\u202c {family} \u2066x\u2069 🇮🇩"
    assert drop_bidi_controls(text) == f"Pay 0051 {family} x 🇮🇩"
    message = facebook_message(
        headline=["Cook \u202eat night"],
        body=f"Join us {family}\u2067!",
        apply_url="https://jobs.example.com/1",
        hashtags=[],
    )
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in message)
    assert family in message


@pytest.mark.parametrize("zone", ["A" * 300, "Asia/" + "x" * 59, "../../etc/passwd", "\x00"])
def test_an_odd_time_zone_is_refused_naming_the_field(zone: str) -> None:
    assert refused_fields(timezone=zone) == {"timezone"}


def test_the_largest_event_the_contract_accepts_fits_the_broker() -> None:
    # Every text at its bound in the character JSON spells longest (\u0001: six bytes).
    def text(n: int) -> str:
        return "\x01" * n

    url = "https://jobs.example.com/" + "a" * 2_000
    payload = {
        **JOB,
        "job_id": "j" * 128,
        "revision": MAX_BIGINT,
        "title": text(200),
        "description": text(10_000),
        "company": text(200),
        "location": text(200),
        "apply_url": url,
        "image_url": url,
        "tags": [text(50)] * 30,
        "pay": {"min_amount": "999999999999.99", "max_amount": "999999999999.99",
                "currency": "IDR", "period": "month"},
        "publish_at": "2099-01-01T00:00:00+00:00",
        "platform_settings": {
            p.value: {"caption": text(10_000), "extra_hashtags": [text(100)] * 30,
                      "media": [{"kind": "image", "url": url, "alt_text": text(1_000)}] * 10}
            for p in Platform
        },
    }  # fmt: skip
    event = JobCreated(tenant_id=uuid4(), payload=JobPosting.model_validate(payload))
    size = len(event.model_dump_json().encode())
    assert size > 300_000  # the worst case really is large
    assert size < MAX_EVENT_BYTES


@given(st.text(alphabet="aé€😀/?=&%", min_size=100, max_size=1_500))
@example("é" * 1_000)
def test_what_the_edge_accepts_the_next_service_accepts_too(path: str) -> None:
    # The next service reads the normal form (percent-encoded): it must pass again.
    url = f"https://jobs.example.com/{path}"
    try:
        job = JobPosting.model_validate({**JOB, "apply_url": url})
    except ValidationError:
        assert refused_fields(apply_url=url) == {"apply_url"}
        return
    assert JobPosting.model_validate_json(job.model_dump_json()) == job
