"""The publish worker: claim the key, call the platform at most once per certainty,
record, emit.

Exactly-once rests on three rules. The claim is taken before any platform call. An
attempt whose outcome is unknown (timeout, reset, 5xx, code 1/2, or a holder that
died) is reconciled against the platform before anything is sent again; what cannot
be decided becomes `unconfirmed` and is only ever looked at again, never re-posted.
An outcome is stored before it is emitted, and the Kafka offset is committed only
after both, so a crash anywhere means a redelivery that finds the stored outcome. A
timer-fired attempt has no record to redeliver: its stored result stays pending until
Kafka acknowledges it, and the timer loop sends old pending results again.

Retries never hold a Kafka record: they are durable timers in the claims table,
fired by `run_timers`, so one failing or rate-limited account never delays others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any, Generic

import asyncpg
from faststream.kafka import KafkaBroker

from jobcast.batching import MicroBatcher
from jobcast.crypto import TokenCipher
from jobcast.graph.credentials import CredentialCache, Unusable
from jobcast.graph.pacing import RetryPolicy, Throttle
from jobcast.kafka import (
    EventBatches,
    OutgoingEvent,
    RecordMeta,
    RenderedEvent,
    lane_turn,
    publish_event,
    release_lane,
)
from jobcast.metrics import child
from jobcast.platform_api import AmbiguousOutcomeError, PlatformError, Verdict
from jobcast.topics import CONNECTIONS_EVENTS, PUBLISH_RESULTS
from schemas.connections import ConnectionStatus, ConnectionStatusChange, ConnectionStatusChanged
from schemas.envelope import utcnow
from schemas.platforms import Platform
from schemas.publish import (
    ErrorClass,
    PublishAction,
    PublishCompleted,
    PublishError,
    PublishRequested,
    PublishResult,
    PublishStatus,
    posted_media,
)
from services.publishing import comments, decisions, metrics, repo
from services.publishing.decisions import Decision
from services.publishing.platform import PlatformApi
from services.publishing.posting import (
    Absent,
    ApiT,
    Attempt,
    NotReadyError,
    Posted,
    Poster,
    Preparing,
    Undecided,
)

log = logging.getLogger(__name__)

# A failure known not to have posted: retried by tier.
RETRYABLE = Verdict(ErrorClass.TRANSIENT)
# How long a batched write may wait for company under load (jobcast.batching): short
# before a post's Graph call, which the accepted-to-call latency counts, longer after it.
BEFORE_CALL_LINGER_SECONDS = 0.003
AFTER_CALL_LINGER_SECONDS = 0.01
# Outcomes that need nobody: counted (`jobcast_publish_outcomes_total`) and carried by the
# result event like every outcome, logged one line each at DEBUG only. A line per post at
# INFO cost a tenth of a post's CPU; the other outcomes (retries, unconfirmed, failures,
# skips) are the ones a reader looks for, and stay at INFO.
_ROUTINE = frozenset({PublishStatus.POSTED, PublishStatus.EDITED, PublishStatus.DELETED})


class PublishWorker(Generic[ApiT]):
    """Handles one platform's publish commands and its durable timers."""

    def __init__(
        self,
        *,
        platform: Platform,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        results: EventBatches,
        api: PlatformApi[ApiT],
        cipher: TokenCipher,
        poster: Poster[ApiT],
        throttle: Throttle,
        retry_policy: RetryPolicy,
        confirm_delays: Sequence[float] = (60.0, 300.0, 900.0, 3600.0),
        lease_seconds: float = 300.0,
        timer_batch: int = 200,
        resend_after_seconds: float = 30.0,
    ) -> None:
        self._platform = platform
        self._pool = pool
        self._broker = broker
        # Results go out in batches (one per record otherwise: see EventBatches).
        self._results = results
        self._api = api
        self._credentials = CredentialCache(pool, cipher)
        self._poster = poster
        self._preparing = poster if isinstance(poster, Preparing) else None
        self._comments = comments.CommentPoster(poster)
        self._throttle = throttle
        self._retry = retry_policy
        self._confirm_delays = tuple(confirm_delays)
        # An edit or delete whose original is still under way looks again this much later.
        self._original_wait_seconds = self._confirm_delays[0] if self._confirm_delays else 60.0
        self._lease = lease_seconds
        self._timer_batch = timer_batch
        # One statement per batch of concurrent posts, not per post (see jobcast.batching).
        # Under load a flush waits a moment for more: a little before the Graph call, more
        # after it, where a post's wait costs no one the start of their post.
        claims = partial(repo.claim_many, pool)
        self._claims: MicroBatcher[repo.ClaimRequest, repo.Claim | repo.Held | repo.Finished] = (
            MicroBatcher(claims, max_weight=200, linger_seconds=BEFORE_CALL_LINGER_SECONDS)
        )
        self._outcomes: MicroBatcher[repo.Outcome, None] = MicroBatcher(
            partial(repo.record_many, pool), max_weight=200, max_in_flight=1,
            linger_seconds=AFTER_CALL_LINGER_SECONDS,
        )  # fmt: skip
        self._checkpoints: MicroBatcher[repo.Progress, None] = MicroBatcher(
            partial(repo.save_progress_many, pool), max_weight=200, max_in_flight=1,
            linger_seconds=BEFORE_CALL_LINGER_SECONDS,
        )  # fmt: skip
        self._sent: MicroBatcher[repo.Sent, None] = MicroBatcher(
            partial(repo.mark_sent_many, pool), max_weight=200, max_in_flight=1,
            linger_seconds=AFTER_CALL_LINGER_SECONDS,
        )  # fmt: skip
        # A stored result not acknowledged by Kafka this long after is sent again.
        self._resend_after = resend_after_seconds
        self._timer_set = asyncio.Event()  # a timer may be due sooner than the loop thinks
        # Keys whose platform calls are done and whose outcome is still being stored (their
        # lane already runs the next record): an edit or delete of one waits for it here.
        self._concluding: dict[str, asyncio.Event] = {}

    async def __call__(self, event: PublishRequested, meta: RecordMeta) -> None:
        """A command from Kafka: run it if the key is free, re-emit if it is done."""
        outcome = await self._claims.submit(
            repo.ClaimRequest(event, meta.correlation_id, self._lease)
        )
        if isinstance(outcome, repo.Finished):
            await self._emit(outcome.result, meta.correlation_id)  # replay or redelivery
        elif isinstance(outcome, repo.Claim):
            await self.run(outcome, from_record=True)
        # Held: a timer or another worker owns the key; it will report the outcome.

    def wake_timers(self) -> None:
        """A timer was set or moved (here or by an operator's retry): the timer loop looks
        again after at most its poll interval instead of its idle wait."""
        self._timer_set.set()

    async def run_timers(
        self, stop: asyncio.Event, poll_seconds: float = 0.5, idle_seconds: float = 5.0
    ) -> None:
        """Fire due retries and confirmations, take over abandoned leases, and send stored
        results that never reached Kafka, until stop.

        Between passes it sleeps until the next timer is due (as Postgres sees it), at least
        `poll_seconds` and at most `idle_seconds`: a timer another instance set, or a lease
        of one that died, is seen within that."""
        loop = asyncio.get_running_loop()
        next_resend = loop.time() + self._resend_after
        while not stop.is_set():
            self._timer_set.clear()
            wait = poll_seconds
            try:
                until = await repo.seconds_to_next_timer(self._pool, self._platform.value)
                due = []
                if until is not None and until <= 0:
                    due = await repo.take_due(
                        self._pool, self._platform.value, self._timer_batch, self._lease
                    )
                    await asyncio.gather(*(self.run(claim) for claim in due))
                else:
                    wait = (
                        idle_seconds
                        if until is None
                        else min(max(until, poll_seconds), idle_seconds)
                    )
                if loop.time() >= next_resend:
                    next_resend = loop.time() + self._resend_after
                    await self.resend_unsent()
            except Exception:  # Postgres or Kafka away: the next pass tries again
                log.exception("timer pass failed; trying again")
                due = []
            if not due:
                await _sleep(stop, self._timer_set, poll_seconds, wait)

    async def run(self, claim: repo.Claim, *, from_record: bool = False) -> None:
        """One attempt for a claimed key, bounded well inside its lease.

        `progress` is the key's checkpoint (e.g. an Instagram container id): the poster
        updates it in place, and it is stored with whatever the attempt decides.
        `from_record`: the claim came with a Kafka record whose offset is committed only
        after this returns (a timer-fired attempt has none).
        """
        progress = dict(claim.progress)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._lease / 2):
                decision = await self._attempt(claim, progress)
        except TimeoutError:
            decision = decisions.unconfirmed(
                claim.attempt, claim.confirm_checks, self._confirm_delays,
                "attempt did not finish in time",
            )  # fmt: skip
        latency_ms = round((time.perf_counter() - started) * 1000)
        # A final result stored for a record is re-emitted by the record's redelivery
        # if we die before Kafka has it: no resend timer, no "sent" write afterwards.
        pending = not (from_record and decision.state == decisions.DONE)
        # The calls that make the post are made, so the account's next post may start its
        # own: the order on the platform is kept. Reading its permalink (when the answer
        # had none), storing and sending this outcome follow; the record's offset still
        # waits for them.
        key = claim.event.payload.post_key
        concluding = self._concluding.setdefault(key, asyncio.Event())
        release_lane()
        try:
            decision = await self._with_permalink(decision)
            await self._conclude(claim, decision, progress, latency_ms, pending=pending)
        finally:
            concluding.set()
            if self._concluding.get(key) is concluding:
                del self._concluding[key]
        if decision.state != decisions.DONE:
            self.wake_timers()

    async def _with_permalink(self, decision: Decision) -> Decision:
        """The decision with its post's permalink read, when the platform's answer had none.
        The post stands whatever the read gives: a read that fails or hangs leaves the
        permalink empty."""
        read = decision.read_permalink
        if read is None:
            return decision
        try:
            async with asyncio.timeout(self._lease / 2):
                permalink = await read()
        except TimeoutError:
            permalink = None
        return replace(decision, permalink=permalink, read_permalink=None)

    async def _attempt(self, claim: repo.Claim, progress: dict[str, Any]) -> Decision:
        command = claim.event.payload
        credentials = await self._credentials.get(claim.event.tenant_id, command.connection_id)
        if isinstance(credentials, Unusable):
            if claim.resume is repo.Resume.FRESH or command.action is not PublishAction.PUBLISH:
                return decisions.failed(claim.attempt, ErrorClass.AUTH, credentials.reason)
            # An earlier attempt may have posted, and without a token nobody can look:
            # calling it failed could hide a live post. It stays unconfirmed and is looked
            # at again (a reconnected account's token is picked up then).
            return decisions.unconfirmed(
                claim.attempt, claim.confirm_checks, self._confirm_delays,
                f"cannot look whether an earlier attempt posted: {credentials.reason}",
            )  # fmt: skip
        if (paced := self._paced(claim)) is not None:
            return paced
        token = credentials.token

        # Over `progress`, not the attempt: a closure the attempt holds that held the attempt
        # would be a reference cycle, each command's objects left for the cyclic collector.
        async def checkpoint() -> None:
            await self._checkpoints.submit(repo.Progress(command.post_key, progress))

        client = self._api.client_for(credentials.login)
        attempt = Attempt(client, command, token, progress, claim.claimed_at, checkpoint)
        return await self._act(claim, attempt)

    def _paced(self, claim: repo.Claim) -> Decision | None:
        """A wait, when the account must be spaced to stay inside the platform's limits."""
        wait_seconds = self._throttle.wait_seconds(claim.event.payload.account_id)
        if wait_seconds <= 0:
            return None
        metrics.PACED.labels(platform=self._platform.value, reason="paced").inc()
        paced = decisions.wait(
            claim.attempt, wait_seconds, ErrorClass.RATE_LIMITED,
            "account paced to stay inside the platform's rate limits",
        )  # fmt: skip
        if claim.resume is repo.Resume.CONFIRM:
            paced = replace(paced, status=PublishStatus.UNCONFIRMED, state=decisions.UNCONFIRMED)
        return paced

    async def _act(self, claim: repo.Claim, attempt: Attempt[ApiT]) -> Decision:
        try:
            publishing = attempt.command.action is PublishAction.PUBLISH
            if publishing and self._preparing is not None and _fresh_post(claim):
                await self._preparing.prepare(attempt)
            # What follows decides the order on the platform (and an edit or delete must
            # find its original's outcome): it waits for the posts before it in the lane,
            # and looks again whether the account must wait (the post before may have met
            # a rate limit meanwhile).
            await lane_turn()
            if (paced := self._paced(claim)) is not None:
                return paced
            if publishing:
                return await self._publish(claim, attempt)
            return await self._change(claim, attempt)
        except NotReadyError as exc:
            return decisions.wait(
                claim.attempt, exc.retry_in_seconds, ErrorClass.TRANSIENT, exc.reason
            )
        except PlatformError as exc:
            decided = await self._after_platform_error(claim, attempt, exc)
            return replace(decided, http_status=exc.http_status)
        except AmbiguousOutcomeError as exc:
            return await self._after_ambiguity(claim, attempt, f"no clear answer: {exc}")

    async def _change(self, claim: repo.Claim, attempt: Attempt[ApiT]) -> Decision:
        """Edit or delete the post of the command's original key."""
        command = attempt.command
        concluding = self._concluding.get(command.original_post_key or "")
        if concluding is not None:
            await concluding.wait()  # the original's outcome is being stored right now
        original = (
            await repo.original_of(self._pool, command.original_post_key)
            if command.original_post_key
            else repo.Original(None, settled=True)
        )
        target = original.platform_post_id
        if target is None and not original.settled:
            # Still being published (a retry or confirmation is pending): changing it
            # must wait, or a closed job's post could go up after its delete was done.
            return decisions.wait(
                claim.attempt,
                self._original_wait_seconds,
                ErrorClass.TRANSIENT,
                "waiting for the original post to be published or to fail",
            )
        if target is None:
            return decisions.final(
                PublishStatus.SKIPPED,
                claim.attempt,
                error=PublishError(
                    error_class=ErrorClass.NOT_PUBLISHABLE,
                    message="the original post was never published: nothing to change",
                ),
            )
        if command.action is PublishAction.EDIT:
            edited = await self._poster.edit(attempt, target)
            status = PublishStatus.EDITED if edited else PublishStatus.SKIPPED
            reason = None if edited else "the platform cannot edit a published post"
        else:
            deleted = await self._poster.delete(attempt, target)
            status = PublishStatus.DELETED if deleted else PublishStatus.CANNOT_DELETE
            reason = None if deleted else "the platform does not let us delete this post"
        error = (
            None if reason is None
            else PublishError(error_class=ErrorClass.NOT_PUBLISHABLE, message=reason)
        )  # fmt: skip
        return decisions.final(
            status, claim.attempt, platform_post_id=target, error=error,
            http_status=200 if reason is None else None,
        )  # fmt: skip

    async def _publish(self, claim: repo.Claim, attempt: Attempt[ApiT]) -> Decision:
        if claim.resume is not repo.Resume.FRESH:
            found = await self._poster_of(claim).reconcile(attempt)
            if isinstance(found, Posted):
                return self._posted(claim.attempt, found)
            if isinstance(found, Undecided):
                return decisions.unconfirmed(
                    claim.attempt, claim.confirm_checks, self._confirm_delays, found.reason
                )
            # Absent: proven not on the platform, so publishing now cannot double it.
        return self._posted(claim.attempt, await self._poster_of(claim).publish(attempt))

    def _poster_of(self, claim: repo.Claim) -> Poster[ApiT] | comments.CommentPoster[ApiT]:
        return self._comments if claim.kind is repo.Kind.FIRST_COMMENT else self._poster

    async def _after_platform_error(
        self, claim: repo.Claim, attempt: Attempt[ApiT], exc: PlatformError
    ) -> Decision:
        verdict = self._api.classify(exc)
        metrics.GRAPH_ERRORS.labels(
            platform=self._platform.value, error_class=verdict.error_class.value
        ).inc()
        is_publish = attempt.command.action is PublishAction.PUBLISH
        if is_publish and (verdict.ambiguous or verdict.error_class is ErrorClass.ALREADY_POSTED):
            return await self._after_ambiguity(claim, attempt, exc.message)
        if verdict.error_class is ErrorClass.RATE_LIMITED:
            metrics.PACED.labels(platform=self._platform.value, reason="rate_limited").inc()
            self._throttle.rate_limited(
                attempt.command.account_id,
                app_wide=verdict.app_wide,
                regain_seconds=exc.regain_seconds,
            )
            return decisions.wait(
                claim.attempt, self._throttle.wait_seconds(attempt.command.account_id),
                ErrorClass.RATE_LIMITED, exc.message,
            )  # fmt: skip
        return decisions.after_failure(
            verdict, claim.attempt, self._retry,
            code=exc.code, subcode=exc.subcode, message=exc.message,
            series_start=claim.series_start,
        )  # fmt: skip

    async def _after_ambiguity(
        self, claim: repo.Claim, attempt: Attempt[ApiT], reason: str
    ) -> Decision:
        if attempt.command.action is not PublishAction.PUBLISH:
            # Edits and deletes are idempotent: doing them again is safe.
            return decisions.after_failure(
                RETRYABLE, claim.attempt, self._retry, code=None, subcode=None, message=reason,
                series_start=claim.series_start,
            )  # fmt: skip
        found = await self._poster_of(claim).reconcile(attempt)
        if isinstance(found, Posted):
            return self._posted(claim.attempt, found)
        if isinstance(found, Absent):
            return decisions.after_failure(
                RETRYABLE, claim.attempt, self._retry,
                code=None, subcode=None, message=f"{reason} (confirmed not posted)",
                series_start=claim.series_start,
            )  # fmt: skip
        return decisions.unconfirmed(
            claim.attempt, claim.confirm_checks, self._confirm_delays, f"{reason}; {found.reason}"
        )

    @staticmethod
    def _posted(attempt: int, posted: Posted) -> Decision:
        return decisions.final(
            PublishStatus.POSTED, attempt,
            platform_post_id=posted.platform_post_id, permalink=posted.permalink, http_status=200,
            read_permalink=posted.read_permalink,
        )  # fmt: skip

    async def _conclude(
        self,
        claim: repo.Claim,
        decision: Decision,
        progress: dict[str, Any],
        latency_ms: int | None = None,
        *,
        pending: bool = True,
    ) -> None:
        command = claim.event.payload
        now = utcnow()
        next_at = (
            now + timedelta(seconds=decision.delay_seconds)
            if decision.delay_seconds is not None
            else None
        )
        follow_up = comments.follow_up(claim, decision)
        if claim.kind is repo.Kind.FIRST_COMMENT:
            result = comments.result_of(claim, decision, now, next_at)
        else:
            result = PublishResult(
                post_key=command.post_key,
                action=command.action,
                platform=command.platform,
                connection_id=command.connection_id,
                job_id=command.job_id,
                status=decision.status,
                attempt=decision.attempt,
                platform_post_id=decision.platform_post_id,
                permalink=decision.permalink,
                error=decision.error,
                next_attempt_at=next_at,
                completed_at=now,
                requested_at=claim.event.occurred_at,
                http_status=decision.http_status,
                latency_ms=latency_ms,
                media=(
                    posted_media(command.platform, command.content)
                    if decision.status is PublishStatus.POSTED
                    and command.action is PublishAction.PUBLISH
                    else None
                ),
                first_comment=comments.pending() if follow_up else None,
            )
        completed = PublishCompleted(tenant_id=claim.event.tenant_id, payload=result)
        outcome = repo.Outcome(
            completed, decision.state, decision.attempt, progress, decision.confirm_checks,
            pending=pending, key=command.post_key, follow_up=follow_up,
        )  # fmt: skip
        await self._outcomes.submit(outcome)
        if follow_up is not None:
            self.wake_timers()  # the first comment's claim is due at once
        # Sent as the bytes just stored: the result is serialised once.
        await self._emit(
            completed, claim.correlation_id, mark_sent=pending, rendered=outcome.rendered,
            key=command.post_key,
        )  # fmt: skip
        error_class = decision.error.error_class.value if decision.error else ""
        outcomes = (
            metrics.FIRST_COMMENTS if claim.kind is repo.Kind.FIRST_COMMENT else metrics.OUTCOMES
        )
        child(outcomes, self._platform.value, decision.status.value, error_class).inc()
        if (
            decision.status is PublishStatus.POSTED
            and command.action is PublishAction.PUBLISH
            and claim.kind is repo.Kind.POST
        ):
            child(metrics.PUBLISH_DELAY, self._platform.value).observe(
                max(0.0, (now - claim.event.occurred_at).total_seconds())
            )
        # A comment refused for lack of a permission (code 10, 200-299) says nothing about the
        # token its post just used: only a post's failure marks the connection.
        if decision.needs_reconnect and claim.kind is repo.Kind.POST:
            self._credentials.forget(claim.event.tenant_id, command.connection_id)
            await self._report_dead_connection(claim, decision)

    async def _report_dead_connection(self, claim: repo.Claim, decision: Decision) -> None:
        command = claim.event.payload
        change = ConnectionStatusChanged(
            tenant_id=claim.event.tenant_id,
            payload=ConnectionStatusChange(
                connection_id=command.connection_id,
                platform=command.platform,
                account_id=command.account_id,
                status=ConnectionStatus.NEEDS_RECONNECT,
                reason=(decision.error.message if decision.error else "")[:500],
            ),
        )
        await publish_event(
            self._broker, CONNECTIONS_EVENTS, change, key=str(command.connection_id),
            correlation_id=claim.correlation_id, event_type=change.event_type,
        )  # fmt: skip

    async def _emit(
        self,
        completed: PublishCompleted,
        correlation_id: str | None,
        *,
        mark_sent: bool = True,
        rendered: str | None = None,
        key: str | None = None,
    ) -> None:
        status = completed.payload.status
        level = logging.DEBUG if status in _ROUTINE else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level,
                "publish outcome",
                extra={
                    "post_key": completed.payload.post_key,
                    "status": status.value,
                    "job_id": completed.payload.job_id,
                    "attempt": completed.payload.attempt,
                },
            )
        await self._results.send(
            OutgoingEvent(
                PUBLISH_RESULTS, completed.payload.post_key,
                RenderedEvent(rendered) if rendered else completed,
                correlation_id=correlation_id, event_type=completed.event_type,
            )
        )  # fmt: skip
        if mark_sent:
            # `key`: the claim row's, when not the result's post (a first comment's).
            row = key or completed.payload.post_key
            await self._sent.submit(repo.Sent(row, completed.event_id))

    async def resend_unsent(self) -> int:
        """Send results stored a while ago and still not acknowledged by Kafka: their sender
        died in between (a timer-fired attempt has no Kafka record to redeliver)."""
        unsent = await repo.unsent_results(
            self._pool, self._platform.value, self._resend_after, self._timer_batch
        )
        await asyncio.gather(*(self._emit(u.result, u.correlation_id, key=u.key) for u in unsent))
        if unsent:
            log.warning("sent stored results again", extra={"count": len(unsent)})
        return len(unsent)


def _fresh_post(claim: repo.Claim) -> bool:
    """A post (not its first comment) that no earlier attempt may have published: one that
    may have is looked for first, in its turn."""
    return claim.kind is repo.Kind.POST and claim.resume is repo.Resume.FRESH


async def _sleep(stop: asyncio.Event, woken: asyncio.Event, least: float, most: float) -> None:
    """Sleep `most` seconds, or `least` if `woken` is set by then or during; `stop` ends
    it at once."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=least)
    if most <= least or stop.is_set() or woken.is_set():
        return
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(woken.wait())]
    try:
        await asyncio.wait(waiters, timeout=most - least, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
