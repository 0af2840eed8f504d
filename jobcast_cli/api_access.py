"""Options of the commands that work through jobcast's HTTP APIs with a tenant's API key.

The URLs default to what `make up` wrote to `.jobcast/env` (loaded by `jobcast`); the key
comes from `--api-key` or `JOBCAST_API_KEY` and is only ever sent, never printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from jobcast.http_client import HttpClient, http_client

T = TypeVar("T")

ApiKeyOption = Annotated[
    str,
    typer.Option(
        "--api-key",
        envvar="JOBCAST_API_KEY",
        help="The tenant's API key (or set JOBCAST_API_KEY)",
        show_default=False,
    ),
]
IngestUrlOption = Annotated[
    str,
    typer.Option("--ingest-url", envvar="JOBCAST_INGEST_URL", help="The ingest API's base URL"),
]
ReadApiUrlOption = Annotated[
    str,
    typer.Option("--read-api-url", envvar="JOBCAST_READ_API_URL", help="The read API's base URL"),
]
HTTP_TIMEOUT_SECONDS = 30.0


def with_api_client(work: Callable[[HttpClient], Awaitable[T]]) -> T:
    """`work` with an HTTP client for jobcast's APIs, on an event loop of its own (the
    commands are synchronous); the client is closed after."""

    async def run() -> T:
        async with http_client(timeout_seconds=HTTP_TIMEOUT_SECONDS) as http:
            return await work(http)

    return asyncio.run(run())
