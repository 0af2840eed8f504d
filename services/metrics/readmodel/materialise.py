"""Materialising `publish.completed` events into `job_posts` and `delivery_attempts`.

One SQL definition serves the live consumer (a batch of events from `unnest` arrays,
merged into existing rows) and `jobcast rebuild metrics` (every event at once from a
staging table, into fresh tables). Each row is a function of the *set* of events:

- the current state comes from the greatest event by (status_rank, attempt, completed_at,
  event_id), so a stale or reordered result can never win;
- lifecycle timestamps are the first (or, for `failed_at` and `scheduled_for`, the last)
  occurrence of their status, so merging is LEAST/GREATEST;
- `attempt_count` counts publisher events, each applied once (`processed_events`).

Merging a batch's aggregate into a stored row with these rules gives the same row as
aggregating all events at once, which is what makes rebuild equal to live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from schemas.engagement import EngagementCollected
from schemas.publish import PublishCompleted
from services.metrics.readmodel.models import (
    EVENT_COLUMN_NAMES,
    EVENT_COLUMNS,
    SNAPSHOT_COLUMN_NAMES,
    SNAPSHOT_COLUMNS,
    EventRow,
    StatusChange,
    result_row,
    snapshot_row,
)

if TYPE_CHECKING:
    from jobcast.db import Connection

# The order that decides which event is a post's current state.
_ORDER = "status_rank DESC, attempt DESC, completed_at DESC, event_id DESC"

# Lifecycle timestamps: (column, aggregate, filter). min = first time, max = last time.
_LIFECYCLE: tuple[tuple[str, str, str], ...] = (
    ("scheduled_for", "max(next_attempt_at)", "status = 'scheduled'"),
    ("awaiting_approval_at", "min(completed_at)", "status = 'awaiting_approval'"),
    ("held_at", "min(completed_at)", "status = 'held'"),
    ("first_attempt_at", "min(completed_at)", "attempt >= 1"),
    ("posted_at", "min(completed_at)", "status = 'posted'"),
    ("unconfirmed_at", "min(completed_at)", "status = 'unconfirmed'"),
    ("failed_at", "max(completed_at)", "status = 'failed'"),
    ("cancelled_at", "min(completed_at)", "status = 'cancelled'"),
    ("skipped_at", "min(completed_at)", "status = 'skipped'"),
    ("edited_at", "min(completed_at)", "status = 'edited'"),
    ("deleted_at", "min(completed_at)", "status = 'deleted'"),
)

# Columns taken from the winning event.
_WINNER = (
    "status",
    "status_rank",
    "attempt",
    "status_event_id",
    "status_changed_at",
    "error_class",
    "error_code",
    "error_subcode",
    "error_message",
    "next_attempt_at",
)
_IDENTITY = ("tenant_id", "job_id", "connection_id", "platform", "action")
_FIRST_NON_NULL = ("platform_post_id", "permalink", "media_format", "media_images", "media_videos")

JOB_POST_COLUMNS: tuple[str, ...] = (
    "post_key",
    *_IDENTITY,
    *_WINNER,
    *_FIRST_NON_NULL,
    "first_comment",
    "first_seen_at",
    "last_event_at",
    "requested_at",
    *(c for c, _, _ in _LIFECYCLE),
    "attempt_count",
)

ATTEMPT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "post_key",
    "tenant_id",
    "job_id",
    "connection_id",
    "platform",
    "action",
    "attempt",
    "outcome",
    "error_class",
    "error_code",
    "error_subcode",
    "error_message",
    "http_status",
    "latency_ms",
    "platform_post_id",
    "permalink",
    "next_attempt_at",
    "occurred_at",
)
_ATTEMPT_SOURCE = ", ".join(
    {"outcome": "status", "occurred_at": "completed_at"}.get(c, c) for c in ATTEMPT_COLUMNS
)


def _post_ctes(src: str) -> str:
    """CTE `post`: one row per post key of relation `src`, its winning event's columns
    and its aggregates, from one sort of `src` (by key, winner first). The aggregates are
    window aggregates over the whole key, so the first non-null id follows that order
    too; ordered aggregates under GROUP BY sorted every key's values again, 1.5x slower."""
    every = "(w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    first_non_null = ",\n        ".join(
        f"(array_agg({c}) FILTER (WHERE {c} IS NOT NULL) OVER {every})[1] AS {c}"
        for c in _FIRST_NON_NULL
    )
    lifecycle = ",\n        ".join(
        f"{agg} FILTER (WHERE {flt}) OVER {every} AS {col}" for col, agg, flt in _LIFECYCLE
    )
    return f"""ranked AS (
    SELECT post_key, {", ".join(_IDENTITY)}, status, status_rank, attempt,
        event_id AS status_event_id, completed_at AS status_changed_at,
        error_class, error_code, error_subcode, error_message, next_attempt_at,
        row_number() OVER w AS place,
        {first_non_null},
        max(first_comment COLLATE "C") OVER {every} AS first_comment,
        min(completed_at) OVER {every} AS first_seen_at,
        max(completed_at) OVER {every} AS last_event_at,
        min(requested_at) OVER {every} AS requested_at,
        {lifecycle},
        (count(*) FILTER (WHERE attempt >= 1) OVER {every})::integer AS attempt_count
    FROM {src}
    WINDOW w AS (PARTITION BY post_key ORDER BY {_ORDER})
),
post AS (SELECT * FROM ranked WHERE place = 1)"""


