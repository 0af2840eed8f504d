"""The public-only client: it resolves once, checks every answer, and connects only to a
checked address, keeping the URL's name for Host and TLS. No test here connects anywhere
but loopback: resolvers are fakes, and so is the network unless the test says loopback
(aiohttp's socket factory hands the connector one end of a socket pair, whose other end
answers, over TLS on port 443 with a certificate for hooks.example.com)."""

from __future__ import annotations

import asyncio
import datetime
import errno
import functools
import socket
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.connector import AddrInfoType
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jobcast.http_client import HttpClient, NoAnswerError
from jobcast.public_http import DestinationRefusedError, public_only_client

pytestmark = pytest.mark.timeout(10)

_OK = b"HTTP/1.1 204 No Content\r\n\r\n"
_TLS_NAME = "hooks.example.com"


@functools.cache
def _certificate() -> tuple[bytes, bytes]:
    """A self-signed certificate for `_TLS_NAME` only (no address), and its key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _TLS_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(_TLS_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def trusting_context() -> ssl.SSLContext:
    """A client context that verifies names as usual and trusts the fake's certificate."""
    return ssl.create_default_context(cadata=_certificate()[0].decode())


@functools.cache
def _server_context() -> ssl.SSLContext:
    certificate, key = _certificate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "cert.pem").write_bytes(certificate)
        (Path(folder) / "key.pem").write_bytes(key)
        context.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
    return context


class _Connected(socket.socket):
    """One end of a socket pair, already connected: connecting it does nothing."""

    def connect(self, address: Any) -> None:
        pass


class _Answering(asyncio.Protocol):
    """The far end: records each request's head and answers it."""

    def __init__(self, network: FakeNetwork) -> None:
        self.network = network
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.network.written.append(head + b"\r\n\r\n")
            self.transport.write(self.network.answer)
            if b"connection: close" in self.network.answer.lower():
                self.transport.close()


