"""The load step of `jobcast rebuild metrics`: read a group of partitions up to given
offsets, validate each record like the live consumer (an invalid one is counted and
skipped, as the live path dead-letters it; `decoder` decodes the plainly written
results at a third of the cost and leaves the rest to the contract model) and COPY the
rows into the staging tables.

Validation is CPU-bound Python, so `build` runs one loader process per group of
partitions (`python -m services.metrics.rebuild.load`, its `LoadJob` as JSON on stdin:
the database URL never shows in `ps`). A loader prints one JSON line of counts per chunk
(`{"events": n, "invalid": k}`), then `{"peak_rss_mib": m}`, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import resource
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pydantic import TypeAdapter, ValidationError

from jobcast.topics import ENGAGEMENT_EVENTS, PUBLISH_RESULTS
from schemas.engagement import EngagementCollected
from schemas.publish import PublishCompleted
from services.metrics.readmodel.models import (
    EVENT_COLUMN_NAMES,
    SNAPSHOT_COLUMN_NAMES,
    EventRow,
    result_row,
    snapshot_row,
)
from services.metrics.rebuild.decoder import result_row_fast

FRESH = "metrics_rebuild"
"""The schema of the fresh tables and of the staging tables."""
STAGING = {
    PUBLISH_RESULTS: ("staged_results", EVENT_COLUMN_NAMES),
    ENGAGEMENT_EVENTS: ("staged_engagement", SNAPSHOT_COLUMN_NAMES),
}

Span = tuple[str, int, int, int]
"""(topic, partition, first offset, end offset): one partition's records to load."""


def _parser(
    adapter: TypeAdapter[Any], to_row: Callable[[Any], EventRow]
) -> Callable[[bytes | None], EventRow | None]:
    # The contract model's own validation, as the live consumer's (a leaner core schema
    # without the UTC and HttpUrl callbacks measured no faster: within 2%).
    def parse(value: bytes | None) -> EventRow | None:
        try:
            return to_row(adapter.validate_json(value or b""))
        except ValidationError:
            return None

    return parse


_CONTRACT_RESULTS = _parser(TypeAdapter(PublishCompleted), result_row)


def _fast_then_contract(value: bytes | None) -> EventRow | None:
    # A record the fast decoder does not decide goes to the contract model.
    row = result_row_fast(value) if value else None
    return row if row is not None else _CONTRACT_RESULTS(value)


_PARSERS = {
    PUBLISH_RESULTS: _fast_then_contract,
    ENGAGEMENT_EVENTS: _parser(TypeAdapter(EngagementCollected), snapshot_row),
}
DECODER_ENV = "JOBCAST_REBUILD_DECODER"
"""`contract` validates every result with the contract model alone: for comparing the
two (`bench/rebuild.py --decoders`); the rows are the same either way."""


class LogReader:
    """Reads partitions from a start position up to an end position, in chunks."""

    def __init__(self, bootstrap_servers: str, partitions: Sequence[TopicPartition]) -> None:
        self.partitions = list(partitions)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            # Enough to keep Python busy, small enough to keep memory flat: aiokafka
            # prefetches this much per partition while the previous chunk is parsed.
            # (Larger fetches measured no less CPU per record.)
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=2 * 1024 * 1024,
        )

    async def start(self) -> None:
        # Partitions are assigned only while `chunks` reads: an assigned consumer keeps a
        # fetch long-polling the broker (up to 500 ms), and an offsets request waits
        # behind it. The swap asks for end offsets with the live tables locked.
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def beginning(self) -> dict[TopicPartition, int]:
        return dict(await self._consumer.beginning_offsets(self.partitions))

    async def end(self) -> dict[TopicPartition, int]:
        return dict(await self._consumer.end_offsets(self.partitions))

    async def chunks(
        self, start: dict[TopicPartition, int], end: dict[TopicPartition, int], max_records: int
    ) -> AsyncIterator[dict[str, list[bytes | None]]]:
        """Yield {topic: [record values]} until every partition reached `end`."""
        remaining = {tp for tp in self.partitions if start[tp] < end[tp]}
        if not remaining:
            return
        self._consumer.assign(self.partitions)
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
        self._consumer.unsubscribe()  # unassigns: no fetch left polling