def _merge_assignments() -> str:
    wins = (
        "(EXCLUDED.status_rank, EXCLUDED.attempt, EXCLUDED.status_changed_at,"
        " EXCLUDED.status_event_id) > (p.status_rank, p.attempt, p.status_changed_at,"
        " p.status_event_id)"
    )
    sets = [f"{c} = CASE WHEN {wins} THEN EXCLUDED.{c} ELSE p.{c} END" for c in _WINNER]
    sets += [
        f"{c} = CASE WHEN {wins} THEN COALESCE(EXCLUDED.{c}, p.{c})"
        f" ELSE COALESCE(p.{c}, EXCLUDED.{c}) END"
        for c in _FIRST_NON_NULL
    ]
    sets += [
        'first_comment = GREATEST(p.first_comment, EXCLUDED.first_comment COLLATE "C")',
        "first_seen_at = LEAST(p.first_seen_at, EXCLUDED.first_seen_at)",
        "last_event_at = GREATEST(p.last_event_at, EXCLUDED.last_event_at)",
        "requested_at = LEAST(p.requested_at, EXCLUDED.requested_at)",
    ]
    sets += [
        f"{col} = {'LEAST' if agg.startswith('min') else 'GREATEST'}(p.{col}, EXCLUDED.{col})"
        for col, agg, _ in _LIFECYCLE
    ]
    sets.append("attempt_count = p.attempt_count + EXCLUDED.attempt_count")
    return ",\n    ".join(sets)


def _insert_posts(schema: str) -> str:
    """INSERT of `post` into job_posts (one row per post key)."""
    columns = ", ".join(JOB_POST_COLUMNS)
    return f"""INSERT INTO {schema}.job_posts AS p ({columns})
SELECT {columns} FROM post"""


def _upsert_posts(schema: str) -> str:
    """`_insert_posts`, merged into existing rows (order-free)."""
    return f"""{_insert_posts(schema)}
ON CONFLICT (post_key) DO UPDATE SET
    {_merge_assignments()}"""


def _insert_attempts(schema: str, src: str) -> str:
    return f"""INSERT INTO {schema}.delivery_attempts ({", ".join(ATTEMPT_COLUMNS)})
SELECT {_ATTEMPT_SOURCE} FROM {src} WHERE attempt >= 1"""


def _unnest(columns: tuple[tuple[str, str], ...]) -> str:
    """`columns` from one array parameter per column ($1..$n)."""
    arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(columns, start=1))
    return f"SELECT * FROM unnest({arrays}) AS e({', '.join(c for c, _ in columns)})"


@dataclass(frozen=True, slots=True)
class ReadModelSql:
    """The statements for the read-model tables of one schema (live, or a rebuild's)."""

    upsert: str
    insert_attempts: str
    mark_processed: str
    lock_current: str


@cache
def statements(schema: str) -> ReadModelSql:
    """The live statements against `schema`'s tables (events as array parameters)."""
    returning = (
        "post_key, tenant_id, job_id, connection_id, platform, action, status, attempt,"
        " status_event_id, status_changed_at, platform_post_id, permalink, error_class,"
        " error_code, error_message, posted_at, next_attempt_at"
    )
    source = _unnest(EVENT_COLUMNS)
    return ReadModelSql(
        upsert=f"""WITH src AS ({source}),
{_post_ctes("src")}
{_upsert_posts(schema)}
RETURNING {returning}""",
        insert_attempts=(
            f"WITH src AS ({source})\n{_insert_attempts(schema, 'src')}"
            "\nON CONFLICT (event_id) DO NOTHING"
        ),
        mark_processed=f"""INSERT INTO {schema}.processed_events (event_id)
SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id""",
        lock_current=f"""SELECT post_key, status, status_rank, attempt, status_changed_at,
    status_event_id FROM {schema}.job_posts
WHERE post_key = ANY($1::text[]) ORDER BY post_key FOR UPDATE""",
    )


