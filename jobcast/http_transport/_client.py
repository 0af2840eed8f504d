"""An httpx client for token-authenticated APIs: it keeps no cookies."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import httpx

from jobcast.http_transport._connection import RawResponse
from jobcast.http_transport._transport import LeanTransport


class _IgnoredCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        """Set-Cookie is ignored: nothing is stored, so nothing is ever sent back."""


class CookielessAsyncClient(httpx.AsyncClient):
    """`httpx.AsyncClient` that never stores a response's cookies.

    Every response otherwise goes through http.cookiejar (a urllib Request built from the
    URL, the headers copied into an email Message): about a third of the client's CPU on
    a small JSON call. And calls made with different accounts' tokens must not share
    cookies anyway.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ignored_cookies = _IgnoredCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty: see the class docstring."""
        return self._ignored_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("CookielessAsyncClient keeps no cookies")


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# httpx's default Accept-Encoding is left out: a plain body needs no decoding step.
_NOT_SENT = frozenset({b"host", b"accept-encoding", b"content-length", b"transfer-encoding"})


class LeanClient(CookielessAsyncClient):
    """`CookielessAsyncClient` on a `LeanTransport`, plus `fetch` for small hot calls.

    `fetch` writes the request bytes itself and hands back the transport's raw response,
    skipping httpx's Request and Response models: URL parsing alone checks every
    character of the URL, and a whole `send` costs ~300 µs of CPU where the HTTP exchange
    costs ~30 µs. The client's base URL, default headers and timeouts apply as with
    `send`; event hooks and auth do not (the callers set their own Authorization).
    """

    def __init__(self, *, transport: LeanTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self._lean = transport

    async def fetch(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> RawResponse:
        """One request; `target` is the path and query under the base URL, already
        percent-encoded. Transport failures raise httpx's TransportError family."""
        if method not in _METHODS:
            raise ValueError(f"unsupported method {method!r}")
        base = self.base_url
        path = base.raw_path.decode("ascii").rstrip("/") + "/" + target.lstrip("/")
        if " " in path:
            raise ValueError("the target holds a space: percent-encode it")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {base.netloc.decode('ascii')}"]
        lines += (
            f"{name.decode('latin-1')}: {value.decode('latin-1')}"
            for name, value in self.headers.raw
            if name.lower() not in _NOT_SENT
        )
        lines += (f"{name}: {value}" for name, value in headers)
        if body or method in _BODY_METHODS:
            lines.append(f"Content-Length: {len(body)}")
        # Never echo the text: a header value here is usually a token.
        if not all(line.isascii() and "\r" not in line and "\n" not in line for line in lines):
            raise ValueError("the request line or a header holds a line break or non-ASCII")
        head = "\r\n".join(lines)
        data = head.encode("ascii") + b"\r\n\r\n" + body
        raw = await self._lean.exchange(base, method, data, self.timeout.as_dict())
        return _decoded(raw)


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _decoded(raw: RawResponse) -> RawResponse:
    """The body without its Content-Encoding (gzip and deflate; others raise)."""
    encoding = b""
    for name, value in raw.headers:
        if name.lower() == b"content-encoding":
            encoding = value.strip().lower()
    if encoding in (b"", b"identity"):
        return raw
    if encoding not in (b"gzip", b"deflate"):
        raise httpx.DecodingError(f"unsupported content encoding {encoding.decode('latin-1')}")
    try:
        body = zlib.decompress(raw.body, wbits=zlib.MAX_WBITS | 32)  # gzip or zlib header
    except zlib.error:
        try:
            body = zlib.decompress(raw.body, wbits=-zlib.MAX_WBITS)  # raw deflate
        except zlib.error as exc:
            raise httpx.DecodingError(f"undecodable {encoding.decode()} body") from exc
    return RawResponse(raw.status, raw.headers, body, raw.keep_alive)
