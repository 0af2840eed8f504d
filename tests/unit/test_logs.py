"""JSON logs: secrets never leave the formatter, correlation ids ride on every line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from jobcast import metrics
from jobcast.logs import (
    REDACTED,
    JsonFormatter,
    event_fields,
    log_context,
    redact,
    redact_text,
)
from schemas.headers import CAUSATION_ID, CORRELATION_ID

META_TOKEN = "EAAGm0PX4ZCpsBAKZCZBq7ZAX9sZB1lQ2ZC8fakefakefake"
API_KEY = "jc_3v8QkZp2c7yN1sWbT5rHfJ0aLmXeUoGi9dKq4VtY6nB"


def render(message: str, *args: object, exc: bool = False, **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)
    if exc:
        try:
            raise RuntimeError(f"call failed: GET /me?access_token={META_TOKEN}")
        except RuntimeError:
            record.exc_info = sys.exc_info()
    record.__dict__.update(extra)
    rendered: dict[str, Any] = json.loads(JsonFormatter("test").format(record))
    return rendered


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"GET /v24.0/me?access_token={META_TOKEN}&fields=id",
            f"access_token={REDACTED}&fields=id",
        ),
        (f"POST /feed page_access_token={META_TOKEN}", f"page_access_token={REDACTED}"),
        ("client_secret=s3cr3t&code=AQBx9", f"client_secret={REDACTED}&code={REDACTED}"),
        ("/callback?code=AQBx9Zz&state=abc", f"/callback?code={REDACTED}&state=abc"),
        (f"Authorization: Bearer {API_KEY}", f"Authorization: Bearer {REDACTED}"),
        ("authorization: bearer abc.def", f"authorization: bearer {REDACTED}"),
        (f"token is {META_TOKEN} now", f"token is {REDACTED} now"),
        (f"key {API_KEY}", f"key {REDACTED}"),
        (
            "postgresql://jobcast:hunter2@db:5432/jobcast",
            f"postgresql://jobcast:{REDACTED}@db:5432/jobcast",
        ),
        ('{"access_token": "abc", "id": "1"}', f'{{"access_token": "{REDACTED}", "id": "1"}}'),
        ("{'appsecret_proof': 'ff00', 'n': 2}", f"{{'appsecret_proof': '{REDACTED}', 'n': 2}}"),
    ],
)
def test_secret_text_is_redacted(text: str, expected: str) -> None:
    redacted = redact_text(text)
    assert expected in redacted
    assert META_TOKEN not in redacted
    assert API_KEY not in redacted


@pytest.mark.parametrize(
    "text",
    [
        "basic checks passed",
        "error_code=190 subcode=463",
        "post pk_0123456789abcdef0123456789abcdef went live",
        "token_expires_at=2026-12-01",
        "https://jobs.example.com/42?utm_source=facebook",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_values_under_secret_keys_are_blanked_whatever_they_look_like() -> None:
    cleaned = redact(
        {
            "token": "short",
            "page_access_token": "x",
            "JOBCAST_SECRET_KEY": "fernet-key",
            "headers": {"Authorization": "anything", "x-api-key": "k", "accept": "json"},
            "database_url": "postgresql://u:p@h/d",
            "post_key": "pk_1",
            "token_expires_at": "2026-12-01",
            "retry_in_s": 0.5,
            "items": [{"password": "p"}, META_TOKEN],
            "unset_secret": None,
        }
    )
    assert cleaned == {
        "token": REDACTED,
        "page_access_token": REDACTED,
        "JOBCAST_SECRET_KEY": REDACTED,
        "headers": {"Authorization": REDACTED, "x-api-key": REDACTED, "accept": "json"},
        "database_url": REDACTED,
        "post_key": "pk_1",
        "token_expires_at": "2026-12-01",
        "retry_in_s": 0.5,
        "items": [{"password": REDACTED}, REDACTED],
        "unset_secret": None,
    }


def test_formatter_redacts_message_arguments_extras_and_tracebacks() -> None:
    line = render(
        "calling %s",
        f"/me?access_token={META_TOKEN}",
        exc=True,
        token=META_TOKEN,
        request={"authorization": f"Bearer {API_KEY}"},
    )
    text = json.dumps(line)
    assert META_TOKEN not in text
    assert API_KEY not in text
    assert line["msg"] == f"calling /me?access_token={REDACTED}"
    assert line["token"] == REDACTED
    assert "RuntimeError" in line["exc"]
    body = render("Graph answered %s", '{"access_token": "abc123", "id": "1"}')
    assert body["msg"] == f'Graph answered {{"access_token": "{REDACTED}", "id": "1"}}'


def test_context_fields_ride_on_every_line_inside_the_block() -> None:
    with log_context(correlation_id="c-1", job_id="j-42"):
        with log_context(post_key="pk_1", ignored=None):
            inner = render("inner")
        outer = render("outer")
    after = render("after")
    assert (inner["correlation_id"], inner["job_id"], inner["post_key"]) == ("c-1", "j-42", "pk_1")
    assert "ignored" not in inner
    assert "post_key" not in outer
    assert outer["job_id"] == "j-42"
    assert "correlation_id" not in after


async def test_context_is_per_task() -> None:
    seen: dict[str, Any] = {}

    async def handle(name: str) -> None:
        with log_context(job_id=name):
            await asyncio.sleep(0.01)
            seen[name] = render("x")["job_id"]

    await asyncio.gather(handle("a"), handle("b"))
    assert seen == {"a": "a", "b": "b"}


def test_event_fields_name_the_chain_ids_only() -> None:
    event = SimpleNamespace(
        event_id=uuid4(),
        event_type="publish.requested",
        tenant_id=uuid4(),
        payload=SimpleNamespace(job_id="j-1", post_key="pk_1", content="a long caption"),
    )
    assert event_fields(event) == {
        "event_id": str(event.event_id),
        "event_type": "publish.requested",
        "tenant_id": str(event.tenant_id),
        "job_id": "j-1",
        "post_key": "pk_1",
    }


async def test_observed_handler_logs_with_the_record_place_and_chain() -> None:
    lines: list[dict[str, Any]] = []

    async def handle(record: Any) -> None:
        lines.append(render("handling"))

    record = SimpleNamespace(
        topic="jobs.incoming",
        partition=3,
        offset=17,
        headers=[(CORRELATION_ID, b"corr-9"), (CAUSATION_ID, b"cause-8"), ("other", b"x")],
    )
    await metrics.observed(handle)(record)
    [line] = lines
    assert (line["topic"], line["partition"], line["offset"]) == ("jobs.incoming", 3, 17)
    assert (line["correlation_id"], line["causation_id"]) == ("corr-9", "cause-8")
    count = metrics.HANDLER_SECONDS.labels(topic="jobs.incoming")._sum.get()
    assert count > 0