def fill_from_staging(
    schema: str, results: str, engagement: str, *, ids_unique: bool = False
) -> dict[str, list[str]]:
    """Per fresh (empty, unindexed) table of `schema`: the statements that fill it from the
    staging tables (each event once); a table's statements fill disjoint parts of it, so
    they may run side by side. The aggregates are the live path's own SQL; on an empty
    table its merge clause could never fire, so the plain INSERT is the same rows.

    `ids_unique`: no event id is in both staging tables, so processed_events skips the
    DISTINCT (its primary key, created afterwards, refuses a duplicate)."""
    snapshots = ", ".join(SNAPSHOT_COLUMN_NAMES)
    union = "UNION ALL" if ids_unique else "UNION"
    return {
        "processed_events": [
            f"INSERT INTO {schema}.processed_events (event_id)"
            f" SELECT event_id FROM {results} {union} SELECT event_id FROM {engagement}"
        ],
        "job_posts": [f"WITH {_post_ctes(results)}\n{_insert_posts(schema)}"],
        "delivery_attempts": [_insert_attempts(schema, results)],
        "engagement_snapshots": [
            f"INSERT INTO {schema}.engagement_snapshots ({snapshots})"
            f" SELECT {snapshots} FROM {engagement}"
        ],
        "engagement_latest": [f"WITH {_latest_ctes(engagement)}\n{_insert_latest(schema)}"],
    }


def drop_duplicate_events(staging: str) -> str:
    """Keep one row per event id in `staging` (a publisher re-emits a stored result with
    its original id; live, `processed_events` applies it once)."""
    return (
        f"DELETE FROM {staging} a USING {staging} b"
        " WHERE a.event_id = b.event_id AND a.ctid > b.ctid"
    )


async def apply_results(
    conn: Connection, events: Sequence[PublishCompleted], schema: str = "metrics"
) -> list[StatusChange]:
    """Apply a batch in the caller's transaction; returns every transition it made.

    Events already applied (redelivery, replay, or twice in one batch) change nothing.
    Within a batch, a post's fresh events are replayed in state order from its stored
    state, so each one that moves the post forward is a transition of its own (SSE and
    webhooks see scheduled → posted even when both arrive in one poll).
    """
    unique: dict[UUID, EventRow] = {}
    for event in events:
        unique.setdefault(event.event_id, result_row(event))
    if not unique:
        return []
    sql = statements(schema)
    fresh = {r["event_id"] for r in await conn.fetch(sql.mark_processed, list(unique))}
    rows = [row for event_id, row in unique.items() if event_id in fresh]
    if not rows:
        return []
    columns = [list(c) for c in zip(*rows, strict=True)]
    keys = sorted(set(columns[1]))
    before = {r["post_key"]: r for r in await conn.fetch(sql.lock_current, keys)}
    after = {r["post_key"]: r for r in await conn.fetch(sql.upsert, *columns)}
    await conn.execute(sql.insert_attempts, *columns)
    by_post: dict[str, list[EventRow]] = {}
    for row in rows:
        by_post.setdefault(row[_KEY], []).append(row)
    changes: list[StatusChange] = []
    for post_key, post_rows in by_post.items():
        stored = before.get(post_key)
        state = (
            (stored["status_rank"], stored["attempt"], stored["status_changed_at"],
             stored["status_event_id"])
            if stored else None
        )  # fmt: skip
        status = stored["status"] if stored else None
        attempt = stored["attempt"] if stored else None
        for row in sorted(post_rows, key=_state_of):
            if state is not None and _state_of(row) <= state:
                continue  # older than what the post already shows: no transition
            state = _state_of(row)
            if (row[_STATUS], row[_ATTEMPT]) != (status, attempt):
                changes.append(_change(row, status, after[post_key]))
            status, attempt = row[_STATUS], row[_ATTEMPT]
    return changes


