"""Rebuild the read model from the event log into fresh tables, then swap them in.

1. Load: every record of `publish.results` and `engagement.events` up to the end
   offsets seen at the start is validated like the live consumer does (invalid records
   are skipped, as the live path dead-letters them) and COPYed, in chunks, into unlogged
   staging tables (schema `metrics_rebuild`); Postgres takes one chunk in while Python
   reads and validates the next.
2. Build: duplicates of an event id are dropped, and each fresh table is filled by one
   set-based statement using the live path's own aggregate SQL (`readmodel`), then given
   the live table's indexes under the same names.
3. Swap: in one transaction the live tables are locked (in the order the materialisers
   write them, so neither waits on the other in a cycle), the records that arrived during
   the rebuild are applied to the fresh tables with the live code, and the fresh tables
   replace the live ones. Readers and the running consumer wait for that transaction and
   then see the new tables; nothing committed to the log is lost, nothing is applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pydantic import TypeAdapter, ValidationError

from jobcast.kafka import topic_partitions
from jobcast.topics import ENGAGEMENT_EVENTS, PUBLISH_RESULTS
from schemas.engagement import EngagementCollected
from schemas.publish import PublishCompleted
from services.metrics.readmodel import (
    EVENT_COLUMN_NAMES,
    EVENT_COLUMNS,
    SNAPSHOT_COLUMN_NAMES,
    SNAPSHOT_COLUMNS,
    EventRow,
    StatusChange,
    apply_engagement,
    apply_results,
    drop_duplicate_events,
    fill_from_staging,
    result_row,
    snapshot_row,
)
from services.metrics.repo import migrate_metrics

if TYPE_CHECKING:
    from jobcast.db import Connection

log = logging.getLogger(__name__)

LIVE = "metrics"
FRESH = "metrics_rebuild"
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
    swap_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.build_seconds + self.swap_seconds

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _parser(
    adapter: TypeAdapter[Any], to_row: Callable[[Any], EventRow]
) -> Callable[[bytes | None], EventRow | None]:
    def parse(value: bytes | None) -> EventRow | None:
        try:
            return to_row(adapter.validate_json(value or b""))
        except ValidationError:
            return None

    return parse


_PARSERS = {
    PUBLISH_RESULTS: _parser(TypeAdapter(PublishCompleted), result_row),
    ENGAGEMENT_EVENTS: _parser(TypeAdapter(EngagementCollected), snapshot_row),
}
_STAGING = {
    PUBLISH_RESULTS: ("staged_results", EVENT_COLUMN_NAMES),
    ENGAGEMENT_EVENTS: ("staged_engagement", SNAPSHOT_COLUMN_NAMES),
}


class _LogReader:
    """Reads both topics from a start position up to an end position, in chunks."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            # Enough to keep Python busy, small enough to keep memory flat: aiokafka
            # prefetches this much per partition while the previous chunk is parsed.
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=2 * 1024 * 1024,
        )
        self.partitions: list[TopicPartition] = []

    async def start(self) -> None:
        self.partitions = await topic_partitions(
            self._bootstrap_servers, (PUBLISH_RESULTS, ENGAGEMENT_EVENTS)
        )
        await self._consumer.start()
        self._consumer.assign(self.partitions)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def beginning(self) -> dict[TopicPartition, int]:
        return dict(await self._consumer.beginning_offsets(self.partitions))

    async def end(self) -> dict[TopicPartition, int]:
        return dict(await self._consumer.end_offsets(self.partitions))

    async def chunks(
        self, start: dict[TopicPartition, int], end: dict[TopicPartition, int], max_records: int
    ) -> Any:
        """Yield {topic: [record values]} until every partition reached `end`."""
        remaining = {tp for tp in self.partitions if start[tp] < end[tp]}
        for tp in self.partitions:
            self._consumer.seek(tp, start[tp])
        self._consumer.pause(*[tp for tp in self.partitions if tp not in remaining])
        while remaining:
            fetched = await self._consumer.getmany(timeout_ms=1000, max_records=max_records)
            chunk: dict[str, list[bytes | None]] = {}
            for tp, records in fetched.items():
                stop_at = end[tp]
                values = chunk.setdefault(tp.topic, [])
                values += [r.value for r in records if r.offset < stop_at]
            # By position, not by the last record seen: offsets may have gaps.
            for tp in list(remaining):
                if await self._consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
                    self._consumer.pause(tp)
            if chunk:
                yield chunk
        self._consumer.resume(*self.partitions)


async def rebuild_metrics(
    dsn: str,
    bootstrap_servers: str,
    *,
    progress: Progress | None = None,
    tail_effects: Sequence[TailEffect] = (),
    tail_engagement_effects: Sequence[EngagementEffect] = (),
    chunk_records: int = 20_000,
) -> RebuildReport:
    """Rebuild the read model from the log and swap it in (see the module docstring)."""
    report = RebuildReport()
    notify = progress or (lambda _phase, _done, _total: None)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2)
    assert pool is not None
    reader = _LogReader(bootstrap_servers)
    try:
        await migrate_metrics(pool)
        await reader.start()
        started = time.perf_counter()
        await _create_fresh_tables(pool)
        begin, end = await reader.beginning(), await reader.end()
        total = sum(end[tp] - begin[tp] for tp in reader.partitions)
        notify("load", 0, total)
        async with pool.acquire() as conn:
            await _load(
                conn, reader, begin=begin, end=end, total=total, chunk_records=chunk_records,
                report=report, notify=notify,
            )  # fmt: skip
        report.load_seconds = time.perf_counter() - started

        started = time.perf_counter()
        await _build(pool, notify)
        report.build_seconds = time.perf_counter() - started

        started = time.perf_counter()
        notify("swap", 0, 1)
        async with pool.acquire() as conn:
            await _swap(conn, reader, end, (tail_effects, tail_engagement_effects), report)
            for table in REBUILT_TABLES:
                report.rows[table] = await conn.fetchval(f"SELECT count(*) FROM {LIVE}.{table}")
        report.swap_seconds = time.perf_counter() - started
        notify("swap", 1, 1)
    finally:
        await reader.stop()
        await pool.close()
    return report


