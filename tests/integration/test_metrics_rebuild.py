"""`jobcast rebuild metrics` after a real workload: the rebuilt tables equal the live ones
row for row, keep their structure, and nothing that arrives meanwhile is lost."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from jobcast.topics import PUBLISH_RESULTS
from schemas import Platform, PublishCompleted, PublishStatus
from services.metrics.readmodel.stream import notify
from services.metrics.rebuild.build import REBUILT_TABLES, rebuild_metrics
from tests.integration.helpers import add_fault, job_event, new_tenant, send_raw
from tests.integration.metrics_support import (
    T0,
    eventually,
    minutes,
    produce_results,
    result,
    valid_records,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
S = PublishStatus


async def rows_of(db: asyncpg.Pool, keys: set[str]) -> dict[str, Any]:
    """The rows of these posts, in a stable order, per table."""
    where = "WHERE post_key = ANY($1::text[])"
    return {
        table: [
            dict(r)
            for r in await db.fetch(
                f"SELECT * FROM metrics.{table} {where} ORDER BY {order}", sorted(keys)
            )
        ]
        for table, order in (
            ("job_posts", "post_key"),
            ("delivery_attempts", "event_id"),
            ("engagement_snapshots", "event_id"),
            ("engagement_latest", "post_key"),
        )
    }


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Readable row differences (table, key, column: live → rebuilt)."""
    found = []
    for table, rows in before.items():
        rebuilt = after[table]
        if len(rows) != len(rebuilt):
            found.append(f"{table}: {len(rows)} live rows, {len(rebuilt)} rebuilt")
            continue
        for live, new in zip(rows, rebuilt, strict=True):
            found += [
                f"{table} {live.get('post_key')}/{live.get('event_id')} {column}:"
                f" {live[column]!r} -> {new.get(column)!r}"
                for column in live
                if live[column] != new.get(column)
            ]
    return found


async def keys_on_topic(pipeline: Endpoints) -> set[str]:
    """Post keys of every valid result on the topic (other tests also wrote rows straight
    into the tables; a rebuild rightly forgets those)."""
    events = await valid_records(
        pipeline.kafka_bootstrap_servers, PUBLISH_RESULTS, PublishCompleted
    )
    return {e.payload.post_key for e in events}


async def structure(db: asyncpg.Pool) -> dict[str, Any]:
    """Columns (name, type, nullability, default) and index definitions of the tables."""
    columns = await db.fetch(
        """SELECT table_name, column_name, data_type, is_nullable, column_default
           FROM information_schema.columns WHERE table_schema = 'metrics'
             AND table_name = ANY($1::text[]) ORDER BY table_name, ordinal_position""",
        list(REBUILT_TABLES),
    )
    indexes = await db.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'metrics'"
        " AND tablename = ANY($1::text[]) ORDER BY indexname",
        list(REBUILT_TABLES),
    )
    persistence = await db.fetch(
        "SELECT relname, relpersistence::text FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = 'metrics' AND relname = ANY($1::text[])"
        " ORDER BY relname",
        list(REBUILT_TABLES),
    )
    return {
        "columns": [tuple(r) for r in columns],
        "indexes": [tuple(r) for r in indexes],
        "persistence": [tuple(r) for r in persistence],
    }


