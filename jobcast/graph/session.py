"""The HTTP session every Graph API client uses: aiohttp, one keep-alive pool per process."""

from __future__ import annotations

import aiohttp

# Below the common 5 s server keep-alive, so an idle connection is never reused just as
# the server closes it (a request lost to a reset).
KEEPALIVE_SECONDS = 4.0


def graph_session(
    base_url: str, *, timeout_seconds: float, max_connections: int = 100
) -> aiohttp.ClientSession:
    """A session for `base_url` (the Graph API's, or the sandbox's); call inside the loop.

    `timeout_seconds` bounds each phase of a call as httpx did before: waiting for a
    pooled connection or connecting, and the silence between response bytes; a whole
    call is not capped (a slow but live answer is an answer). No cookies: calls made with
    different accounts' tokens must share nothing. No redirects are followed (the client
    asks for none per call) and no proxy variables are read.
    """
    connector = aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
    )
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=timeout_seconds,
        sock_connect=timeout_seconds,
        sock_read=timeout_seconds,
    )
    return aiohttp.ClientSession(
        base_url=base_url.rstrip("/") + "/",
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )
