"""Gauges of what the pipeline holds right now, counted in Postgres every few seconds.

Counters in the services say what happened; these say where things stand: posts by
status in the read model (and the stuck ones), the publishers' durable timers and how
late the latest-firing one is, the distributor's timers likewise, and each connection's
token time-to-expiry. They are an operator's read-only view across the services' schemas
(`metrics`, `publishing`, `distributor`), so one loop refreshes them all — the metrics
service runs it. With several metrics instances every one exports the same values:
dashboards and rules aggregate these gauges with `max`.

Labels: platform, status and state come from fixed sets. `connection_id` is a label of
the token gauge only: one series per connected account with an expiring token, a UUID
that names no person and carries no secret, bounded by the number of connections and
stable over time — the alert has to say which account to reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping

import asyncpg
from prometheus_client import Gauge

from schemas.platforms import Platform
from schemas.publish import PublishStatus

log = logging.getLogger(__name__)
Labels = tuple[str, ...]

POSTS = Gauge(
    "jobcast_posts", "Posts in the read model, by platform and status", ["platform", "status"]
)
POSTS_STUCK = Gauge(
    "jobcast_posts_stuck",
    "Posts still retry_scheduled or unconfirmed with no news for longer than the longest "
    "retry tier and confirmation delay allow (2 h by default)",
    ["platform", "status"],
)
PUBLISH_TIMERS = Gauge(
    "jobcast_publish_timers_pending",
    "Publisher claims waiting on a timer or held by a worker, by platform and state "
    "(retry_scheduled, unconfirmed, in_progress)",
    ["platform", "state"],
)
PUBLISH_TIMERS_OVERDUE = Gauge(
    "jobcast_publish_timers_overdue_seconds",
    "How long past due the most overdue publisher timer is (a retry, a confirmation "
    "check, or a lease that ran out); 0 when none is due",
    ["platform"],
)
DISTRIBUTOR_TIMERS_OVERDUE = Gauge(
    "jobcast_distributor_timers_overdue_seconds",
    "How long past its due time the oldest post still waiting in `scheduled` is; 0 when none",
)
CONNECTIONS = Gauge(
    "jobcast_connections", "Connected accounts, by platform and status", ["platform", "status"]
)
TOKEN_EXPIRY = Gauge(
    "jobcast_connection_token_expiry_seconds",
    "Seconds until an active connection's token expires (negative once expired); "
    "tokens that do not expire on a clock have no series",
    ["platform", "connection_id"],
)
REFRESHED = Gauge(
    "jobcast_status_gauges_refreshed_timestamp_seconds",
    "When the status gauges were last refreshed from Postgres (Unix time)",
)

CLAIM_STATES = ("retry_scheduled", "unconfirmed", "in_progress")
CONNECTION_STATUSES = ("active", "needs_reconnect", "disabled", "removed")
STUCK_STATUSES = (PublishStatus.RETRY_SCHEDULED.value, PublishStatus.UNCONFIRMED.value)

_POSTS_SQL = """
SELECT platform, status, count(*) AS n,
       count(*) FILTER (WHERE status = ANY($1::text[])
                          AND last_event_at < now() - make_interval(secs => $2)) AS stuck
FROM metrics.job_posts GROUP BY platform, status
"""
_CLAIMS_SQL = """
SELECT platform, state, count(*) AS n,
       EXTRACT(EPOCH FROM now() - min(CASE WHEN state = 'in_progress' THEN lease_until
                                           ELSE next_attempt_at END)) AS overdue
FROM publishing.post_claims
WHERE state IN ('retry_scheduled', 'unconfirmed', 'in_progress')
GROUP BY platform, state
"""
_DISTRIBUTOR_SQL = """
SELECT EXTRACT(EPOCH FROM now() - min(due_at)) FROM distributor.posts
WHERE state = 'scheduled' AND due_at <= now()
"""
_CONNECTIONS_SQL = """
SELECT connection_id, platform, status,
       EXTRACT(EPOCH FROM token_expires_at - now()) AS expires_in
