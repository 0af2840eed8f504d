"""The Graph client against a scripted Graph API: errors, ambiguity, appsecret_proof, secrecy."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlencode

import aiohttp
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from jobcast.graph.client import GraphClient, GraphError, _form_encoded
from jobcast.platform_api import AmbiguousOutcomeError
from tests.graph_stub import Handler, graph_stub

TOKEN = "EAAB-secret-page-token"


@asynccontextmanager
async def client(handler: Handler, app_secret: str | None = None) -> AsyncIterator[GraphClient]:
    async with graph_stub(handler) as http:
        yield GraphClient(http, "v24.0", SecretStr(app_secret) if app_secret else None)


async def test_success_sends_token_in_header_and_proof_in_query() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "123_456"})

    async with client(answer, "app-secret") as graph:
        body = await graph.call("POST", "123/feed", TOKEN, data={"message": "hi"})
    assert body == {"id": "123_456"}
    request = seen[0]
    assert request.url.path == "/v24.0/123/feed"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    expected = hmac.new(b"app-secret", TOKEN.encode(), hashlib.sha256).hexdigest()
    assert request.url.params["appsecret_proof"] == expected
    assert TOKEN not in str(request.url)


async def test_form_body_and_the_clients_defaults_are_sent() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "1"})

    def session(url: str) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(base_url=url, headers={"User-Agent": "jobcast-test"})

    async with graph_stub(answer, session=session) as http:
        graph = GraphClient(http, "v24.0", None)
        await graph.call(
            "POST", "1/photos", TOKEN, data={"url": "https://x.test/a b.jpg", "published": False}
        )
        await graph.call("DELETE", "1_2", TOKEN)
    form, delete = seen
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form.content == b"url=https%3A%2F%2Fx.test%2Fa+b.jpg&published=false"
    assert form.headers["content-length"] == str(len(form.content))
    assert form.headers["user-agent"] == "jobcast-test"
    assert (delete.method, delete.content, delete.url.path) == ("DELETE", b"", "/v24.0/1_2")
    assert "content-type" not in delete.headers


async def test_error_body_is_parsed_and_token_scrubbed() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        error = {"message": f"Invalid token {TOKEN}", "code": 190, "error_subcode": 463}
        return httpx.Response(400, json={"error": error})

    async with client(answer) as graph:
        with pytest.raises(GraphError) as caught:
            await graph.call("GET", "me", TOKEN)
    assert (caught.value.code, caught.value.subcode, caught.value.http_status) == (190, 463, 400)
    assert TOKEN not in str(caught.value)


async def test_error_classified_by_body_even_with_http_200() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps({"error": {"message": "x", "code": 100}}))

    async with client(answer) as graph:
        with pytest.raises(GraphError) as caught:
            await graph.call("GET", "me", TOKEN)
    assert caught.value.code == 100


async def test_success_false_is_an_error() -> None:
    async with client(lambda r: httpx.Response(200, json={"success": False})) as graph:
        with pytest.raises(GraphError):
            await graph.call("POST", "123_456", TOKEN, data={"message": "m"})


@pytest.mark.parametrize("response", [httpx.Response(502, text="Bad Gateway"), httpx.Response(500)])
async def test_5xx_without_graph_body_is_ambiguous(response: httpx.Response) -> None:
    async with client(lambda r: response) as graph:
        with pytest.raises(AmbiguousOutcomeError):
            await graph.call("POST", "1/feed", TOKEN)


async def test_usage_headers_are_observed_and_regain_attached_to_rate_limit_errors() -> None:
    from jobcast.graph.pacing import Usage

    seen: list[tuple[Usage | None, Mapping[str, Usage]]] = []
    business = {"111": [{"type": "pages", "call_count": 100, "total_time": 5,
                         "total_cputime": 5, "estimated_time_to_regain_access": 3}]}  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={"error": {"message": "limit", "code": 80001}},
            headers={
                "x-app-usage": json.dumps({"call_count": 12, "total_time": 4, "total_cputime": 3}),
                "x-business-use-case-usage": json.dumps(business),
            },
        )

    async with graph_stub(answer) as http:
        graph = GraphClient(http, "v24.0", None, lambda app, biz: seen.append((app, biz)))
        with pytest.raises(GraphError) as caught:
            await graph.call("POST", "111/feed", TOKEN, data={"message": "m"})
    assert caught.value.regain_seconds == 180.0
    assert seen == [(Usage(12.0), {"111": Usage(100.0, 180.0)})]


CAPTION = "Dicari Barista 🍹 di Canggu — Rp 150.000/hari! #BaliJobs ~ 100% a+b=c&d"


async def test_query_and_form_are_urlencoded_with_graphs_spelling_of_values() -> None:
    # urlencode's spelling for both; values spelled as before: true/false for booleans,
    # empty for None.
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "1"})

    values = {"caption": CAPTION, "ok": True, "no": False, "count": 3, "none": None}
    async with client(answer) as graph:
        await graph.call("POST", "1/media", TOKEN, data=values, params=values)
    spelled = {"caption": CAPTION, "ok": "true", "no": "false", "count": "3", "none": ""}
    assert seen[0].content == urlencode(spelled).encode()
    assert parse_qs(seen[0].url.query.decode(), keep_blank_values=True) == {
        key: [value] for key, value in spelled.items()
    }


@given(st.dictionaries(st.text(), st.text(st.characters(codec="utf-8"))))
def test_the_encoding_is_urlencodes_byte_for_byte(pairs: dict[str, str]) -> None:
    assert _form_encoded(pairs.items()) == urlencode(pairs)


async def test_a_path_is_percent_encoded_and_read_back_as_given() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "1"})

    async with client(answer) as graph:
        await graph.call("GET", "/1/a b%2F?é#x", TOKEN, params={"q": "1&2=3"})
    assert seen[0].url.path == "/v24.0/1/a b%2F?é#x"
    assert seen[0].url.params["q"] == "1&2=3"
