"""The sandbox's own HTTP/1.1 server, on a real socket: framing, keep-alive, order, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from devtools.graph_sandbox import SandboxSettings, SandboxState, create_app
from devtools.graph_sandbox.server import SandboxServer, render

from .helpers import PAGE, TOKEN

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def served() -> AsyncIterator[tuple[SandboxServer, int]]:
    state = SandboxState(SandboxSettings(base_latency_ms=0))
    server = SandboxServer(state, create_app(state))
    port = await server.start("127.0.0.1", 0)
    await _register_page(port)
    yield server, port
    await server.shutdown(1.0)


async def _register_page(port: int) -> None:
    account = {"account_id": PAGE, "platform": "facebook", "token": TOKEN}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.post("/_sandbox/accounts", json=account)).status_code in (200, 201)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *lines = head.strip().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), headers, body


def _feed_post(message: str, *, extra: str = "") -> bytes:
    body = f"message={message}&access_token={TOKEN}".encode()
    return (
        f"POST /v24.0/{PAGE}/feed HTTP/1.1\r\nHost: sandbox\r\n{extra}"
        f"Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_render_adds_length_and_close_and_refuses_header_injection() -> None:
    whole = render(201, [(b"x-a", b"1")], b"{}", close=True).decode()
    head, _, body = whole.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 201 Created"
    assert {"x-a: 1", "content-length: 2", "connection: close"} <= set(lines)
    assert body == "{}"
    given = render(200, [(b"content-length", b"2")], b"{}", close=False).decode()
    assert given.count("content-length") == 1
    assert "connection" not in given
    assert render(599, [], b"", close=False).startswith(b"HTTP/1.1 599 \r\n")
    with pytest.raises(ValueError, match="line break"):
        render(302, [(b"location", b"https://x.test/\r\nset-cookie: a=b")], b"", close=False)
    with pytest.raises(ValueError, match="line break"):
        render(302, [(b"location", b"https://x.test/\nx: y")], b"", close=False)


async def test_keep_alive_and_pipelined_requests_are_answered_in_order(
    served: tuple[SandboxServer, int],
) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # Three requests in one write: answers come back in the same order, one connection.
    writer.write(_feed_post("first") + _feed_post("second") + _feed_post("third"))
    ids = []
    for _ in range(3):
        status, headers, body = await _read_response(reader)
        assert status == 200
        assert "x-app-usage" in headers
        ids.append(json.loads(body)["id"])
    writer.write(f"GET /v24.0/{ids[1]}?fields=message HTTP/1.1\r\nHost: s\r\n"
                 f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())  # fmt: skip
    status, _, body = await _read_response(reader)
    assert (status, json.loads(body)["message"]) == (200, "second")
    writer.close()


async def test_connection_close_is_honoured(served: tuple[SandboxServer, int]) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_feed_post("bye", extra="Connection: close\r\n"))
    status, headers, _ = await _read_response(reader)
    assert (status, headers["connection"]) == (200, "close")
    assert await reader.read() == b""  # the server closed its side
    writer.close()


async def test_a_malformed_request_gets_400_and_a_closed_connection(
    served: tuple[SandboxServer, int],
) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    status, _, body = await _read_response(reader)
    assert (status, body) == (400, b"malformed request\n")
    assert await reader.read() == b""
    writer.close()


async def test_control_api_runs_through_the_asgi_adapter(
    served: tuple[SandboxServer, int],
) -> None:
    server, port = served
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        created = await http.post("/_sandbox/faults", json={"action": "http_500"})
        assert created.status_code == 201
        assert created.json()["id"]
        refused = await http.post("/_sandbox/faults", json={"action": "no-such-action"})
        assert refused.status_code == 422
        missing = await http.get("/_sandbox/nowhere")
        assert missing.status_code == 404
        head = await http.head("/_sandbox/health")
        assert (head.status_code, head.content) in ((200, b""), (405, b""))
    assert server.connections  # the client's connection stayed open between calls


async def test_shutdown_closes_idle_connections(served: tuple[SandboxServer, int]) -> None:
    server, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_feed_post("idle"))
    await _read_response(reader)
    await server.shutdown(1.0)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    assert not server.connections
    writer.close()
