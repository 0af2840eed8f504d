"""Steps the login tests share (Instagram Login, Threads, LinkedIn): the sandbox's control
API, the browser's way through a consent dialog, verify, a connection's row."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from devtools.stack import Endpoints


async def sandbox(http: httpx.AsyncClient, graph: str, path: str, body: dict[str, Any]) -> Any:
    """A call to the Graph sandbox's control API (`settings` is patched, the rest posted)."""
    method = http.patch if path == "settings" else http.post
    response = await method(f"{graph}/_sandbox/{path}", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def through_dialog(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], start: str
) -> tuple[httpx.Response, str]:
    """Start, let the sandbox's dialog consent, follow the callback (without the fragment
    Instagram adds): the callback's answer and its URL."""
    started = await http.get(f"{pipeline.url('distributor')}{start}", headers=auth)
    assert started.status_code == 302, started.text
    dialog = await http.get(started.headers["location"])
    assert dialog.status_code == 302, dialog.text
    callback = dialog.headers["location"].split("#", 1)[0]
    return await http.get(callback), callback


async def dialog_query(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], start: str, dialog: str
) -> dict[str, list[str]]:
    """The start route's dialog URL as JSON: asserted to be `dialog`; its query."""
    started = await http.get(f"{pipeline.url('distributor')}{start}?redirect=false", headers=auth)
    assert started.status_code == 200, started.text
    url = urlsplit(started.json()["authorize_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == dialog
    return parse_qs(url.query)


async def verify(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], connection_id: str
) -> httpx.Response:
    """`GET /v1/connections/{id}/verify`."""
    return await http.get(
        f"{pipeline.url('distributor')}/v1/connections/{connection_id}/verify", headers=auth
    )


async def row_of(db: asyncpg.Pool, connection_id: str) -> asyncpg.Record:
    """A connection's row in the distributor's table."""
    row = await db.fetchrow(
        "SELECT * FROM distributor.connections WHERE connection_id = $1", uuid.UUID(connection_id)
    )
    assert row is not None
    return row
