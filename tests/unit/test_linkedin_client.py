"""The LinkedIn client against a scripted LinkedIn: headers, errors and their classes,
ambiguity, and the token never shown."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiohttp
import httpx
import pytest

from jobcast.graph.session import graph_session
from jobcast.linkedin.client import LinkedInClient, rest_path
from jobcast.linkedin.errors import (
    LinkedInError,
    classify_linkedin_error,
    seconds_until_reset,
)
from jobcast.linkedin.little_text import escape
from jobcast.platform_api import AmbiguousOutcomeError, Verdict
from schemas.publish import ErrorClass
from tests.graph_stub import Handler, graph_stub

TOKEN = "AQV-secret-member-token"
VERSION = "202611"


@asynccontextmanager
async def client(handler: Handler) -> AsyncIterator[LinkedInClient]:
    async with graph_stub(handler) as http:
        yield LinkedInClient(http, VERSION)


def error(status: int, message: str, service: int | None = None, code: str | None = None):  # type: ignore[no-untyped-def]
    def answer(request: httpx.Request) -> httpx.Response:
        body: dict[str, object] = {"status": status, "message": message}
        if service is not None:
            body["serviceErrorCode"] = service
        if code is not None:
            body["code"] = code
        return httpx.Response(status, json=body)

    return answer


async def failure(handler: Handler) -> LinkedInError:
    async with client(handler) as linkedin:
        with pytest.raises(LinkedInError) as caught:
            await linkedin.call("POST", rest_path("posts"), TOKEN, json={"commentary": "x"})
    return caught.value


async def test_a_call_sends_bearer_version_and_restli_headers_and_encodes_urns() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, headers={"x-restli-id": "urn:li:share:7"})

    async with client(answer) as linkedin:
        created = await linkedin.call(
            "POST", rest_path("posts", "urn:li:share:1"), TOKEN, json={"a": 1},
            params=[("author", "urn:li:organization:5")], restli_method="PARTIAL_UPDATE",
        )  # fmt: skip
    assert (created.status, created.body, created.restli_id) == (201, None, "urn:li:share:7")
    request = seen[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["linkedin-version"] == VERSION
    assert request.headers["x-restli-protocol-version"] == "2.0.0"
    assert request.headers["x-restli-method"] == "PARTIAL_UPDATE"
    assert (
        request.url.raw_path
        == b"/rest/posts/urn%3Ali%3Ashare%3A1?author=urn%3Ali%3Aorganization%3A5"
    )
    assert json.loads(request.content) == {"a": 1}


@pytest.mark.parametrize(
    ("status", "service", "code", "expected"),
    [
        (401, 65600, "INVALID_ACCESS_TOKEN", Verdict(ErrorClass.AUTH)),
        (401, 65601, "EXPIRED_ACCESS_TOKEN", Verdict(ErrorClass.AUTH)),
        (403, 100, "ACCESS_DENIED", Verdict(ErrorClass.AUTH)),
        (403, None, "FORBIDDEN", Verdict(ErrorClass.PERMANENT)),
        (422, 100, "UNPROCESSABLE_ENTITY", Verdict(ErrorClass.PERMANENT)),
        (400, None, "ILLEGAL_ARGUMENT", Verdict(ErrorClass.PERMANENT)),
        (500, None, "INTERNAL_SERVER_ERROR", Verdict(ErrorClass.TRANSIENT, ambiguous=True)),
        (503, None, None, Verdict(ErrorClass.TRANSIENT, ambiguous=True)),
    ],
)
async def test_errors_are_classified_by_status_and_service_error_code(
    status: int, service: int | None, code: str | None, expected: Verdict
) -> None:
    caught = await failure(error(status, "no", service, code))
    assert (caught.http_status, caught.code, caught.error_code) == (status, service, code)
    assert classify_linkedin_error(caught) == expected


async def test_a_429_names_whose_day_limit_and_waits_for_the_reset() -> None:
    app = await failure(
        error(
            429,
            "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
        )
    )
    member = await failure(
        error(
            429, "Resource level throttle MEMBER DAY limit for calls to this resource is reached."
        )
    )
    assert classify_linkedin_error(app) == Verdict(ErrorClass.RATE_LIMITED, app_wide=True)
    assert classify_linkedin_error(member) == Verdict(ErrorClass.RATE_LIMITED, app_wide=False)
    assert member.regain_seconds is not None
    assert 0 < member.regain_seconds <= 86_400


def test_the_daily_reset_is_at_midnight_utc() -> None:
    assert seconds_until_reset(datetime(2026, 12, 3, 23, 0, tzinfo=UTC)) == 3600.0


async def test_an_unserved_version_is_permanent_and_names_the_setting() -> None:
    caught = await failure(
        error(426, "Requested version 202301 is not active", code="NONEXISTENT_VERSION")
    )
    assert classify_linkedin_error(caught) == Verdict(ErrorClass.PERMANENT)
    assert "LINKEDIN_API_VERSION" in caught.message
    assert VERSION in caught.message


async def test_no_answer_in_time_is_ambiguous() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1.0)
        return httpx.Response(201)

    def session(url: str) -> aiohttp.ClientSession:
        return graph_session(url, timeout_seconds=0.2)

    async with graph_stub(slow, session=session) as http:
        with pytest.raises(AmbiguousOutcomeError) as caught:
            await LinkedInClient(http, VERSION).call("POST", rest_path("posts"), TOKEN, json={})
    assert TOKEN not in str(caught.value)


async def test_the_token_never_appears_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caught = await failure(error(401, f"Invalid access token {TOKEN}", 65600))
    assert TOKEN not in str(caught)
    assert TOKEN not in repr(caught.args)
    assert TOKEN not in caught.message
    assert TOKEN not in caplog.text


def test_little_text_escapes_the_reserved_characters_and_keeps_hashtags() -> None:
    assert escape("Cook (m/f) #hiring C# @ 5* [now] ~ _x_ {y} <z> a|b \\ #_x") == (
        "Cook \\(m/f\\) #hiring C\\# \\@ 5\\* \\[now\\] \\~ \\_x\\_ \\{y\\} \\<z\\> a\\|b \\\\"
        " \\#\\_x"
    )
