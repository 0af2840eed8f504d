"""The publisher's Graph clients: GRAPH_HTTP_TRANSPORT wiring, and GraphClient over
LeanTransport against a local HTTP server (what goes on the wire)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from jobcast.graph.client import AmbiguousOutcomeError, GraphClient, GraphError
from jobcast.http_transport import CookielessAsyncClient, LeanClient, LeanTransport
from services.publishing.app import graph_http_clients
from services.publishing.settings import PublisherSettings

pytestmark = pytest.mark.timeout(30)

TOKEN = "EAAB-secret-page-token"


class GraphStub:
    """Answers each request with the next scripted (status, body); keeps what it saw."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, object]]] = []
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                line, *lines = head.decode().split("\r\n")
                method, target, _ = line.split(" ")
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.seen.append((method, target, headers, body))
                if not self.answers:
                    break  # nothing scripted: close without a response
                status, answer = self.answers.pop(0)
                payload = json.dumps(answer).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def stub() -> AsyncIterator[tuple[GraphStub, GraphClient]]:
    graph_stub = GraphStub()
    server = await asyncio.start_server(graph_stub.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = PublisherSettings(
        GRAPH_API_URL=f"http://127.0.0.1:{port}", GRAPH_HTTP_TRANSPORT="lean"
    )
    clients = graph_http_clients(settings)
    yield graph_stub, GraphClient(clients, "v24.0", SecretStr("app-secret"))
    for client in clients:
        await client.aclose()
    server.close()


def test_lean_is_one_cookieless_client_and_httpx_keeps_its_shards() -> None:
    lean = graph_http_clients(PublisherSettings(GRAPH_HTTP_TRANSPORT="lean"))
    assert len(lean) == 1
    assert isinstance(lean[0], LeanClient)  # GraphClient takes its cheap path
    shards = graph_http_clients(
        PublisherSettings(GRAPH_HTTP_TRANSPORT="httpx", GRAPH_HTTP_SHARDS=3)
    )
    assert len(shards) == 3
    assert not any(isinstance(c, CookielessAsyncClient) for c in shards)


async def test_post_goes_on_the_wire_with_token_header_proof_and_form(
    stub: tuple[GraphStub, GraphClient],
) -> None:
    graph_stub, graph = stub
    graph_stub.answers.append((200, {"id": "1_2"}))
    body = await graph.call(
        "POST", "/123/feed", TOKEN, data={"message": "hi & bye"}, params={"fields": "id"}
    )
    assert body == {"id": "1_2"}
    method, target, headers, sent = graph_stub.seen[0]
    url = urlsplit(target)
    proof = hmac.new(b"app-secret", TOKEN.encode(), hashlib.sha256).hexdigest()
    assert (method, url.path) == ("POST", "/v24.0/123/feed")
    assert parse_qs(url.query) == {"fields": ["id"], "appsecret_proof": [proof]}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert parse_qs(sent.decode()) == {"message": ["hi & bye"]}
    assert TOKEN not in target


async def test_query_values_are_spelled_like_httpx(stub: tuple[GraphStub, GraphClient]) -> None:
    graph_stub, graph = stub
    graph_stub.answers.append((200, {"data": []}))
    await graph.call("GET", "1/posts", TOKEN, params={"limit": 25, "summary": True, "q": "a b"})
    query = parse_qs(urlsplit(graph_stub.seen[0][1]).query)
    assert (query["limit"], query["summary"], query["q"]) == (["25"], ["true"], ["a b"])


async def test_error_body_is_a_scrubbed_graph_error(stub: tuple[GraphStub, GraphClient]) -> None:
    graph_stub, graph = stub
    graph_stub.answers.append((400, {"error": {"message": f"bad {TOKEN}", "code": 190}}))
    with pytest.raises(GraphError) as caught:
        await graph.call("GET", "me", TOKEN)
    assert caught.value.code == 190
    assert TOKEN not in str(caught.value)


async def test_a_dropped_post_is_ambiguous(stub: tuple[GraphStub, GraphClient]) -> None:
    graph_stub, graph = stub
    # The server reads the post and closes without answering: it may have posted.
    graph_stub.answers.append((200, {"id": "1"}))  # for the GET only
    await graph.call("GET", "warm", TOKEN)
    with pytest.raises(AmbiguousOutcomeError):
        await graph.call("POST", "1/feed", TOKEN, data={"message": "m"})
    assert [m for m, *_ in graph_stub.seen] == ["GET", "POST"]


CALLS: list[tuple[str, str, dict[str, object] | None, dict[str, object] | None]] = [
    ("POST", "/123/feed", {"message": "hi & bye ✓", "published": False}, {"fields": "id"}),
    ("GET", "1_2", None, {"fields": "permalink_url", "limit": 25, "summary": True, "x": None}),
    ("DELETE", "17_9", None, None),
    ("POST", "17841/media_publish", {"creation_id": "42"}, None),
    ("GET", "odd path/é:@~", None, {"q": "a/b?c=d"}),
]


async def test_lean_fetch_puts_the_same_request_on_the_wire_as_httpx() -> None:
    """GraphClient's cheap path (LeanClient.fetch) against its httpx path, call by call:
    method, target, body and the headers a Graph server reads must be identical."""
    graph_stub = GraphStub()
    server = await asyncio.start_server(graph_stub.serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    lean = LeanClient(transport=LeanTransport(), base_url=url)
    via_httpx = CookielessAsyncClient(transport=LeanTransport(), base_url=url)
    try:
        for http in (via_httpx, lean):
            graph = GraphClient(http, "v24.0", SecretStr("app-secret"))
            for method, path, data, params in CALLS:
                graph_stub.answers.append((200, {"id": "1"}))
                assert await graph.call(method, path, TOKEN, data=data, params=params) == {
                    "id": "1"
                }
    finally:
        await lean.aclose()
        await via_httpx.aclose()
        server.close()
    read = ("authorization", "content-type", "content-length", "host")
    seen = [(m, t, {h: hs.get(h) for h in read}, b) for m, t, hs, b in graph_stub.seen]
    assert seen[: len(CALLS)] == seen[len(CALLS) :]
    assert len(seen) == 2 * len(CALLS)


def _note_app_usage(into: list[object], app: object, _business: object) -> None:
    into.append(app)


async def test_lean_and_httpx_paths_read_answers_alike() -> None:
    """Usage headers (repeated ones joined), errors, 5xx and bodies that are not JSON."""
    answers = [
        b'HTTP/1.1 200 OK\r\nX-App-Usage: {"call_count": 91}\r\nContent-Length: 10\r\n\r\n'
        b'{"id":"1"}',
        b"HTTP/1.1 400 X\r\nContent-Length: 47\r\n\r\n"
        b'{"error":{"code":"613","error_subcode":"2446"}}',
        b"HTTP/1.1 500 X\r\nContent-Length: 9\r\n\r\nnot json!",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
    ]
    served: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(answers[len(served) % len(answers)])
            served.append(1)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    outcomes: list[list[object]] = []
    try:
        for http in (
            CookielessAsyncClient(transport=LeanTransport(), base_url=url),
            LeanClient(transport=LeanTransport(), base_url=url),
        ):
            usage: list[object] = []
            graph = GraphClient(http, "v24.0", None, functools.partial(_note_app_usage, usage))
            seen: list[object] = []
            for _ in answers:
                try:
                    seen.append(await graph.call("GET", "me", TOKEN))
                except GraphError as exc:
                    seen.append((exc.code, exc.subcode, exc.http_status))
                except AmbiguousOutcomeError as exc:
                    seen.append(str(exc))
            outcomes.append([*seen, usage])
            await http.aclose()
    finally:
        server.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][4] != [None] * len(answers)  # the usage header was read
    assert outcomes[1][:4] == [
        {"id": "1"}, (613, 2446, 400), "HTTP 500 without a Graph body",
        "HTTP 200 without a Graph body",
    ]  # fmt: skip