async def test_rebuild_equals_the_live_read_model(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    # A real workload: three jobs through ingest, distributor and both publishers, the
    # first Facebook photo failing once (a retry), so attempts carry HTTP statuses.
    auth, accounts = await new_tenant(db, pipeline)
    jobs = [f"job-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(
            http, pipeline, action="http_500", operation="fb.photos",
            account_id=accounts[Platform.FACEBOOK], times=1,
        )  # fmt: skip
        for job in jobs:
            response = await http.post(
                f"{pipeline.url('ingest')}/v1/job-events", json=job_event(job), headers=auth
            )
            assert response.status_code == 202, response.text

        async def all_posted() -> bool | None:
            statuses = [
                p["status"]
                for job in jobs
                for p in (
                    await http.get(f"{pipeline.url('metrics')}/v1/jobs/{job}/posts", headers=auth)
                ).json()["posts"]
            ]
            return True if statuses == ["posted"] * 6 else None

        await eventually(all_posted, timeout=90)

    # Results of another tenant straight on the topic: out of order, one twice, and a
    # record that is not an event at all (the live consumer dead-letters it).
    other, connection = uuid.uuid4(), uuid.uuid4()
    job_x = f"job-x-{uuid.uuid4().hex[:8]}"
    retry = result(other, job_x, connection, S.RETRY_SCHEDULED, attempt=2, at=T0)
    posted = result(other, job_x, connection, S.POSTED, attempt=2, at=T0 + minutes(1))
    scheduled = result(other, job_x, connection, S.SCHEDULED, attempt=0, at=T0 - minutes(9))
    await produce_results(pipeline.kafka_bootstrap_servers, [posted, retry, posted, scheduled])
    await send_raw(pipeline.kafka_bootstrap_servers, PUBLISH_RESULTS, [(b"junk", b"{not an event")])

    async def applied() -> bool | None:
        row = await db.fetchrow(
            "SELECT scheduled_for, attempt_count FROM metrics.job_posts WHERE tenant_id = $1",
            other,
        )
        return True if row is not None and row["attempt_count"] == 2 else None

    await eventually(applied)

    async def engagement_collected() -> bool | None:
        count = await db.fetchval(
            "SELECT count(*) FROM metrics.engagement_snapshots WHERE job_id = ANY($1::text[])",
            jobs,
        )
        return True if count == 12 else None  # six posts, two checkpoints each

    await eventually(engagement_collected, timeout=60)
    keys = await keys_on_topic(pipeline)
    before = await rows_of(db, keys)
    shape = await structure(db)
    mine = {*jobs, job_x}
    attempts = [a for a in before["delivery_attempts"] if a["job_id"] in mine]
    assert len([p for p in before["job_posts"] if p["job_id"] in mine]) == 7
    assert any(a["http_status"] == 500 and a["outcome"] == "retry_scheduled" for a in attempts)
    assert all(a["latency_ms"] is not None for a in attempts if a["tenant_id"] != other)
    assert sum(a["http_status"] == 200 for a in attempts) == 6  # the six pipeline posts

    # Rebuild while the service runs and new results keep arriving.
    late_tenant = uuid.uuid4()
    late = [
        result(late_tenant, f"job-late-{i}", uuid.uuid4(), S.POSTED, at=T0 + minutes(i))
        for i in range(30)
    ]

    async def trickle() -> None:
        for event in late:
            await produce_results(pipeline.kafka_bootstrap_servers, [event])
            await asyncio.sleep(0.05)

    phases: list[str] = []
    producing = asyncio.create_task(trickle())
    report = await rebuild_metrics(
        pipeline.database_url, pipeline.kafka_bootstrap_servers,
        progress=lambda phase, _done, _total: phases.append(phase), tail_effects=[notify],
        loaders=16,  # more than the 12 partitions: some loaders are given nothing to load
    )  # fmt: skip
    await producing
    assert report.events > 0
    assert report.invalid >= 1
    assert {"load", "build", "swap"} <= set(phases)

    after = await rows_of(db, keys)
    assert differences(before, after) == []
    rebuilt_keys = {r["post_key"] for r in await db.fetch("SELECT post_key FROM metrics.job_posts")}
    assert keys <= rebuilt_keys  # every post on the log, and (below) only those
    assert rebuilt_keys - keys <= {e.payload.post_key for e in late}
    assert await structure(db) == shape
    assert not await db.fetchval(  # nothing left behind: staging, or the replaced tables
        "SELECT count(*) FROM pg_namespace WHERE nspname IN ('metrics_rebuild', 'metrics_retired')"
    )
    # Autovacuum, off while the fresh tables were built, is theirs again once they are live.
    assert (
        await db.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'metrics' AND c.relkind = 'r' AND c.reloptions IS NOT NULL"
        )
        == 0
    )

    async def all_late() -> int | None:
        count = await db.fetchval(
            "SELECT count(*) FROM metrics.job_posts WHERE tenant_id = $1 AND attempt_count = 1",
            late_tenant,
        )
        return count if count == len(late) else None

    await eventually(all_late)  # whether applied by the swap's tail or by the live consumer
    duplicates = await db.fetchval(
        "SELECT count(*) - count(DISTINCT event_id) FROM metrics.delivery_attempts"
        " WHERE tenant_id = $1",
        late_tenant,
    )
    assert duplicates == 0