async def _create_fresh_tables(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {FRESH} CASCADE")
        await conn.execute(f"CREATE SCHEMA {FRESH}")
        for table in REBUILT_TABLES:
            # Columns, defaults and NOT NULLs as the migrations left them; indexes once
            # the rows are in (one sort each, instead of an index update per row).
            await conn.execute(
                f"CREATE TABLE {FRESH}.{table} (LIKE {LIVE}.{table} INCLUDING DEFAULTS"
                " INCLUDING CONSTRAINTS INCLUDING GENERATED)"
            )
        for name, columns in (
            ("staged_results", EVENT_COLUMNS),
            ("staged_engagement", SNAPSHOT_COLUMNS),
        ):
            ddl = ", ".join(f"{c} {t}" for c, t in columns)
            await conn.execute(f"CREATE UNLOGGED TABLE {FRESH}.{name} ({ddl})")


# Validation is CPU-bound: yield to the event loop this often, so the database
# connection keeps streaming the previous chunk meanwhile.
_YIELD_EVERY = 2_000


async def _load(
    conn: Connection,
    reader: _LogReader,
    *,
    begin: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
    total: int,
    chunk_records: int,
    report: RebuildReport,
    notify: Progress,
) -> None:
    """Validate and COPY chunk by chunk; Postgres takes one in while we parse the next."""
    copying: asyncio.Task[None] | None = None
    async for chunk in reader.chunks(begin, end, chunk_records):
        staged: list[tuple[str, list[EventRow]]] = []
        for topic, values in chunk.items():
            parse = _PARSERS[topic]
            rows: list[EventRow] = []
            for start in range(0, len(values), _YIELD_EVERY):
                rows += [
                    row
                    for row in map(parse, values[start : start + _YIELD_EVERY])
                    if row is not None
                ]
                await asyncio.sleep(0)
            report.events += len(values)
            report.invalid += len(values) - len(rows)
            staged.append((topic, rows))
        if copying is not None:
            await copying
        copying = asyncio.create_task(_copy(conn, staged))
        notify("load", report.events, total)
    if copying is not None:
        await copying


async def _copy(conn: Connection, staged: list[tuple[str, list[EventRow]]]) -> None:
    for topic, rows in staged:
        if rows:
            table, columns = _STAGING[topic]
            await conn.copy_records_to_table(
                table, schema_name=FRESH, columns=list(columns), records=rows
            )


async def _build(pool: asyncpg.Pool, notify: Progress) -> None:
    """Fill the fresh tables from staging and index them like the live ones.

    job_posts (the big aggregate) is built on one connection while the other tables are
    built on the second, so Postgres works on two cores.
    """
    fills = fill_from_staging(FRESH, _RESULTS_STAGING, _ENGAGEMENT_STAGING)
    async with pool.acquire() as conn:
        for staging in (_RESULTS_STAGING, _ENGAGEMENT_STAGING):
            await conn.execute(drop_duplicate_events(staging))
    done = 0
    notify("build", done, len(REBUILT_TABLES))

    async def build(tables: Sequence[str]) -> None:
        nonlocal done
        async with pool.acquire() as conn:
            await conn.execute("SET work_mem = '256MB'")
            await conn.execute("SET maintenance_work_mem = '256MB'")
            for table in tables:
                for statement in fills[table]:
                    await conn.execute(statement)
                await _copy_indexes(conn, table)
                await conn.execute(f"ANALYZE {FRESH}.{table}")
                done += 1
                notify("build", done, len(REBUILT_TABLES))

    others = [t for t in REBUILT_TABLES if t != "job_posts"]
    await asyncio.gather(build(["job_posts"]), build(others))


async def _copy_indexes(conn: Connection, table: str) -> None:
    """The live table's indexes and key constraints, under the same names (index names
    are per schema), on the fresh table."""
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
    for index in indexes:
        live_target = f" ON {LIVE}.{table} "
        assert live_target in index["definition"], index["definition"]
        await conn.execute(index["definition"].replace(live_target, f" ON {FRESH}.{table} ", 1))
        if index["constraint_name"]:
            kind = "PRIMARY KEY" if index["contype"] == "p" else "UNIQUE"
            await conn.execute(
                f"ALTER TABLE {FRESH}.{table} ADD CONSTRAINT {index['constraint_name']}"
                f" {kind} USING INDEX {index['name']}"
            )


async def _swap(
    conn: Connection,
    reader: _LogReader,
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
        for table in REBUILT_TABLES:
            await conn.execute(f"DROP TABLE {LIVE}.{table}")
            await conn.execute(f"ALTER TABLE {FRESH}.{table} SET SCHEMA {LIVE}")
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
