"""The Graph client against httpx.MockTransport: errors, ambiguity, appsecret_proof, secrecy."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from jobcast.graph.client import (
    AmbiguousOutcomeError,
    GraphClient,
    GraphError,
    _encode_query,
    _param_text,
)

TOKEN = "EAAB-secret-page-token"


def client(handler: httpx.MockTransport, app_secret: str | None = None) -> GraphClient:
    http = httpx.AsyncClient(transport=handler, base_url="http://graph.test")
    return GraphClient(http, "v24.0", SecretStr(app_secret) if app_secret else None)


async def test_success_sends_token_in_header_and_proof_in_query() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "123_456"})

    body = await client(httpx.MockTransport(answer), "app-secret").call(
        "POST", "123/feed", TOKEN, data={"message": "hi"}
    )
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

    http = httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://graph.test",
        headers={"User-Agent": "jobcast-test"}, timeout=7.5,
    )  # fmt: skip
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
    assert form.extensions["timeout"]["read"] == 7.5
    assert (delete.method, delete.content, delete.url.path) == ("DELETE", b"", "/v24.0/1_2")
    assert "content-type" not in delete.headers


async def test_error_body_is_parsed_and_token_scrubbed() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        error = {"message": f"Invalid token {TOKEN}", "code": 190, "error_subcode": 463}
        return httpx.Response(400, json={"error": error})

    with pytest.raises(GraphError) as caught:
        await client(httpx.MockTransport(answer)).call("GET", "me", TOKEN)
    assert (caught.value.code, caught.value.subcode, caught.value.http_status) == (190, 463, 400)
    assert TOKEN not in str(caught.value)


async def test_error_classified_by_body_even_with_http_200() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps({"error": {"message": "x", "code": 100}}))

    with pytest.raises(GraphError) as caught:
        await client(httpx.MockTransport(answer)).call("GET", "me", TOKEN)
    assert caught.value.code == 100


async def test_success_false_is_an_error() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"success": False}))
    with pytest.raises(GraphError):
        await client(transport).call("POST", "123_456", TOKEN, data={"message": "m"})


@pytest.mark.parametrize("response", [httpx.Response(502, text="Bad Gateway"), httpx.Response(500)])
async def test_5xx_without_graph_body_is_ambiguous(response: httpx.Response) -> None:
    with pytest.raises(AmbiguousOutcomeError):
        await client(httpx.MockTransport(lambda r: response)).call("POST", "1/feed", TOKEN)


async def test_transport_failure_is_ambiguous_and_token_free() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(AmbiguousOutcomeError) as caught:
        await client(httpx.MockTransport(answer)).call("POST", "1/feed", TOKEN)
    assert TOKEN not in str(caught.value)


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

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://graph.test")
    graph = GraphClient(http, "v24.0", None, lambda app, biz: seen.append((app, biz)))
    with pytest.raises(GraphError) as caught:
        await graph.call("POST", "111/feed", TOKEN, data={"message": "m"})
    assert caught.value.regain_seconds == 180.0
    assert seen == [(Usage(12.0), {"111": Usage(100.0, 180.0)})]


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.one_of(st.text(max_size=80), st.integers(), st.booleans(), st.none()),
        max_size=5,
    )
)
def test_our_form_encoding_is_urlencodes(params: dict[str, object]) -> None:
    # Captions go through our own quoting (urllib's is a Python loop per byte): it must
    # give exactly what urlencode gives, for any text, with httpx's spelling of values.
    spelled = {k: _param_text(v) for k, v in params.items()}
    try:
        expected = urlencode(spelled)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            _encode_query(params)
        return
    assert _encode_query(params) == expected


def test_form_encoding_of_a_real_caption() -> None:
    caption = "Dicari Barista 🍹 di Canggu — Rp 150.000/hari! #BaliJobs ~ 100% a+b=c&d"
    assert _encode_query({"caption": caption, "ok": True}) == urlencode(
        {"caption": caption, "ok": "true"}
    )