_KEY = EVENT_COLUMN_NAMES.index("post_key")
_STATUS = EVENT_COLUMN_NAMES.index("status")
_ATTEMPT = EVENT_COLUMN_NAMES.index("attempt")
_ORDER_COLUMNS = tuple(
    EVENT_COLUMN_NAMES.index(c) for c in ("status_rank", "attempt", "completed_at", "event_id")
)


def _state_of(row: EventRow) -> tuple[Any, ...]:
    """The order of `_ORDER` (Python's UUID order is Postgres's: big-endian bytes)."""
    return tuple(row[i] for i in _ORDER_COLUMNS)


def _change(row: EventRow, previous_status: str | None, post: Any) -> StatusChange:
    event = dict(zip(EVENT_COLUMN_NAMES, row, strict=True))
    return StatusChange(
        post_key=event["post_key"],
        tenant_id=event["tenant_id"],
        job_id=event["job_id"],
        connection_id=event["connection_id"],
        platform=event["platform"],
        action=event["action"],
        status=event["status"],
        attempt=event["attempt"],
        previous_status=previous_status,
        status_event_id=event["event_id"],
        at=event["completed_at"],
        platform_post_id=event["platform_post_id"] or post["platform_post_id"],
        permalink=event["permalink"] or post["permalink"],
        error_class=event["error_class"],
        error_code=event["error_code"],
        error_message=event["error_message"],
        posted_at=post["posted_at"],
        next_attempt_at=event["next_attempt_at"],
    )


# --------------------------------------------------------------------------- engagement

LATEST_COLUMNS = tuple("snapshot_event_id" if c == "event_id" else c for c in SNAPSHOT_COLUMN_NAMES)
_LATEST_SOURCE = ", ".join(
    "event_id AS snapshot_event_id" if c == "event_id" else c for c in SNAPSHOT_COLUMN_NAMES
)


def _latest_ctes(src: str) -> str:
    """CTE `newest`: each post's newest snapshot among relation `src`."""
    return f"""newest AS (
    SELECT DISTINCT ON (post_key) {_LATEST_SOURCE} FROM {src}
    ORDER BY post_key, collected_at DESC, event_id DESC
)"""


def _insert_latest(schema: str) -> str:
    return f"""INSERT INTO {schema}.engagement_latest AS l ({", ".join(LATEST_COLUMNS)})
SELECT {", ".join(LATEST_COLUMNS)} FROM newest"""


def _upsert_latest(schema: str) -> str:
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in LATEST_COLUMNS if c != "post_key")
    return f"""{_insert_latest(schema)}
ON CONFLICT (post_key) DO UPDATE SET {updates}
WHERE (EXCLUDED.collected_at, EXCLUDED.snapshot_event_id) > (l.collected_at, l.snapshot_event_id)"""


def _insert_snapshots(schema: str, src: str) -> str:
    columns = ", ".join(SNAPSHOT_COLUMN_NAMES)
    return f"""INSERT INTO {schema}.engagement_snapshots ({columns})
SELECT {columns} FROM {src} ON CONFLICT (event_id) DO NOTHING"""


@dataclass(frozen=True, slots=True)
class EngagementSql:
    insert_snapshots: str
    upsert_latest: str


@cache
def engagement_statements(schema: str) -> EngagementSql:
    """The live statements (snapshots as array parameters, already filtered to fresh)."""
    source = _unnest(SNAPSHOT_COLUMNS)
    return EngagementSql(
        insert_snapshots=f"WITH src AS ({source})\n{_insert_snapshots(schema, 'src')}",
        upsert_latest=f"""WITH src AS ({source}),
{_latest_ctes("src")}
{_upsert_latest(schema)}
RETURNING {", ".join(LATEST_COLUMNS)}""",
    )


async def apply_engagement(
    conn: Connection, events: Sequence[EngagementCollected], schema: str = "metrics"
) -> list[dict[str, Any]]:
    """Apply a batch of snapshots in the caller's transaction; returns posts whose latest moved."""
    unique: dict[UUID, EventRow] = {}
    for event in events:
        unique.setdefault(event.event_id, snapshot_row(event))
    if not unique:
        return []
    fresh = {
        r["event_id"] for r in await conn.fetch(statements(schema).mark_processed, list(unique))
    }
    rows = [row for event_id, row in unique.items() if event_id in fresh]
    if not rows:
        return []
    columns = [list(c) for c in zip(*rows, strict=True)]
    sql = engagement_statements(schema)
    await conn.execute(sql.insert_snapshots, *columns)
    return [dict(r) for r in await conn.fetch(sql.upsert_latest, *columns)]
