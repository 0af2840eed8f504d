"""A scripted Graph API on 127.0.0.1 for client tests: a function from request to answer.

The function sees and returns httpx's request and response models (plain data here, no
httpx client is involved): what the Graph client put on the wire, read back by aiohttp's
server, and the answer it is to read. The client under test is a real `graph_session`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from jobcast.graph.session import graph_session

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
# Set by aiohttp's server from the body it sends.
_FRAMING = frozenset({"content-length", "transfer-encoding", "content-encoding"})


@asynccontextmanager
async def graph_stub(
    handler: Handler, *, session: Callable[[str], aiohttp.ClientSession] | None = None
) -> AsyncIterator[aiohttp.ClientSession]:
    """A session whose base URL is a local server answering with `handler`.

    `session` makes the session from the server's URL (default: `graph_session`)."""

    async def serve(request: web.Request) -> web.Response:
        seen = httpx.Request(
            request.method,
            str(request.url),
            headers=list(request.headers.items()),
            content=await request.read(),
        )
        answer: Any = handler(seen)
        if inspect.isawaitable(answer):
            answer = await answer
        assert isinstance(answer, httpx.Response)
        await answer.aread()
        headers = CIMultiDict(
            (name, value)
            for name, value in answer.headers.multi_items()
            if name.lower() not in _FRAMING
        )
        return web.Response(status=answer.status_code, body=answer.content, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/"))
    http = session(url) if session is not None else graph_session(url, timeout_seconds=5.0)
    try:
        async with http:
            yield http
    finally:
        await server.close()
