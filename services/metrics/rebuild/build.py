"""Rebuild the read model from the event log into fresh tables, then swap them in.

1. Load: every record of `publish.results` and `engagement.events` up to the end
   offsets seen at the start is validated like the live consumer does (invalid records
   are skipped, as the live path dead-letters them) and COPYed, in chunks, into unlogged
   staging tables (schema `metrics_rebuild`), by one loader process per group of
   partitions (`load`): validation is CPU-bound Python, so it gets every core, and
   Postgres takes one chunk in while a loader validates the next.
2. Build: each fresh table is filled by set-based statements using the live path's own
   aggregate SQL (`readmodel.materialise`; job_posts in two parts by post key), then given
   the live table's indexes under the same names; two connections take these steps from one
   queue, so Postgres uses two cores. An event id staged twice is found by the primary
   key of processed_events; then the copies are dropped and the tables built again.
3. Swap: in one transaction the live tables are locked (in the order the materialisers
   write them, so neither waits on the other in a cycle), the records that arrived during
   the rebuild are applied to the fresh tables with the live code, and the fresh tables
   replace the live ones. Readers and the running consumer wait for that transaction and
   then see the new tables; nothing committed to the log is lost, nothing is applied twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka.structs import TopicPartition
from pydantic import ValidationError

from jobcast.kafka import topic_partitions
from jobcast.topics import ENGAGEMENT_EVENTS, PUBLISH_RESULTS
from schemas.engagement import EngagementCollected
from schemas.publish import PublishCompleted
from services.metrics.readmodel.materialise import (
    apply_engagement,
    apply_results,
    drop_duplicate_events,
    fill_from_staging,
)
from services.metrics.readmodel.models import EVENT_COLUMNS, SNAPSHOT_COLUMNS, StatusChange
from services.metrics.readmodel.repo import migrate_metrics
from services.metrics.rebuild.load import FRESH, LoadJob, LogReader, split_spans

if TYPE_CHECKING:
    from asyncio.subprocess import Process

    from jobcast.db import Connection

log = logging.getLogger(__name__)

LIVE = "metrics"
# In the order the materialisers write them: the swap locks them in this order.
REBUILT_TABLES = (
    "processed_events",
    "job_posts",
    "delivery_attempts",
    "engagement_snapshots",
    "engagement_latest",
)
_RESULTS_STAGING = f"{FRESH}.staged_results"
_ENGAGEMENT_STAGING = f"{FRESH}.staged_engagement"
# The replaced tables are moved here under the swap's lock and dropped after its commit:
# dropping them inside took the lock 0.3-3.6 s longer, with the read API waiting on it.
RETIRED = "metrics_retired"

EngagementEffect = Callable[["Connection", Sequence[dict[str, Any]]], Awaitable[None]]
Progress = Callable[[str, int, int], None]
"""(phase, done, total): called as the rebuild advances."""
TailEffect = Callable[["Connection", Sequence[StatusChange]], Awaitable[None]]


@dataclass
class RebuildReport:
    events: int = 0  # records read from the log (both topics)
    invalid: int = 0  # records skipped because they fail validation
    tail_events: int = 0  # records applied during the swap (arrived while rebuilding)
    rows: dict[str, int] = field(default_factory=dict)
    load_seconds: float = 0.0  # read, validate, COPY into staging
    build_seconds: float = 0.0  # fill the fresh tables, index them
    swap_seconds: float = 0.0  # the live tables locked: readers wait this long
    cleanup_seconds: float = 0.0  # dropping the replaced tables, after the swap
    loader_peak_rss_mib: float = 0.0  # the largest loader process's peak (VmHWM)
    step_seconds: dict[str, float] = field(default_factory=dict)  # per build step

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.build_seconds + self.swap_seconds + self.cleanup_seconds

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def rebuild_metrics(
    dsn: str,
    bootstrap_servers: str,
    *,
    progress: Progress | None = None,
    tail_effects: Sequence[TailEffect] = (),
    tail_engagement_effects: Sequence[EngagementEffect] = (),
    chunk_records: int = 20_000,
    loaders: int | None = None,
) -> RebuildReport:
    """Rebuild the read model from the log and swap it in (see the module docstring).

    `loaders`: loader processes (default: one per CPU)."""
    report = RebuildReport()
    notify = progress or (lambda _phase, _done, _total: None)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2)
    assert pool is not None
    partitions = await topic_partitions(bootstrap_servers, (PUBLISH_RESULTS, ENGAGEMENT_EVENTS))
    reader = LogReader(bootstrap_servers, partitions)
    try:
        await migrate_metrics(pool)
        await reader.start()
        started = time.perf_counter()
        processes: list[Process] = []
        try:
            # Started first: their imports (~0.3 s) overlap the set-up below.
            for _ in range(loaders or os.cpu_count() or 1):
                processes.append(await _spawn_loader())
            await _create_fresh_tables(pool)
            begin, end = await reader.beginning(), await reader.end()
            spans = [(tp.topic, tp.partition, begin[tp], end[tp]) for tp in partitions]
            notify("load", 0, sum(end[tp] - begin[tp] for tp in partitions))
            groups = split_spans(spans, len(processes))
            groups += [[]] * (len(processes) - len(groups))  # a loader with nothing exits
            jobs = [LoadJob(dsn, bootstrap_servers, group, chunk_records) for group in groups]
            await _load(list(zip(processes, jobs, strict=True)), report, notify)
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        report.load_seconds = time.perf_counter() - started

        started = time.perf_counter()
        await _build(pool, notify, report.step_seconds)
        dropping = time.perf_counter()
        async with pool.acquire() as conn:
            # Staging is spent: dropped now, outside the swap's lock.
            await conn.execute(f"DROP TABLE {_RESULTS_STAGING}, {_ENGAGEMENT_STAGING}")
        report.step_seconds["drop staging"] = time.perf_counter() - dropping
        report.build_seconds = time.perf_counter() - started

        started = time.perf_counter()
        notify("swap", 0, 1)
        async with pool.acquire() as conn:
            await _swap(conn, reader, end, (tail_effects, tail_engagement_effects), report)
            report.swap_seconds = time.perf_counter() - started
            notify("swap", 1, 1)
            started = time.perf_counter()
            await conn.execute(f"DROP SCHEMA {RETIRED} CASCADE")
            report.cleanup_seconds = time.perf_counter() - started
            # The rebuild is done; counting the rows is the report's own work.
            for table in REBUILT_TABLES:
                report.rows[table] = await conn.fetchval(f"SELECT count(*) FROM {LIVE}.{table}")
    finally:
        await reader.stop()
        await pool.close()
    return report


async def _load(
    loaders: Sequence[tuple[Process, LoadJob]], report: RebuildReport, notify: Progress
) -> None:
    """Give each loader process its job and follow them; the first to fail stops the
    others (the caller kills what is left)."""
    total = sum(stop - first for _, job in loaders for _, _, first, stop in job.spans)

    def counted(events: int, invalid: int) -> None:
        report.events += events
        report.invalid += invalid
        notify("load", report.events, total)

    for process, job in loaders:
        assert process.stdin is not None
        process.stdin.write(json.dumps(asdict(job)).encode())
        await process.stdin.drain()
        process.stdin.close()
    await run_all(_follow_loader(process, counted, report) for process, _ in loaders)


async def _spawn_loader() -> Process:
    """A loader process, waiting for its job on stdin."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.metrics.rebuild.load",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _follow_loader(
    process: Process, counted: Callable[[int, int], None], report: RebuildReport
) -> None:
    """Count what a loader reports until it exits; raise if it failed."""
    assert process.stdout is not None
    assert process.stderr is not None
    errors = asyncio.create_task(process.stderr.read())
    async for line in process.stdout:
        message = json.loads(line)
        if "events" in message:
            counted(message["events"], message["invalid"])
        else:
            report.loader_peak_rss_mib = max(report.loader_peak_rss_mib, message["peak_rss_mib"])
    if await process.wait() != 0:
        stderr = (await errors).decode(errors="replace")
        raise RuntimeError(
            f"a rebuild loader failed (exit {process.returncode}):\n{stderr[-3000:]}"
        )
    await errors