class FakeNetwork:
    """aiohttp's socket factory, connecting nowhere: records every connection's address,
    the requests written and the name TLS was asked for (SNI)."""

    def __init__(self, answer: bytes = _OK) -> None:
        self.answer = answer
        self.connects: list[tuple[str, int]] = []
        self.written: list[bytes] = []
        self.server_names: list[str | None] = []
        self._serving: set[asyncio.Task[Any]] = set()

    def __call__(self, addr_info: AddrInfoType) -> socket.socket:
        host, port = addr_info[4][:2]
        self.connects.append((str(host), int(port)))
        near, far = socket.socketpair()
        task = asyncio.get_running_loop().create_task(self._serve(far, tls=port == 443))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)
        return _Connected(near.family, near.type, near.proto, near.detach())

    async def _serve(self, far: socket.socket, *, tls: bool) -> None:
        context = None
        if tls:
            context = _server_context()
            context.sni_callback = lambda _, name, __: self.server_names.append(name)
        await asyncio.get_running_loop().connect_accepted_socket(
            lambda: _Answering(self), far, ssl=context
        )


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
    resolver: FakeResolver, network: FakeNetwork, *, allow_loopback: bool = False
) -> HttpClient:
    return public_only_client(
        timeout_seconds=5,
        allow_loopback=allow_loopback,
        resolver=resolver,
        ssl_context=trusting_context(),
        socket_factory=network,
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
            await http.exchange("POST", "https://hooks.example.com/jobcast", data=b"{}")
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
            await http.exchange("POST", url, data=b"{}")
    assert (network.connects, resolver.lookups) == ([], [])


async def test_local_names_are_refused_by_what_they_resolve_to() -> None:
    resolver = FakeResolver({"localhost.": [["127.0.0.1", "::1"]], "kafka": [["172.18.0.3"]]})
    network = FakeNetwork()
    async with client(resolver, network) as http:
        for url in ("https://localhost./x", "https://kafka:9092/x"):
            with pytest.raises(DestinationRefusedError):
                await http.exchange("POST", url, data=b"{}")
    assert network.connects == []


async def test_a_public_name_is_connected_to_by_the_checked_address_with_its_own_name() -> None:
    resolver = FakeResolver({"hooks.example.com": [["93.184.216.34", "2606:4700::1111"]]})
    network = FakeNetwork()
    async with client(resolver, network) as http:
        response = await http.exchange("POST", "https://hooks.example.com/jobcast?x=1", data=b"{}")
    assert response.status == 204
    assert resolver.lookups == ["hooks.example.com"]  # once: nothing resolves it again
    assert network.connects == [("93.184.216.34", 443)]
    # TLS (SNI, and certificate verification: the certificate names no address) and Host
    # are for the name, not the address.
    assert network.server_names == ["hooks.example.com"]
    [written] = network.written
    assert written.startswith(b"POST /jobcast?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: hooks.example.com\r\n" in written


async def test_a_rebinding_answer_is_checked_again_on_the_next_connection() -> None:
    # Public on the first lookup, loopback on the second: each connection is checked
    # by its own lookup, and connects to what that lookup answered.
    resolver = FakeResolver({"hooks.example.com": [["93.184.216.34"], ["127.0.0.1"]]})
    network = FakeNetwork(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    async with client(resolver, network) as http:
        first = await http.exchange("POST", "https://hooks.example.com/a", data=b"{}")
        with pytest.raises(DestinationRefusedError, match=r"127\.0\.0\.1, a loopback address"):
            await http.exchange("POST", "https://hooks.example.com/b", data=b"{}")
    assert first.status == 204
    assert network.connects == [("93.184.216.34", 443)]
    assert resolver.lookups == ["hooks.example.com", "hooks.example.com"]


async def test_the_next_checked_address_is_tried_when_one_does_not_answer() -> None:
    class FirstRefuses(FakeNetwork):
        def __call__(self, addr_info: AddrInfoType) -> socket.socket:
            if not self.connects:
                self.connects.append((str(addr_info[4][0]), int(addr_info[4][1])))
                raise ConnectionRefusedError(errno.ECONNREFUSED, "connection refused")
            return super().__call__(addr_info)

    resolver = FakeResolver({"hooks.example.com": [["2606:4700::1111", "93.184.216.34"]]})
    network = FirstRefuses()
    async with client(resolver, network) as http:
        assert (await http.exchange("POST", "https://hooks.example.com/", data=b"{}")).status == 204
    assert network.connects == [("2606:4700::1111", 443), ("93.184.216.34", 443)]


async def test_allowing_loopback_allows_loopback_only() -> None:
    resolver = FakeResolver({"dev.example.com": [["127.0.0.1"]], "lan.example.com": [["10.0.0.5"]]})
    network = FakeNetwork()
    async with client(resolver, network, allow_loopback=True) as http:
        assert (await http.exchange("POST", "http://dev.example.com:8080/", data=b"")).status == 204
        with pytest.raises(DestinationRefusedError):
            await http.exchange("POST", "http://lan.example.com/", data=b"")
        with pytest.raises(DestinationRefusedError):
            await http.exchange("POST", "http://0:8080/", data=b"")  # 0.0.0.0 reaches loopback too
    assert network.connects == [("127.0.0.1", 8080)]


async def test_a_name_that_does_not_resolve_is_an_ordinary_connect_error() -> None:
    network = FakeNetwork()
    async with client(FakeResolver({}), network) as http:
        with pytest.raises(NoAnswerError) as caught:
            await http.exchange("POST", "https://nowhere.example.com/", data=b"")
    assert not isinstance(caught.value, DestinationRefusedError)
    assert caught.value.kind == "ClientConnectorDNSError"
    assert network.connects == []


async def test_environment_proxies_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    resolver = FakeResolver({"hooks.example.com": [["93.184.216.34"]]})
    network = FakeNetwork()
    async with client(resolver, network) as http:
        await http.exchange("POST", "https://hooks.example.com/", data=b"")
    assert network.connects == [("93.184.216.34", 443)]


async def test_redirects_are_not_followed() -> None:
    resolver = FakeResolver({"hooks.example.com": [["93.184.216.34"]]})
    network = FakeNetwork(
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    async with client(resolver, network) as http:
        response = await http.exchange("POST", "https://hooks.example.com/", data=b"")
    assert response.status == 307
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
        async with public_only_client(
            allow_loopback=True, resolver=resolver, timeout_seconds=5
        ) as http:
            response = await http.exchange(
                "POST", f"http://hooks.example.com:{port}/hook", data=b"{}"
            )
    finally:
        server.close()
        await server.wait_closed()
    assert response.text == "ok"
    assert f"\r\nhost: hooks.example.com:{port}\r\n".encode() in seen[0].lower()
