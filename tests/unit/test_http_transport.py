"""LeanTransport against a scripted asyncio HTTP server on 127.0.0.1 (and one over TLS)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from jobcast.http_transport import (
    CookielessAsyncClient,
    LeanClient,
    LeanTransport,
    ResponseTooLargeError,
)

pytestmark = pytest.mark.timeout(30)


@dataclass(frozen=True)
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which accepted connection it came on, from 1


# A handler answers one request; it returns False to close the connection afterwards.
Handler = Callable[[Received, asyncio.StreamWriter], Awaitable[bool]]
# The fixture: start a server with a handler (and a TLS context for https).
Serve = Callable[..., Awaitable["Server"]]


def response(body: bytes = b'{"ok":true}', status: int = 200, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def answer_ok(request: Received, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(request.target.encode()))
    return True


@dataclass
class Server:
    handler: Handler
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while (request := await _read_request(reader, number)) is not None:
                self.requests.append(request)
                if not await self.handler(request, writer):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            self.open_now -= 1
            writer.close()


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    line, *lines = head.decode().split("\r\n")
    method, target, _ = line.split(" ")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(method, target, headers, body, connection)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[tuple[asyncio.Server, Server]] = []

    async def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler)
        listening = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=tls)
        server.port = listening.sockets[0].getsockname()[1]
        servers.append((listening, server))
        return server

    yield start
    for listening, server in servers:
        listening.close()
        for task in server.tasks:
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)


def client(transport: LeanTransport, server: Server, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url=server.url, timeout=timeout)


async def test_keep_alive_reuses_one_connection(serve: Serve) -> None:
    server = await serve(answer_ok)
    async with client(LeanTransport(), server) as http:
        bodies = [(await http.get(f"/n/{i}")).text for i in range(3)]
    assert bodies == ["/n/0", "/n/1", "/n/2"]
    assert server.connections == 1
    assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"


async def test_post_sends_form_body_with_length(serve: Serve) -> None:
    server = await serve(answer_ok)
    async with client(LeanTransport(), server) as http:
        answer = await http.post("/v1/feed", params={"a": "b"}, data={"message": "hi there"})
    assert answer.status_code == 200
    request = server.requests[0]
    assert (request.method, request.target) == ("POST", "/v1/feed?a=b")
    assert request.body == b"message=hi+there"
    assert request.headers["content-length"] == str(len(request.body))


async def test_streamed_request_body_is_sent_with_a_length(
    serve: Serve,
) -> None:
    server = await serve(answer_ok)

    async def parts() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    async with client(LeanTransport(), server) as http:
        await http.post("/upload", content=parts())
    request = server.requests[0]
    assert request.body == b"hello world"
    assert request.headers["content-length"] == "11"
    assert "transfer-encoding" not in request.headers


async def test_chunked_response_is_joined_and_connection_kept(
    serve: Serve,
) -> None:
    async def chunked(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)  # the rest arrives in another read
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        return True

    server = await serve(chunked)
    async with client(LeanTransport(), server) as http:
        first, second = await http.get("/"), await http.get("/")
    assert first.text == second.text == "hello world"
    assert server.connections == 1


async def test_body_without_length_is_read_until_close(
    serve: Serve,
) -> None:
    async def until_close(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        return False

    server = await serve(until_close)
    async with client(LeanTransport(), server) as http:
        assert (await http.get("/")).text == "all of it"
        assert (await http.get("/")).text == "all of it"
    assert server.connections == 2


async def test_connection_close_is_honoured(serve: Serve) -> None:
    async def closing(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"{}", 200, "Connection: close"))
        return False

    server = await serve(closing)
    async with client(LeanTransport(), server) as http:
        for _ in range(2):
            assert (await http.get("/")).json() == {}
    assert server.connections == 2


async def test_idle_connections_expire(serve: Serve) -> None:
    server = await serve(answer_ok)
    async with client(LeanTransport(keepalive_expiry=0.05), server) as http:
        await http.get("/")
        await asyncio.sleep(0.1)
        await http.get("/")
    assert server.connections == 2


def drop_reused(request: Received) -> bool:
    """The server closed this keep-alive connection just as the request arrived."""
    return request.connection == 1 and request.target == "/again"


async def dropping(request: Received, writer: asyncio.StreamWriter) -> bool:
    if drop_reused(request):
        return False  # closed without a byte of response
    writer.write(response(request.method.encode()))
    return True


async def test_get_on_a_connection_the_server_closed_is_retried_once(
    serve: Serve,
) -> None:
    server = await serve(dropping)
    async with client(LeanTransport(), server) as http:
        await http.get("/first")
        assert (await http.get("/again")).text == "GET"
    assert [r.connection for r in server.requests] == [1, 1, 2]


async def test_post_on_a_connection_the_server_closed_is_not_retried(
    serve: Serve,
) -> None:
    server = await serve(dropping)
    async with client(LeanTransport(), server) as http:
        await http.get("/first")
        with pytest.raises(httpx.TransportError):
            await http.post("/again", data={"message": "maybe posted"})
    assert [r.method for r in server.requests] == ["GET", "POST"]


async def test_a_get_is_retried_only_once(serve: Serve) -> None:
    async def drop_every_reused(request: Received, writer: asyncio.StreamWriter) -> bool:
        if request.target == "/again":
            return False
        await asyncio.sleep(0.05)  # the two warm-up requests overlap: two connections
        writer.write(response())
        return True

    server = await serve(drop_every_reused)
    async with client(LeanTransport(), server) as http:
        await asyncio.gather(http.get("/warm"), http.get("/warm"))
        with pytest.raises(httpx.TransportError):
            await http.get("/again")
    assert [r.target for r in server.requests].count("/again") == 2


async def never_answer(request: Received, writer: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(3600)
    return False


async def test_read_timeout(serve: Serve) -> None:
    server = await serve(never_answer)
    transport = LeanTransport()
    async with client(transport, server, timeout=0.1) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/")
        assert _pool_size(transport) == 0


async def test_read_timeout_counts_silence_not_total_time(
    serve: Serve,
) -> None:
    async def trickle(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
        for byte in (b"a", b"b", b"c", b"d"):
            await writer.drain()
            await asyncio.sleep(0.06)
            writer.write(byte)
        return True

    server = await serve(trickle)
    async with client(LeanTransport(), server, timeout=0.15) as http:
        assert (await http.get("/")).text == "abcd"


async def test_read_timeouts_on_a_reused_connection_follow_each_request(
    serve: Serve,
) -> None:
    # One connection's read timer outlives its exchange; the next exchange must still get
    # its own deadline, shorter or longer.
    async def first_fast_then_silent(request: Received, writer: asyncio.StreamWriter) -> bool:
        if request.target == "/slow-ok":
            await asyncio.sleep(0.3)
        if request.target != "/silent":
            writer.write(response(request.target.encode()))
            return True
        await asyncio.sleep(3600)
        return False

    server = await serve(first_fast_then_silent)
    transport = LeanTransport()
    async with client(transport, server, timeout=5.0) as http:
        assert (await http.get("/fast")).text == "/fast"
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/silent", timeout=0.1)  # same connection, shorter deadline
        assert asyncio.get_running_loop().time() - started < 1.0
        assert (await http.get("/fast", timeout=0.2)).text == "/fast"
        # Longer deadlines than the timer left behind by a 0.2 s exchange: it fires early
        # and must move on to the new deadline, neither failing nor forgetting the request.
        assert (await http.get("/slow-ok", timeout=1.0)).text == "/slow-ok"
        assert (await http.get("/fast", timeout=0.2)).text == "/fast"
        with pytest.raises(httpx.ReadTimeout):
            await asyncio.wait_for(http.get("/silent", timeout=0.5), 3)
    assert server.connections == 2  # each timed-out connection was dropped, the other reused


async def test_pool_cap_queues_requests_in_arrival_order(
    serve: Serve,
) -> None:
    async def slow(request: Received, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.02)
        writer.write(response(request.target.encode()))
        return True

    server = await serve(slow)
    async with client(LeanTransport(max_connections=2), server) as http:
        answers = await asyncio.gather(*(http.get(f"/{i}") for i in range(8)))
    assert [a.text for a in answers] == [f"/{i}" for i in range(8)]
    assert server.most_open <= 2
    assert [r.target for r in server.requests] == [f"/{i}" for i in range(8)]


async def test_pool_timeout_when_every_connection_is_busy(
    serve: Serve,
) -> None:
    server = await serve(never_answer)
    transport = LeanTransport(max_connections=1)
    timeout = httpx.Timeout(5.0, pool=0.05)
    async with httpx.AsyncClient(transport=transport, base_url=server.url, timeout=timeout) as http:
        busy = asyncio.create_task(http.get("/busy"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await http.get("/queued")
        busy.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await busy
        assert _pool_size(transport) == 0


async def test_cancelled_request_never_returns_its_connection(
    serve: Serve,
) -> None:
    async def slow_first(request: Received, writer: asyncio.StreamWriter) -> bool:
        if request.target == "/slow":
            await asyncio.sleep(0.2)  # answers late, into a connection nobody waits on
        writer.write(response(request.target.encode()))
        return True

    server = await serve(slow_first)
    transport = LeanTransport(max_connections=1)
    async with client(transport, server) as http:
        slow = asyncio.create_task(http.get("/slow"))
        queued = asyncio.create_task(http.get("/queued"))  # waits for the only slot
        await asyncio.sleep(0.05)
        queued.cancel()
        slow.cancel()
        for task in (slow, queued):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert _pool_size(transport) == 0
        assert (await http.get("/next")).text == "/next"  # not the late "/slow" answer
    assert server.connections == 2


async def test_body_over_the_cap_is_refused(serve: Serve) -> None:
    async def big(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"x" * 5000))
        return True

    server = await serve(big)
    transport = LeanTransport(max_body_bytes=1000)
    async with client(transport, server) as http:
        with pytest.raises(ResponseTooLargeError):
            await http.get("/")
        assert _pool_size(transport) == 0


async def test_connect_error_is_an_httpx_connect_error() -> None:
    port = await _closed_port()
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(transport=LeanTransport(), base_url=url) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/")


async def test_server_garbage_is_a_protocol_error(
    serve: Serve,
) -> None:
    async def garbage(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        return True

    server = await serve(garbage)
    async with client(LeanTransport(), server) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/")


async def test_interim_100_response_is_skipped(
    serve: Serve,
) -> None:
    async def interim(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"final", 201))
        return True

    server = await serve(interim)
    async with client(LeanTransport(), server) as http:
        answer = await http.post("/", content=b"x")
    assert (answer.status_code, answer.text) == (201, "final")


async def test_head_response_has_no_body(serve: Serve) -> None:
    async def head(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n")
        return True

    server = await serve(head)
    async with client(LeanTransport(), server) as http:
        answer = await http.head("/")
    assert answer.headers["content-length"] == "42"
    assert (answer.status_code, answer.content) == (200, b"")


async def test_gzip_body_is_decoded_by_httpx(serve: Serve) -> None:
    import gzip

    async def gzipped(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(gzip.compress(b'{"id":"1"}'), 200, "Content-Encoding: gzip"))
        return True

    server = await serve(gzipped)
    async with client(LeanTransport(), server) as http:
        assert (await http.get("/")).json() == {"id": "1"}


async def test_aclose_closes_idle_connections(serve: Serve) -> None:
    server = await serve(answer_ok)
    async with client(LeanTransport(), server) as http:
        await http.get("/")
        assert server.open_now == 1
    await asyncio.sleep(0.05)
    assert server.open_now == 0


async def test_cookieless_client_neither_stores_nor_sends_cookies(
    serve: Serve,
) -> None:
    async def sets_cookie(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"{}", 200, "Set-Cookie: session=abc; Path=/"))
        return True

    server = await serve(sets_cookie)
    async with CookielessAsyncClient(transport=LeanTransport(), base_url=server.url) as http:
        await http.get("/")
        await http.get("/")
        assert not http.cookies
    assert all("cookie" not in r.headers for r in server.requests)


async def test_https(serve: Serve, tmp_path: Path) -> None:
    server_tls, client_tls = _tls_pair(tmp_path)
    server = await serve(answer_ok, server_tls)
    transport = LeanTransport(ssl_context=client_tls)
    url = f"https://localhost:{server.port}"
    async with httpx.AsyncClient(transport=transport, base_url=url) as http:
        assert (await http.get("/secure")).text == "/secure"
        assert (await http.get("/again")).text == "/again"
    assert server.connections == 1


def _pool_size(transport: LeanTransport) -> int:
    return sum(pool.size for pool in transport._pools.values())


async def _closed_port() -> int:
    listening = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = int(listening.sockets[0].getsockname()[1])
    listening.close()
    await listening.wait_closed()
    return port


def _tls_pair(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for localhost: the server's context and a client's
    default context that trusts only it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    client_tls = ssl.create_default_context(cafile=str(cert_file))
    return server_tls, client_tls


async def test_a_connection_busy_during_aclose_is_closed_when_done(serve: Serve) -> None:
    async def slow(request: Received, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.1)
        writer.write(response())
        return True

    server = await serve(slow)
    transport = LeanTransport()
    http = client(transport, server)
    busy = asyncio.create_task(http.get("/"))
    await asyncio.sleep(0.05)
    await transport.aclose()
    assert (await busy).status_code == 200
    await asyncio.sleep(0.05)
    assert server.open_now == 0


async def test_an_extra_response_makes_the_connection_unusable(serve: Serve) -> None:
    async def twice(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"one") + response(b"two"))
        return True

    server = await serve(twice)
    async with client(LeanTransport(), server) as http:
        first = await http.get("/")
        assert (first.text, first.headers["content-length"]) == ("one", "3")
        assert (await http.get("/")).text == "one"
    assert server.connections == 2


# -- LeanClient.fetch: the request written by hand ---------------------------------------


async def test_fetch_sends_base_path_defaults_length_and_body(serve: Serve) -> None:
    server = await serve(answer_ok)
    async with LeanClient(
        transport=LeanTransport(), base_url=f"{server.url}/api/", headers={"User-Agent": "jc"}
    ) as http:
        raw = await http.fetch("POST", "v1/x?a=1", [("Authorization", "Bearer t")], b"message=hi")
        empty = await http.fetch("POST", "/v1/y")
    assert (raw.status, raw.body, empty.body) == (200, b"/api/v1/x?a=1", b"/api/v1/y")
    sent, bare = server.requests
    assert (sent.method, sent.target, sent.body) == ("POST", "/api/v1/x?a=1", b"message=hi")
    assert sent.headers["host"] == f"127.0.0.1:{server.port}"
    assert sent.headers["user-agent"] == "jc"
    assert sent.headers["authorization"] == "Bearer t"
    assert sent.headers["content-length"] == "10"
    assert "accept-encoding" not in sent.headers  # bodies come plain: nothing to decode
    assert bare.headers["content-length"] == "0"
    assert sent.connection == bare.connection  # kept alive like send()


async def test_fetch_get_has_no_length_and_is_retried_on_a_stale_connection(
    serve: Serve,
) -> None:
    async def once_then_close(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"{}"))
        return False  # closes after each answer: the idle connection goes stale

    server = await serve(once_then_close)
    async with LeanClient(transport=LeanTransport(), base_url=server.url) as http:
        await http.fetch("GET", "a")
        await asyncio.sleep(0.05)
        raw = await http.fetch("GET", "b")
    assert raw.status == 200
    assert "content-length" not in server.requests[0].headers
    assert [r.target for r in server.requests] == ["/a", "/b"]


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("a", [("Authorization", "Bearer sec\r\nX-Injected: 1")]),
        ("a", [("Authorization", "Bearer sec\nret")]),
        ("a", [("Authorization", "Bearer sécret")]),
        ("a b", []),
        ("a\r\nHost: evil", []),
    ],
)
async def test_fetch_refuses_line_breaks_spaces_and_non_ascii_without_echoing(
    serve: Serve, target: str, headers: list[tuple[str, str]]
) -> None:
    server = await serve(answer_ok)
    async with LeanClient(transport=LeanTransport(), base_url=server.url) as http:
        with pytest.raises(ValueError, match=r"request line|target") as caught:
            await http.fetch("GET", target, headers)
    assert "sec" not in str(caught.value)
    assert server.requests == []


async def test_fetch_decodes_gzip_and_refuses_other_encodings(serve: Serve) -> None:
    import gzip
    import zlib

    bodies = [
        (gzip.compress(b'{"id":"1"}'), "gzip"),
        (zlib.compress(b'{"id":"2"}'), "deflate"),
        (b'{"id":"3"}', "identity"),
        (b"\x00\x01", "br"),
    ]

    async def encoded(request: Received, writer: asyncio.StreamWriter) -> bool:
        body, encoding = bodies[len(server.requests) - 1]
        writer.write(response(body, 200, f"Content-Encoding: {encoding}"))
        return True

    server = await serve(encoded)
    async with LeanClient(transport=LeanTransport(), base_url=server.url) as http:
        got = [(await http.fetch("GET", str(n))).body for n in range(3)]
        with pytest.raises(httpx.DecodingError):
            await http.fetch("GET", "3")
    assert got == [b'{"id":"1"}', b'{"id":"2"}', b'{"id":"3"}']


async def test_fetch_applies_the_clients_read_timeout(serve: Serve) -> None:
    async def silent(request: Received, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    server = await serve(silent)
    async with LeanClient(transport=LeanTransport(), base_url=server.url, timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.fetch("GET", "slow")
