"""The HTTP session every Graph API client uses: aiohttp, one keep-alive pool per process."""

from __future__ import annotations

import aiohttp

from jobcast.http_client import KEEPALIVE_SECONDS, phase_timeouts


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
    return aiohttp.ClientSession(
        base_url=base_url.rstrip("/") + "/",
        connector=connector,
        timeout=phase_timeouts(timeout_seconds),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )
