"""`jobcast jobs import FILE`: a CSV or JSON Lines file of job postings, sent through the
ingest API in batches, with each failed row's line and reason and a summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jobcast.job_files import (
    MAX_FILE_BYTES,
    JobFileError,
    JobFileFormat,
    JobRow,
    format_of,
    parse_job_file,
)
from jobcast.job_import import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, RowOutcome, import_rows
from jobcast_cli.api_access import ApiKeyOption, IngestUrlOption, with_api_client

jobs = typer.Typer(help="Jobs: import postings from a file.", no_args_is_help=True)


@jobs.command("import")
def jobs_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSONL file")],
    api_key: ApiKeyOption,
    ingest_url: IngestUrlOption,
    fmt: Annotated[
        JobFileFormat | None,
        typer.Option("--format", help="csv or jsonl (default: from the file name)"),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH_SIZE, help="Events per request")
    ] = DEFAULT_BATCH_SIZE,
) -> None:
    """Send each row of FILE as a `job.created` event; exit 1 if any row failed.

    Importing the same file again is safe: rows already accepted are answered as
    already imported, not posted twice. Columns and formats: docs/bulk.md.
    """
    rows = _read_rows(file, fmt)
    errors = Console(stderr=True)
    with Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=errors, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("rows", total=len(rows))
        outcomes = with_api_client(
            lambda http: import_rows(
                http, ingest_url, api_key, rows, batch_size=batch_size,
                progress=lambda n: progress.advance(task, n),
            )
        )  # fmt: skip
    for outcome in outcomes:
        if outcome.failed:
            what = "not sent" if outcome.status == "not_sent" else "rejected"
            typer.echo(f"line {outcome.line}: {what}: {outcome.reason}")
    typer.echo(_summary(outcomes))
    if any(o.failed for o in outcomes):
        raise typer.Exit(1)


def _read_rows(file: Path, fmt: JobFileFormat | None) -> list[JobRow]:
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise JobFileError(f"the file is over the limit of {MAX_FILE_BYTES} bytes")
        rows = parse_job_file(file.read_bytes(), fmt=fmt or format_of(file.name))
    except (JobFileError, OSError) as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(2) from None
    if not rows:
        typer.echo(f"{file}: no rows", err=True)
        raise typer.Exit(2)
    return rows


def _summary(outcomes: list[RowOutcome]) -> str:
    counts = Counter(o.status for o in outcomes)
    parts = [
        f"{counts['accepted']} accepted",
        f"{counts['duplicate']} already imported",
        f"{counts['rejected']} rejected",
    ]
    if counts["not_sent"]:
        parts.append(f"{counts['not_sent']} not sent (run the import again to send them)")
    return f"{len(outcomes)} rows: " + ", ".join(parts)
