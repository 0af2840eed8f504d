"""GraphClient on its aiohttp session against local HTTP servers: what goes on the wire,
how answers are read, and that a failure without an answer is ambiguous and leaks no secret."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import socket
import struct
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from jobcast.graph.client import MAX_BODY_BYTES, GraphClient, GraphError
from jobcast.graph.pacing import Usage
from jobcast.graph.session import graph_session
from jobcast.platform_api import AmbiguousOutcomeError
from services.publishing.settings import PublisherSettings

pytestmark = pytest.mark.timeout(30)

TOKEN = "EAAB-secret-page-token"
SECRET = "app-secret-in-the-query"

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


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
    settings = PublisherSettings(GRAPH_API_URL=f"http://127.0.0.1:{port}")
    async with graph_session(
        settings.graph_api_url, timeout_seconds=settings.graph_timeout_seconds
    ) as http:
        yield graph_stub, GraphClient(http, "v24.0", SecretStr("app-secret"))
    server.close()


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


async def test_query_values_are_spelled_as_graph_reads_them(
    stub: tuple[GraphStub, GraphClient],
) -> None:
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


async def serving(serve: Serve) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_answers_are_read_with_their_usage_headers() -> None:
    """Usage headers (repeated ones joined), errors, 5xx and bodies that are not JSON."""
    answers = [
        b'HTTP/1.1 200 OK\r\nX-App-Usage: {"call_count": 91}\r\nContent-Length: 10\r\n\r\n'
        b'{"id":"1"}',
        b"HTTP/1.1 400 X\r\nContent-Length: 47\r\n\r\n"
        b'{"error":{"code":"613","error_subcode":"2446"}}',
        b"HTTP/1.1 500 X\r\nContent-Length: 9\r\n\r\nnot json!",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
        b'HTTP/1.1 200 OK\r\nx-business-use-case-usage: {"1": [{"call_count": 5}]}\r\n'
        b"Content-Length: 2\r\n\r\n{}",
    ]
    served: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(answers[len(served) % len(answers)])
                served.append(1)
        writer.close()

    server, url = await serving(answer)
    usage: list[object] = []
    business: list[object] = []
    seen: list[object] = []

    def observe(app: object, per_account: object) -> None:
        usage.append(app)
        business.append(per_account)

    async with graph_session(url, timeout_seconds=5.0) as http:
        graph = GraphClient(http, "v24.0", None, observe)
        for _ in answers:
            try:
                seen.append(await graph.call("GET", "me", TOKEN))
            except GraphError as exc:
                seen.append((exc.code, exc.subcode, exc.http_status))
            except AmbiguousOutcomeError as exc:
                seen.append(str(exc))
    server.close()
    assert seen == [
        {"id": "1"}, (613, 2446, 400), "HTTP 500 without a Graph body",
        "HTTP 200 without a Graph body", {},
    ]  # fmt: skip
    assert usage[0] is not None
    assert usage[1:] == [None] * 4
    assert business[-1] == {"1": Usage(5.0)}  # the per-account header too (any case)


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(10)  # reads the request, never answers
    writer.close()


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id"')
    await writer.drain()
    sock = writer.get_extra_info("socket")
    # SO_LINGER 0: the close is a TCP reset, mid-body.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _refused_url() -> str:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{unused.getsockname()[1]}"


@pytest.mark.parametrize("failure", ["timeout", "reset", "refused"])
async def test_no_answer_is_ambiguous_and_leaks_no_secret(
    failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A timeout, a reset or a refused connection: AmbiguousOutcomeError (the publishers
    reconcile), and neither the token (a header) nor a secret in the query shows in the
    exception, anything chained to it, its traceback or the logs."""
    server = None
    if failure == "refused":
        url = _refused_url()
    else:
        server, url = await serving(_hang if failure == "timeout" else _reset)
    caplog.set_level(logging.DEBUG)
    async with graph_session(url, timeout_seconds=0.3) as http:
        graph = GraphClient(http, "v24.0", SecretStr("app-secret"))
        with pytest.raises(AmbiguousOutcomeError) as caught:
            await graph.call(
                "POST", "1/feed", TOKEN, data={"message": "m"}, params={"client_secret": SECRET}
            )
    if server is not None:
        server.close()
    exc = caught.value
    assert exc.__cause__ is None
    assert exc.__context__ is None
    shown = "".join(traceback.format_exception(exc)) + repr(exc) + caplog.text
    assert TOKEN not in shown
    assert SECRET not in shown
    assert str(exc) in {"SocketTimeoutError", "ClientPayloadError", "ClientConnectorError"}


async def test_no_cookie_is_kept_and_no_redirect_followed() -> None:
    requests: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError):
            while head := await reader.readuntil(b"\r\n\r\n"):
                requests.append(head)
                writer.write(
                    b"HTTP/1.1 302 Found\r\nSet-Cookie: session=abc; Path=/\r\n"
                    b"Location: /elsewhere\r\nContent-Length: 0\r\n\r\n"
                )
        writer.close()

    server, url = await serving(answer)
    async with graph_session(url, timeout_seconds=5.0) as http:
        graph = GraphClient(http, "v24.0", None)
        for _ in range(2):
            with pytest.raises(AmbiguousOutcomeError, match="HTTP 302 without a Graph body"):
                await graph.call("GET", "me", TOKEN)
    server.close()
    assert len(requests) == 2  # the redirect was not followed
    assert not any(b"cookie:" in head.lower() for head in requests)


async def test_an_answer_over_the_body_cap_is_ambiguous() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        too_long = MAX_BODY_BYTES + 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n{" % too_long)
        await writer.drain()
        writer.close()

    server, url = await serving(answer)
    async with graph_session(url, timeout_seconds=5.0) as http:
        with pytest.raises(AmbiguousOutcomeError, match="ClientPayloadError"):
            await GraphClient(http, "v24.0", None).call("GET", "me", TOKEN)
    server.close()
