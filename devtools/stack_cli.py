"""`jobcast stack up|down`: the local stack that `make up` / `make down` run.

Registered by `jobcast_cli.main` only when this package can be imported (a checkout): the
installed product's CLI has no `stack` group.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

stack = typer.Typer(
    help="The local stack (what `make up` / `make down` run).", no_args_is_help=True
)


@stack.command("up")
def stack_up(
    demo: Annotated[bool, typer.Option(help="Send the demo jobs once the stack is up")] = True,
) -> None:
    """Start Kafka, Postgres, the Graph API sandbox, the services and the console; run
    the demo.

    Run again, it restarts only what is down and keeps the endpoints it recorded; it refuses
    other endpoints while the stack runs.
    """
    from devtools.demo import demo_console_key, run_demo
    from devtools.stack import bring_up
    from devtools.stack_plan import Source, StackConflictError, redact
    from jobcast_cli.envfile import ENV_FILE, STATE_DIR

    started_at = time.monotonic()
    try:
        up = bring_up(STATE_DIR.resolve())
    except StackConflictError as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(2) from None
    endpoints = up.endpoints
    elapsed = time.monotonic() - started_at
    typer.echo(f"stack up in {elapsed:.1f}s")
    for choice in up.choices:
        typer.echo(f"  {choice.component:<20} {choice.status:<13} {redact(choice.endpoint)}")
    for key, value in endpoints.env().items():
        if key not in ("JOBCAST_SECRET_KEY", "GRAPH_APP_SECRET") and value:
            typer.echo(f"  {key}={value}")
    typer.echo(f"endpoints written to {ENV_FILE} (source it: . {ENV_FILE})")
    graph_given = any(c.component == "graph-api" and c.source is Source.GIVEN for c in up.choices)
    if demo and graph_given:
        # The demo's connections hold made-up tokens: never send them to a real Graph API.
        typer.echo("demo skipped: GRAPH_API_URL is yours, not the local sandbox")
    elif demo:
        try:
            rows = asyncio.run(run_demo(endpoints))
        except TimeoutError:
            typer.echo("demo: posts did not all arrive within 60s; see .jobcast/logs/", err=True)
            raise typer.Exit(1) from None
        typer.echo("demo jobs:")
        for row in rows:
            where = row["permalink"] or (row["error"] or {}).get("message", "")
            typer.echo(f"  {row['job_id']:<34} {row['platform']:<9} {row['status']:<11} {where}")
    if endpoints.has_console:
        key_file = STATE_DIR / "console-key"
        if not graph_given:
            asyncio.run(demo_console_key(endpoints, key_file.resolve()))
        typer.echo(f"console: {endpoints.url('console')}")
        if key_file.exists():
            typer.echo(f"  demo sign-in: the demo tenant's operator key, `cat {key_file}`")


@stack.command("down")
def stack_down() -> None:
    """Stop everything `jobcast stack up` started."""
    from devtools.stack import bring_down
    from jobcast_cli.envfile import STATE_DIR

    stopped = bring_down(STATE_DIR.resolve())
    typer.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")