FROM distributor.connections
"""


class StatusGauges:
    """Refreshes the gauges above from Postgres every `every` seconds."""

    def __init__(
        self, pool: asyncpg.Pool, *, every: float = 15.0, stuck_after_seconds: float = 7200.0
    ) -> None:
        self._pool = pool
        self._every = every
        self._stuck_after = stuck_after_seconds
        self._tokens: set[tuple[str, str]] = set()  # token series exported last time
        self._extra_labels: dict[Gauge, set[Labels]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until `stop` is set (a failed refresh is logged and tried next time)."""
        while not stop.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._every)

    async def refresh(self) -> None:
        """One pass over every group; a group whose tables do not exist yet is skipped."""
        for part in (self._posts, self._claims, self._distributor_timers, self._connections):
            try:
                await part()
            except asyncpg.UndefinedTableError:
                pass  # that service has not migrated yet
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning(
                    "status gauges not refreshed", extra={"part": part.__name__, "error": repr(exc)}
                )
        REFRESHED.set(time.time())

    async def _posts(self) -> None:
        rows = await self._pool.fetch(_POSTS_SQL, list(STUCK_STATUSES), self._stuck_after)
        counts: dict[Labels, tuple[int, int]] = {
            (r["platform"], r["status"]): (r["n"], r["stuck"]) for r in rows
        }
        known: set[Labels] = {(p.value, s.value) for p in Platform for s in PublishStatus}
        self._set_all(POSTS, known, {k: v[0] for k, v in counts.items()})
        stuck_known: set[Labels] = {(p.value, s) for p in Platform for s in STUCK_STATUSES}
        self._set_all(
            POSTS_STUCK, stuck_known, {k: v[1] for k, v in counts.items() if k[1] in STUCK_STATUSES}
        )

    async def _claims(self) -> None:
        rows = await self._pool.fetch(_CLAIMS_SQL)
        known: set[Labels] = {(p.value, s) for p in Platform for s in CLAIM_STATES}
        pending: dict[Labels, float] = {(r["platform"], r["state"]): r["n"] for r in rows}
        self._set_all(PUBLISH_TIMERS, known, pending)
        overdue: dict[Labels, float] = {(p.value,): 0.0 for p in Platform}
        for r in rows:
            late = max(0.0, float(r["overdue"] or 0.0))
            overdue[(r["platform"],)] = max(overdue.get((r["platform"],), 0.0), late)
        self._set_all(PUBLISH_TIMERS_OVERDUE, set(overdue), overdue)

    async def _distributor_timers(self) -> None:
        overdue = await self._pool.fetchval(_DISTRIBUTOR_SQL)
        DISTRIBUTOR_TIMERS_OVERDUE.set(max(0.0, float(overdue or 0.0)))

    async def _connections(self) -> None:
        rows = await self._pool.fetch(_CONNECTIONS_SQL)
        counts: dict[Labels, float] = {}
        tokens: set[tuple[str, str]] = set()
        for r in rows:
            key = (r["platform"], r["status"])
            counts[key] = counts.get(key, 0) + 1
            if r["status"] == "active" and r["expires_in"] is not None:
                labels = (r["platform"], str(r["connection_id"]))
                TOKEN_EXPIRY.labels(*labels).set(float(r["expires_in"]))
                tokens.add(labels)
        known: set[Labels] = {(p.value, s) for p in Platform for s in CONNECTION_STATUSES}
        self._set_all(CONNECTIONS, known, counts)
        for gone in self._tokens - tokens:
            with contextlib.suppress(KeyError):
                TOKEN_EXPIRY.remove(*gone)
        self._tokens = tokens

    def _set_all(
        self,
        gauge: Gauge,
        known: Iterable[Labels],
        values: Mapping[Labels, float],
    ) -> None:
        """Set every known label set (0 when absent) and any other one present now;
        a label set outside `known` that is gone since the last pass is removed."""
        for labels in set(known) | set(values):
            gauge.labels(*labels).set(values.get(labels, 0))
        extra = set(values) - set(known)
        for gone in self._extra_labels.get(gauge, set()) - extra:
            with contextlib.suppress(KeyError):
                gauge.remove(*gone)
        self._extra_labels[gauge] = extra
