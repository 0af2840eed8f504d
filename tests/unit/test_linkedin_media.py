"""Fetching a job's image for LinkedIn: bytes, or an error classified for the post."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from jobcast.http_client import http_client
from jobcast.linkedin.errors import LinkedInError, classify_linkedin_error
from jobcast.public_http import public_only_client
from schemas.publish import ErrorClass
from services.publisher_linkedin.media import HttpMediaSource

JPEG = b"\xff\xd8\xff" + b"\x00" * 100


@pytest.fixture
async def relay() -> AsyncIterator[str]:
    async def answer(request: web.Request) -> web.Response:
        url = request.query["url"]
        if url.endswith("busy.jpg"):
            return web.Response(status=503)
        if url.endswith("big.jpg"):
            return web.Response(body=JPEG * 100)
        if url.endswith(".jpg"):
            return web.Response(body=JPEG, content_type="image/jpeg")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/media", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/media"))
    await server.close()


async def fetched(relay: str, url: str) -> bytes | ErrorClass:
    source = HttpMediaSource(http_client(timeout_seconds=2, max_answer_bytes=1000), relay_url=relay)
    try:
        return await source.fetch(url)
    except LinkedInError as exc:
        return classify_linkedin_error(exc).error_class
    finally:
        await source.close()


async def test_the_image_bytes_come_through_the_relay(relay: str) -> None:
    assert await fetched(relay, "https://cdn.example.com/a.jpg") == JPEG


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example.com/busy.jpg", ErrorClass.TRANSIENT),  # try again later
        ("https://cdn.example.com/gone.png", ErrorClass.PERMANENT),  # 404
        ("https://cdn.example.com/big.jpg", ErrorClass.PERMANENT),  # over the size bound
    ],
)
async def test_failures_are_classified(relay: str, url: str, expected: ErrorClass) -> None:
    assert await fetched(relay, url) is expected


async def test_without_a_relay_a_private_address_is_refused_for_good() -> None:
    source = HttpMediaSource(public_only_client(timeout_seconds=2))
    with pytest.raises(LinkedInError) as caught:
        await source.fetch("http://127.0.0.1:9/a.jpg")
    await source.close()
    assert classify_linkedin_error(caught.value).error_class is ErrorClass.PERMANENT
    assert "not public" in caught.value.message
