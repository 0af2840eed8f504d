"""The public-only client: it resolves once, checks every answer, and connects only to a
checked address, keeping the URL's name for Host and TLS. No test here connects anywhere
but loopback: resolvers are fakes, and so is the network unless the test says loopback."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx
import pytest

from jobcast.public_http import DestinationRefusedError, SocketOption, public_only_client

pytestmark = pytest.mark.timeout(10)

_OK = b"HTTP/1.1 204 No Content\r\n\r\n"


class FakeStream(httpcore.AsyncNetworkStream):
    """Answers every request with `answer`; records what was written and the TLS step."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.written = b""
        self.tls_server_hostname: str | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        answer, self.answer = self.answer, b""
        return answer

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.written += buffer

    async def aclose(self) -> None:
        pass

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.tls_server_hostname = server_hostname
        return self

    def get_extra_info(self, info: str) -> Any:
        return None


class FakeNetwork(httpcore.AsyncNetworkBackend):
    """Records every connection attempt; connects nowhere."""

    def __init__(self, answer: bytes = _OK) -> None:
        self.answer = answer
        self.connects: list[tuple[str, int]] = []
        self.streams: list[FakeStream] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        self.streams.append(FakeStream(self.answer))
        return self.streams[-1]

    async def sleep(self, seconds: float) -> None:
        pass