def split_spans(spans: Sequence[Span], groups: int) -> list[list[Span]]:
    """`spans` in at most `groups` groups of about equal record counts (largest first,
    each to the lightest group); empty spans are left out, and so are empty groups."""
    loads: list[tuple[int, list[Span]]] = [(0, []) for _ in range(max(groups, 1))]
    for span in sorted(spans, key=lambda s: s[3] - s[2], reverse=True):
        size = span[3] - span[2]
        if size <= 0:
            continue
        lightest = min(range(len(loads)), key=lambda i: loads[i][0])
        total, members = loads[lightest]
        loads[lightest] = (total + size, [*members, span])
    return [members for _, members in loads if members]


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk phase (restored on exit).

    Each chunk keeps ~20 objects per record alive until it is COPYed, so the collector
    keeps scanning hundreds of thousands of young objects that hold no cycles (measured:
    about a quarter of the validation CPU). Reference counting still frees them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class LoadJob:
    """What one loader process loads, and where to."""

    dsn: str
    bootstrap_servers: str
    spans: list[Span]
    chunk_records: int = 20_000


# Validation is CPU-bound: yield to the event loop this often, so the database
# connection keeps streaming the previous chunk meanwhile.
_YIELD_EVERY = 2_000

Counted = Callable[[int, int], None]
"""(events, invalid) of one chunk, once it is parsed."""


async def load(job: LoadJob, counted: Counted) -> None:
    """Validate and COPY chunk by chunk; Postgres takes one in while we parse the next."""
    if not job.spans:
        return  # more loaders than partitions with records
    partitions = [TopicPartition(topic, partition) for topic, partition, _, _ in job.spans]
    begin = {TopicPartition(t, p): first for t, p, first, _ in job.spans}
    end = {TopicPartition(t, p): stop for t, p, _, stop in job.spans}
    reader = LogReader(job.bootstrap_servers, partitions)
    conn = await asyncpg.connect(job.dsn)
    try:
        await reader.start()
        copying: asyncio.Task[None] | None = None
        async for chunk in reader.chunks(begin, end, job.chunk_records):
            staged = [(topic, await _parse(topic, values)) for topic, values in chunk.items()]
            if copying is not None:
                await copying
            copying = asyncio.create_task(_copy(conn, staged))
            events = sum(len(values) for values in chunk.values())
            counted(events, events - sum(len(rows) for _, rows in staged))
        if copying is not None:
            await copying
    finally:
        await reader.stop()
        await conn.close()


async def _parse(topic: str, values: list[bytes | None]) -> list[EventRow]:
    parse = _PARSERS[topic]
    rows: list[EventRow] = []
    for start in range(0, len(values), _YIELD_EVERY):
        rows += [row for row in map(parse, values[start : start + _YIELD_EVERY]) if row is not None]
        await asyncio.sleep(0)
    return rows


async def _copy(conn: asyncpg.Connection, staged: list[tuple[str, list[EventRow]]]) -> None:
    for topic, rows in staged:
        if rows:
            table, columns = STAGING[topic]
            await conn.copy_records_to_table(
                table, schema_name=FRESH, columns=list(columns), records=rows
            )


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux ru_maxrss
    carries over the parent's peak across fork+exec."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _print_line(**fields: float) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main() -> None:
    """A loader process: the job from stdin, counts to stdout."""
    raw = json.loads(sys.stdin.read())
    job = LoadJob(
        dsn=raw["dsn"],
        bootstrap_servers=raw["bootstrap_servers"],
        spans=[(str(t), int(p), int(first), int(stop)) for t, p, first, stop in raw["spans"]],
        chunk_records=int(raw["chunk_records"]),
    )
    if os.environ.get(DECODER_ENV) == "contract":
        _PARSERS[PUBLISH_RESULTS] = _CONTRACT_RESULTS
    with cyclic_gc_paused():
        asyncio.run(load(job, lambda events, invalid: _print_line(events=events, invalid=invalid)))
    _print_line(peak_rss_mib=round(peak_rss_mib(), 1))


if __name__ == "__main__":
    main()