def _fresh_table_ddl(table: str) -> str:
    # Columns, defaults and NOT NULLs as the migrations left them; indexes once the rows
    # are in (one sort each, instead of an index update per row).
    # Autovacuum is off until the swap: it would otherwise pick a freshly filled table
    # mid-build, compete for the cores, and hold a lock the swap then waits on for a
    # deadlock_timeout (1 s) before autovacuum gives way.
    return (
        f"CREATE TABLE {FRESH}.{table} (LIKE {LIVE}.{table} INCLUDING DEFAULTS"
        " INCLUDING CONSTRAINTS INCLUDING GENERATED) WITH (autovacuum_enabled = false)"
    )


async def _create_fresh_tables(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {FRESH} CASCADE")
        # A rebuild that died between its swap and its cleanup left the replaced tables.
        await conn.execute(f"DROP SCHEMA IF EXISTS {RETIRED} CASCADE")
        await conn.execute(f"CREATE SCHEMA {FRESH}")
        for table in REBUILT_TABLES:
            await conn.execute(_fresh_table_ddl(table))
        for name, columns in (
            ("staged_results", EVENT_COLUMNS),
            ("staged_engagement", SNAPSHOT_COLUMNS),
        ):
            ddl = ", ".join(f"{c} {t}" for c, t in columns)
            await conn.execute(f"CREATE UNLOGGED TABLE {FRESH}.{name} ({ddl})")


@dataclass(frozen=True)
class BuildStep:
    """Statements run in order on one connection, once the steps named `after` are done."""

    name: str
    statements: tuple[str, ...]
    after: tuple[str, ...] = ()


StepRunner = Callable[[BuildStep], Awaitable[None]]


async def run_steps(steps: Sequence[BuildStep], runners: Sequence[StepRunner]) -> None:
    """Run every step once: each runner (one per connection) takes the first step in
    `steps` whose `after` are done. The first failure cancels the rest.

    A work queue, not a fixed split of tables: job_posts takes as long as all the other
    tables together, so its fill and then its indexes are shared out between runners.
    """
    waiting = list(steps)
    done: set[str] = set()
    running = 0
    changed = asyncio.Condition()

    def next_step() -> BuildStep | None:
        return next((s for s in waiting if done.issuperset(s.after)), None)

    def step_ready_or_all_done() -> bool:
        return next_step() is not None or not running

    async def work(run: StepRunner) -> None:
        nonlocal running
        while True:
            async with changed:
                await changed.wait_for(step_ready_or_all_done)
                step = next_step()
                if step is None:
                    return
                waiting.remove(step)
                running += 1
            await run(step)
            async with changed:
                running -= 1
                done.add(step.name)
                changed.notify_all()

    await run_all(work(run) for run in runners)
    if waiting:
        raise ValueError(f"steps wait for steps that never ran: {[s.name for s in waiting]}")


async def run_all(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run side by side; the first failure cancels the others and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def _build(pool: asyncpg.Pool, notify: Progress, timings: dict[str, float]) -> None:
    """Fill the fresh tables from staging and index them like the live ones.

    Event ids are assumed unique (a duplicate is a publisher re-emitting a stored result:
    rare), so no scan looks for them: the primary key of processed_events, filled from
    both staging tables without DISTINCT, is the check. If it finds one, the copies are
    dropped from staging and the tables built again.
    """
    try:
        await _fill_and_index(pool, notify, timings, ids_unique=True)
    except asyncpg.UniqueViolationError:
        log.info("event ids staged more than once: dropping the copies and building again")
    else:
        return
    async with pool.acquire() as conn, conn.transaction():
        for table in REBUILT_TABLES:
            await conn.execute(f"DROP TABLE {FRESH}.{table}")
            await conn.execute(_fresh_table_ddl(table))
        for staging in (_RESULTS_STAGING, _ENGAGEMENT_STAGING):
            await conn.execute(drop_duplicate_events(staging))
    await _fill_and_index(pool, notify, timings, ids_unique=False)


async def _fill_and_index(
    pool: asyncpg.Pool, notify: Progress, timings: dict[str, float], *, ids_unique: bool
) -> None:
    # job_posts in one part: its fill (one sort) takes about as long as the other fills
    # together, which the second connection runs meanwhile. Two parts measured no faster
    # (each scans and hashes every staged row).
    fills = fill_from_staging(FRESH, _RESULTS_STAGING, _ENGAGEMENT_STAGING, ids_unique=ids_unique)
    async with pool.acquire() as conn:
        indexes = {table: await _index_statements(conn, table) for table in REBUILT_TABLES}
    steps = build_plan(fills, indexes)
    done = 0
    notify("build", done, len(steps))

    async def on_connection(conn: Connection) -> StepRunner:
        await conn.execute("SET work_mem = '256MB'")
        await conn.execute("SET maintenance_work_mem = '256MB'")

        async def run(step: BuildStep) -> None:
            nonlocal done
            started = time.perf_counter()
            for statement in step.statements:
                await conn.execute(statement)
            timings[step.name] = time.perf_counter() - started
            done += 1
            notify("build", done, len(steps))

        return run

    async with pool.acquire() as first, pool.acquire() as second:
        await run_steps(steps, [await on_connection(first), await on_connection(second)])


def build_plan(
    fills: dict[str, list[str]], indexes: dict[str, list[tuple[str, ...]]]
) -> list[BuildStep]:
    """The build's steps, most urgent first: every fill (job_posts' parts first, they are
    the longest), then each table's indexes once its fills are done, then its ANALYZE once
    its indexes are (ANALYZE and CREATE INDEX would wait on each other's table lock)."""
    tables = sorted(fills, key=lambda table: table != "job_posts")
    fill_steps = {
        table: [
            BuildStep(f"{table}: fill {part}", (statement,))
            for part, statement in enumerate(fills[table])
        ]
        for table in tables
    }
    filled = {table: tuple(step.name for step in fill_steps[table]) for table in tables}
    index_steps = {
        table: [
            BuildStep(f"{table}: index {number}", statements, filled[table])
            for number, statements in enumerate(indexes.get(table, []))
        ]
        for table in tables
    }
    analyze_steps = [
        BuildStep(
            f"{table}: analyze",
            (f"ANALYZE {FRESH}.{table}",),
            filled[table] + tuple(step.name for step in index_steps[table]),
        )
        for table in tables
    ]
    return [
        *(s for table in tables for s in fill_steps[table]),
        *(s for table in tables for s in index_steps[table]),
        *analyze_steps,
    ]


async def _index_statements(conn: Connection, table: str) -> list[tuple[str, ...]]:
    """Per index (and key constraint) of the live table: the statements creating it under
    the same name (index names are per schema) on the fresh table."""
    indexes = await conn.fetch(
        """SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition,
                  c.conname AS constraint_name, c.contype::text AS contype
           FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.contype IN ('p', 'u')
           WHERE n.nspname = $1 AND t.relname = $2""",
        LIVE,
        table,
    )
    found = []
    for index in indexes:
        live_target = f" ON {LIVE}.{table} "
        assert live_target in index["definition"], index["definition"]
        statements = [index["definition"].replace(live_target, f" ON {FRESH}.{table} ", 1)]
        if index["constraint_name"]:
            kind = "PRIMARY KEY" if index["contype"] == "p" else "UNIQUE"
            statements.append(
                f"ALTER TABLE {FRESH}.{table} ADD CONSTRAINT {index['constraint_name']}"
                f" {kind} USING INDEX {index['name']}"
            )
        found.append(tuple(statements))
    return found


async def _swap(
    conn: Connection,
    reader: LogReader,
    loaded_to: dict[TopicPartition, int],
    effects: tuple[Sequence[TailEffect], Sequence[EngagementEffect]],
    report: RebuildReport,
) -> None:
    async with conn.transaction():
        tables = ", ".join(f"{LIVE}.{t}" for t in REBUILT_TABLES)
        await conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
        # The live consumer is now blocked: what it has not applied yet is in the tail.
        tail_end = await reader.end()
        async for chunk in reader.chunks(loaded_to, tail_end, 5_000):
            results, snapshots = _valid(chunk, report)
            report.tail_events += sum(len(v) for v in chunk.values())
            changes = await apply_results(conn, results, schema=FRESH)
            for effect in effects[0]:
                await effect(conn, changes)
            moved = await apply_engagement(conn, snapshots, schema=FRESH)
            for engagement_effect in effects[1]:
                await engagement_effect(conn, moved)
        report.events += report.tail_events
        await conn.execute(f"CREATE SCHEMA {RETIRED}")
        for table in REBUILT_TABLES:
            # Indexes go with their tables; names are per schema, so the old ones leave first.
            await conn.execute(f"ALTER TABLE {LIVE}.{table} SET SCHEMA {RETIRED}")
            await conn.execute(f"ALTER TABLE {FRESH}.{table} SET SCHEMA {LIVE}")
            await conn.execute(f"ALTER TABLE {LIVE}.{table} RESET (autovacuum_enabled)")
        await conn.execute(f"DROP SCHEMA {FRESH} CASCADE")
    log.info("read model swapped", extra={"tail_events": report.tail_events})


def _valid(
    chunk: dict[str, list[bytes | None]], report: RebuildReport
) -> tuple[list[PublishCompleted], list[EngagementCollected]]:
    results: list[PublishCompleted] = []
    snapshots: list[EngagementCollected] = []
    for value in chunk.get(PUBLISH_RESULTS, []):
        try:
            results.append(PublishCompleted.model_validate_json(value or b""))
        except ValidationError:
            report.invalid += 1
    for value in chunk.get(ENGAGEMENT_EVENTS, []):
        try:
            snapshots.append(EngagementCollected.model_validate_json(value or b""))
        except ValidationError:
            report.invalid += 1
    return results, snapshots