class FakeResolver:
    """Answers from a table, one answer list per lookup in turn; records lookups."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise OSError(-2, "Name or service not known")
        return queue.pop(0) if len(queue) > 1 else queue[0]


def client(
    resolver: FakeResolver, network: httpcore.AsyncNetworkBackend, *, allow_loopback: bool = False
) -> httpx.AsyncClient:
    return public_only_client(
        allow_loopback=allow_loopback, resolver=resolver, network_backend=network, timeout=5
    )


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.5"], ["169.254.169.254"], ["127.0.0.1"], ["93.184.216.34", "10.0.0.5"],
     ["2606:4700::1111", "fe80::1%2"], ["::ffff:127.0.0.1"], ["0.0.0.0"], ["100.64.0.1"]],
)  # fmt: skip
async def test_a_name_answering_a_non_public_address_is_never_connected_to(
    answers: list[str],
) -> None:
    resolver = FakeResolver({"hooks.example.com": [answers]})
    network = FakeNetwork()
    async with client(resolver, network) as http:
        with pytest.raises(DestinationRefusedError, match=r"refused: hooks\.example\.com resolves"):
            await http.post("https://hooks.example.com/jobcast", content=b"{}")
    assert network.connects == []


@pytest.mark.parametrize(
    "url",
    ["https://2130706433/x", "https://0x7f000001/x", "https://127.1/x", "https://0/x",
     "https://017700000001/x", "https://[::1]/x", "https://[::ffff:7f00:1]/x",
     "https://[64:ff9b::a9fe:a9fe]/x", "http://169.254.169.254/latest/meta-data/",
     "https://10.0.0.5:9092/x"],
)  # fmt: skip
async def test_address_literals_in_any_spelling_are_refused_without_a_lookup(url: str) -> None:
    resolver = FakeResolver({})
    network = FakeNetwork()
    async with client(resolver, network) as http:
        with pytest.raises(DestinationRefusedError, match="refused: "):
            await http.post(url, content=b"{}")
    assert (network.connects, resolver.lookups) == ([], [])


async def test_local_names_are_refused_by_what_they_resolve_to() -> None:
    resolver = FakeResolver({"localhost.": [["127.0.0.1", "::1"]], "kafka": [["172.18.0.3"]]})
    network = FakeNetwork()
    async with client(resolver, network) as http:
        for url in ("https://localhost./x", "https://kafka:9092/x"):
            with pytest.raises(DestinationRefusedError):
                await http.post(url, content=b"{}")
    assert network.connects == []


async def test_a_public_name_is_connected_to_by_the_checked_address_with_its_own_name() -> None:
    resolver = FakeResolver({"hooks.example.com": [["93.184.216.34", "2606:4700::1111"]]})
    network = FakeNetwork()
    async with client(resolver, network) as http:
        response = await http.post("https://hooks.example.com/jobcast?x=1", content=b"{}")
    assert response.status_code == 204
    assert resolver.lookups == ["hooks.example.com"]  # once: nothing resolves it again
    assert network.connects == [("93.184.216.34", 443)]
    [stream] = network.streams
    # TLS (SNI and certificate verification) and Host are for the name, not the address.
    assert stream.tls_server_hostname == "hooks.example.com"
    assert stream.written.startswith(b"POST /jobcast?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: hooks.example.com\r\n" in stream.written


async def test_a_rebinding_answer_is_checked_again_on_the_next_connection() -> None:
    # Public on the first lookup, loopback on the second: each connection is checked
    # by its own lookup, and connects to what that lookup answered.
    resolver = FakeResolver({"hooks.example.com": [["93.184.216.34"], ["127.0.0.1"]]})
    network = FakeNetwork(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    async with client(resolver, network) as http:
        first = await http.post("https://hooks.example.com/a", content=b"{}")
        with pytest.raises(DestinationRefusedError, match=r"127\.0\.0\.1, a loopback address"):
            await http.post("https://hooks.example.com/b", content=b"{}")
    assert first.status_code == 204
    assert network.connects == [("93.184.216.34", 443)]
    assert resolver.lookups == ["hooks.example.com", "hooks.example.com"]


async def test_the_next_checked_address_is_tried_when_one_does_not_answer() -> None:
    class FirstRefuses(FakeNetwork):
        async def connect_tcp(self, host: str, port: int, *args: Any) -> Any:
            if not self.connects:
                self.connects.append((host, port))
                raise httpcore.ConnectError("connection refused")
            return await super().connect_tcp(host, port, *args)

    resolver = FakeResolver({"hooks.example.com": [["2606:4700::1111", "93.184.216.34"]]})
    network = FirstRefuses()
    async with client(resolver, network) as http:
        assert (await http.post("https://hooks.example.com/", content=b"{}")).status_code == 204
    assert network.connects == [("2606:4700::1111", 443), ("93.184.216.34", 443)]


async def test_allowing_loopback_allows_loopback_only() -> None:
    resolver = FakeResolver({"dev.example.com": [["127.0.0.1"]], "lan.example.com": [["10.0.0.5"]]})
    network = FakeNetwork()
    async with client(resolver, network, allow_loopback=True) as http:
        assert (await http.post("http://dev.example.com:8080/", content=b"")).status_code == 204
        with pytest.raises(DestinationRefusedError):
            await http.post("http://lan.example.com/", content=b"")
        with pytest.raises(DestinationRefusedError):
            await http.post("http://0:8080/", content=b"")  # 0.0.0.0 reaches loopback too
    assert network.connects == [("127.0.0.1", 8080)]


async def test_a_name_that_does_not_resolve_is_an_ordinary_connect_error() -> None:
    network = FakeNetwork()
    async with client(FakeResolver({}), network) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.post("https://nowhere.example.com/", content=b"")
    assert not isinstance(caught.value, DestinationRefusedError)
    assert network.connects == []


async def test_environment_proxies_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    resolver = FakeResolver({"hooks.example.com": [["93.184.216.34"]]})
    network = FakeNetwork()
    async with client(resolver, network) as http:
        await http.post("https://hooks.example.com/", content=b"")
    assert network.connects == [("93.184.216.34", 443)]


async def test_redirects_are_not_followed() -> None:
    resolver = FakeResolver({"hooks.example.com": [["93.184.216.34"]]})
    network = FakeNetwork(
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    async with client(resolver, network) as http:
        response = await http.post("https://hooks.example.com/", content=b"")
    assert response.status_code == 307
    assert network.connects == [("93.184.216.34", 443)]


async def test_on_a_real_socket_the_connection_goes_to_the_checked_loopback_address() -> None:
    """The real network backend, on loopback only: the name is never looked up by anyone
    but the fake resolver, and the request still names the host it was sent to."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    resolver = FakeResolver({"hooks.example.com": [["127.0.0.1"]]})
    try:
        async with public_only_client(allow_loopback=True, resolver=resolver, timeout=5) as http:
            response = await http.post(f"http://hooks.example.com:{port}/hook", content=b"{}")
    finally:
        server.close()
        await server.wait_closed()
    assert response.text == "ok"
    assert f"\r\nhost: hooks.example.com:{port}\r\n".encode() in seen[0].lower()
