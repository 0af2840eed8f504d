"""The engagement collector: reads each posted post's insights at its checkpoints.

Why a collector in the metrics service, and not the publishers: the read model is where
a post is first known to be posted (the schedule rows are written in that transaction),
and reading insights is a different workload from publishing (slow, low priority, days
later) that must never delay or throttle a publish. It reuses the publishers' Graph
client, their usage-header pacing (`Throttle`) and their token cache, which reports a
connection needing reconnect as unusable.

Each due checkpoint is a durable timer row (`metrics.engagement_schedule`), leased with
SKIP LOCKED so instances share them. A snapshot is emitted on `engagement.events` and
the row closed after that, so a crash in between means the snapshot is read and emitted
once more (history keeps both; the latest view takes the newest).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial

import asyncpg
from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from jobcast.due_work import work_through_due
from jobcast.graph.client import GraphClient
from jobcast.graph.credentials import CredentialCache, Unusable
from jobcast.graph.errors import classify_graph_error
from jobcast.graph.hosts import GraphHosts
from jobcast.graph.pacing import Throttle
from jobcast.kafka import publish_event
from jobcast.linkedin.client import LinkedInClient, rest_path
from jobcast.linkedin.errors import LinkedInError, classify_linkedin_error
from jobcast.platform_api import AmbiguousOutcomeError, PlatformError
from jobcast.topics import ENGAGEMENT_EVENTS
from schemas.engagement import EngagementCollected, EngagementMetrics, EngagementSnapshot
from schemas.envelope import utcnow
from schemas.platforms import Platform
from schemas.publish import ErrorClass
from services.metrics.engagement import repo
from services.metrics.engagement.domain import (
    FB_COUNT_FIELDS,
    FB_INSIGHTS,
    IG_INSIGHTS,
    THREADS_INSIGHTS,
    facebook_engagement,
    insight_values,
    instagram_engagement,
    linkedin_engagement,
    threads_engagement,
)
from services.metrics.retries import next_try_in

log = logging.getLogger(__name__)

CHECKPOINTS = Counter(
    "jobcast_engagement_checkpoints_total",
    "Engagement checkpoints by outcome (collected, retried, paced, skipped, failed)",
    ["platform", "outcome"],
)


class EngagementCollector:
    """Fires due checkpoints: read insights, emit `engagement.collected`, close the row."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        graph: GraphHosts,
        credentials: CredentialCache,
        throttle: Throttle,
        retry_delays: Sequence[float] = (60.0, 300.0, 900.0, 3600.0),
        lease_seconds: float = 120.0,
        batch: int = 50,
        linkedin: LinkedInClient | None = None,
    ) -> None:
        self._linkedin = linkedin
        self._pool = pool
        self._broker = broker
        self._graph = graph
        self._credentials = credentials
        self._throttle = throttle
        self._retry_delays = tuple(retry_delays)
        self._lease = lease_seconds
        self._batch = batch

    async def run(self, stop: asyncio.Event, poll_seconds: float = 5.0) -> None:
        """Fire due checkpoints until `stop`."""
        await work_through_due(
            stop,
            partial(repo.take_due_checkpoints, self._pool, self._batch, self._lease),
            self.collect,
            poll_seconds=poll_seconds,
            log=log,
            what="engagement",
        )

    async def collect(self, due: repo.DueCheckpoint) -> None:
        """One checkpoint, start to end; every way out leaves the row decided or rescheduled
        (or, on an unexpected error, leased: it is due again when the lease runs out)."""
        try:
            outcome = await self._collect(due)
        except Exception:
            log.exception("engagement checkpoint failed", extra={"post_key": due.post_key})
            outcome = "error"
        CHECKPOINTS.labels(platform=due.platform, outcome=outcome).inc()

    async def _collect(self, due: repo.DueCheckpoint) -> str:
        credentials = await self._credentials.get(due.tenant_id, due.connection_id)
        if isinstance(credentials, Unusable):
            await repo.finish_checkpoint(self._pool, due, "skipped", credentials.reason)
            return "skipped"
        if await repo.post_was_deleted(self._pool, due.platform_post_id):
            await repo.finish_checkpoint(self._pool, due, "skipped", "the post was deleted")
            return "skipped"
        wait = self._throttle.wait_seconds(credentials.account_id)
        if wait > 0:
            await repo.retry_checkpoint(
                self._pool, due, wait, "account paced to stay inside Meta's rate limits",
                count_try=False,
            )  # fmt: skip
            return "paced"
        try:
            if due.platform == Platform.LINKEDIN.value:
                metrics, raw = await self._read_linkedin(due, credentials.token)
            else:
                graph = self._graph.for_login(credentials.login)
                metrics, raw = await self._read(graph, due, credentials.token)
        except PlatformError as exc:
            return await self._after_error(due, credentials.account_id, exc)
        except AmbiguousOutcomeError as exc:
            return await self._retry_or_fail(due, f"no clear answer: {exc}")
        event = EngagementCollected(
            tenant_id=due.tenant_id,
            payload=EngagementSnapshot(
                post_key=due.post_key,
                platform=Platform(due.platform),
                connection_id=due.connection_id,
                job_id=due.job_id,
                platform_post_id=due.platform_post_id,
                posted_at=due.posted_at,
                checkpoint_seconds=due.checkpoint_seconds,
                collected_at=utcnow(),
                metrics=metrics,
                raw=raw,
            ),
        )
        await publish_event(
            self._broker, ENGAGEMENT_EVENTS, event, key=due.post_key,
            correlation_id=str(event.event_id), event_type=event.event_type,
        )  # fmt: skip
        await repo.finish_checkpoint(self._pool, due, "done")
        return "collected"

    async def _read(
        self, graph: GraphClient, due: repo.DueCheckpoint, token: str
    ) -> tuple[EngagementMetrics, dict[str, int]]:
        post = due.platform_post_id
        names = {
            Platform.INSTAGRAM.value: IG_INSIGHTS,
            Platform.THREADS.value: THREADS_INSIGHTS,
        }.get(due.platform, FB_INSIGHTS)
        insights = await graph.call(
            "GET", f"{post}/insights", token, params={"metric": ",".join(names)}
        )
        values = insight_values(insights)
        if due.platform == Platform.INSTAGRAM.value:
            return instagram_engagement(values)
        if due.platform == Platform.THREADS.value:
            return threads_engagement(values)
        fields = await graph.call("GET", post, token, params={"fields": FB_COUNT_FIELDS})
        return facebook_engagement(values, fields)

    async def _read_linkedin(
        self, due: repo.DueCheckpoint, token: str
    ) -> tuple[EngagementMetrics, dict[str, int]]:
        """A LinkedIn post's likes and comments (its social actions)."""
        if self._linkedin is None:
            raise LinkedInError(
                "LinkedIn statistics are not read here (no LinkedIn client)", code=None,
                http_status=None, error_code="NOT_CONFIGURED",
            )  # fmt: skip
        answer = await self._linkedin.call(
            "GET", rest_path("socialActions", due.platform_post_id), token
        )
        return linkedin_engagement(answer.body or {})

    async def _after_error(
        self, due: repo.DueCheckpoint, account_id: str, exc: PlatformError
    ) -> str:
        if isinstance(exc, LinkedInError):
            verdict = classify_linkedin_error(exc)
        else:
            verdict = classify_graph_error(exc.code, exc.subcode)
        if verdict.error_class is ErrorClass.RATE_LIMITED:
            self._throttle.rate_limited(
                account_id, app_wide=verdict.app_wide, regain_seconds=exc.regain_seconds
            )
            await repo.retry_checkpoint(
                self._pool, due, self._throttle.wait_seconds(account_id), exc.message,
                count_try=False,
            )  # fmt: skip
            return "paced"
        if verdict.error_class is ErrorClass.AUTH:
            await repo.finish_checkpoint(self._pool, due, "skipped", exc.message)
            self._credentials.forget(due.tenant_id, due.connection_id)
            return "skipped"
        if verdict.error_class is ErrorClass.TRANSIENT:
            return await self._retry_or_fail(due, exc.message)
        await repo.finish_checkpoint(self._pool, due, "failed", exc.message)
        return "failed"

    async def _retry_or_fail(self, due: repo.DueCheckpoint, reason: str) -> str:
        delay = next_try_in(due.tries, self._retry_delays)
        if delay is None:
            await repo.finish_checkpoint(self._pool, due, "failed", reason)
            return "failed"
        await repo.retry_checkpoint(self._pool, due, delay, reason, count_try=True)
        return "retried"
