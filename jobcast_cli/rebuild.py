"""`jobcast rebuild metrics`: rebuild the read model from the log and swap it in atomically."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from jobcast.settings import CommonSettings
from services.metrics.effects import ENGAGEMENT_EFFECTS, rebuild_tail_effects
from services.metrics.rebuild.build import RebuildReport, rebuild_metrics
from services.metrics.rebuild.load import peak_rss_mib

rebuild = typer.Typer(help="Rebuild read models from the event log.", no_args_is_help=True)

_PHASES = {
    "load": "reading the log",
    "build": "building tables",
    "swap": "swapping in",
}


@rebuild.command("metrics")
def rebuild_metrics_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (no progress bar)")
    ] = False,
) -> None:
    """Rebuild job_posts, delivery_attempts and engagement from publish.results and
    engagement.events into fresh tables, then swap them in (the service may keep running)."""
    settings = CommonSettings()
    dsn = settings.database_url.get_secret_value()
    bootstrap = settings.kafka_bootstrap_servers
    if as_json:
        report = asyncio.run(
            rebuild_metrics(
                dsn, bootstrap, tail_effects=rebuild_tail_effects(),
                tail_engagement_effects=ENGAGEMENT_EFFECTS,
            )
        )  # fmt: skip
        typer.echo(json.dumps(_as_dict(report)))
        return
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9} events/s"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(_PHASES.get(phase, phase), total=total, rate="")
            task = tasks[phase]
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{done / elapsed:,.0f}" if phase == "load" and elapsed > 0 else ""
            bar.update(task, completed=done, total=total, rate=rate)

        report = asyncio.run(
            rebuild_metrics(dsn, bootstrap, progress=progress, tail_effects=rebuild_tail_effects())
        )
    typer.echo(
        f"rebuilt from {report.events:,} events ({report.invalid:,} invalid skipped,"
        f" {report.tail_events:,} applied during the swap) in {report.seconds:.1f}s:"
        f" {report.events_per_second:,.0f} events/s"
    )
    for table, count in report.rows.items():
        typer.echo(f"  {table:<22} {count:>12,} rows")


def _as_dict(report: RebuildReport) -> dict[str, object]:
    return {
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "loader_peak_rss_mib": report.loader_peak_rss_mib,
        "events": report.events,
        "invalid": report.invalid,
        "tail_events": report.tail_events,
        "rows": report.rows,
        "load_seconds": round(report.load_seconds, 3),
        "build_seconds": round(report.build_seconds, 3),
        "build_step_seconds": {k: round(v, 3) for k, v in report.step_seconds.items()},
        "swap_seconds": round(report.swap_seconds, 3),
        "cleanup_seconds": round(report.cleanup_seconds, 3),
        "seconds": round(report.seconds, 3),
        "events_per_second": round(report.events_per_second, 1),
    }
