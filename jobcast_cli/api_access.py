"""Options of the commands that work through jobcast's HTTP APIs with a tenant's API key.

The URLs default to what `make up` wrote to `.jobcast/env` (loaded by `jobcast`); the key
comes from `--api-key` or `JOBCAST_API_KEY` and is only ever sent, never printed.
"""

from __future__ import annotations

from typing import Annotated

import typer

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
