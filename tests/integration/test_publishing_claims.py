"""The claim table's batch statements on real Postgres: one INSERT for many fresh keys,
the slow path for taken ones, and one UPDATE per round of distinct keys."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from schemas import (
    Platform,
    PostContent,
    PublishCommand,
    PublishCompleted,
    PublishRequested,
    PublishResult,
    PublishStatus,
    make_post_key,
)
from schemas.envelope import utcnow
from services.publishing import repo
from services.publishing.repo import ClaimRequest, Outcome

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def request(job_id: str, lease: float = 600.0) -> ClaimRequest:
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    command = PublishCommand(
        post_key=make_post_key(tenant, job_id, connection, 1), platform=Platform.FACEBOOK,
        connection_id=connection, account_id="1234", job_id=job_id, revision=1,
        content=PostContent(text=f"Barista {job_id}"),
    )  # fmt: skip
    return ClaimRequest(PublishRequested(tenant_id=tenant, payload=command), "corr-1", lease)


def outcome(claim: ClaimRequest, status: PublishStatus, attempt: int, state: str) -> Outcome:
    command = claim.event.payload
    result = PublishCompleted(
        tenant_id=claim.event.tenant_id,
        payload=PublishResult(
            post_key=command.post_key, action=command.action, platform=command.platform,
            connection_id=command.connection_id, job_id=command.job_id, status=status,
            attempt=attempt, completed_at=utcnow(),
            platform_post_id="1234_99" if status is PublishStatus.POSTED else None,
            next_attempt_at=utcnow() + timedelta(hours=1) if state != "done" else None,
        ),
    )  # fmt: skip
    return Outcome(result, state, attempt, {"step": attempt})


async def park(db: asyncpg.Pool, keys: list[str]) -> None:
    # Out of reach of the running publishers' timer loops (they scan their own platform).
    await db.execute(
        "UPDATE publishing.post_claims SET platform = 'test' WHERE post_key = ANY($1)", keys
    )


async def test_fresh_keys_are_claimed_in_one_batch_and_taken_keys_say_who_has_them(
    db: asyncpg.Pool,
) -> None:
    await repo.migrate_publishing(db)
    fresh = [request(f"job-{n}") for n in range(3)]
    claims = await repo.claim_many(db, [*fresh, fresh[1]])  # a key twice in one batch
    await park(db, [r.event.payload.post_key for r in fresh])
    assert [type(c) for c in claims] == [repo.Claim] * 3 + [repo.Held]
    first = claims[0]
    assert isinstance(first, repo.Claim)
    assert first.resume is repo.Resume.FRESH
    assert first.event == fresh[0].event
    assert first.correlation_id == "corr-1"
    assert first.attempt == 1

    # Done, held and abandoned keys, in one batch with a new one.
    await repo.record_many(db, [outcome(fresh[0], PublishStatus.POSTED, 1, "done")])
    await db.execute(
        "UPDATE publishing.post_claims SET lease_until = now() - interval '1 s'"
        " WHERE post_key = $1",
        fresh[2].event.payload.post_key,
    )
    new = request("job-new")
    again = await repo.claim_many(db, [fresh[0], fresh[1], fresh[2], new])
    await park(db, [new.event.payload.post_key])
    done, held, abandoned, claimed = again
    assert isinstance(done, repo.Finished)
    assert done.result.payload.status is PublishStatus.POSTED
    assert held == repo.Held("in_progress")
    assert isinstance(abandoned, repo.Claim)
    assert abandoned.resume is repo.Resume.RECONCILE  # its holder may have posted
    assert isinstance(claimed, repo.Claim)
    assert claimed.resume is repo.Resume.FRESH


async def test_outcomes_of_one_key_in_one_batch_are_applied_in_order(db: asyncpg.Pool) -> None:
    await repo.migrate_publishing(db)
    one, two = request("job-a"), request("job-b")
    await repo.claim_many(db, [one, two])
    await park(db, [one.event.payload.post_key, two.event.payload.post_key])
    await repo.record_many(
        db,
        [
            outcome(one, PublishStatus.RETRY_SCHEDULED, 2, "retry_scheduled"),
            outcome(two, PublishStatus.FAILED, 1, "done"),
            outcome(one, PublishStatus.POSTED, 2, "done"),  # the later outcome wins
        ],
    )
    rows = {
        r["post_key"]: r
        for r in await db.fetch(
            "SELECT post_key, state, attempt, platform_post_id, progress, next_attempt_at,"
            " lease_until, result_event->'payload'->>'status' AS status"
            " FROM publishing.post_claims WHERE post_key = ANY($1)",
            [one.event.payload.post_key, two.event.payload.post_key],
        )
    }
    first, second = rows[one.event.payload.post_key], rows[two.event.payload.post_key]
    assert (first["state"], first["status"], first["attempt"]) == ("done", "posted", 2)
    assert first["platform_post_id"] == "1234_99"
    assert first["next_attempt_at"] is None
    assert first["lease_until"] is None
    assert first["progress"] == '{"step": 2}'
    assert (second["state"], second["status"], second["attempt"]) == ("done", "failed", 1)
    assert second["platform_post_id"] is None


async def test_checkpoints_of_one_key_in_one_batch_are_applied_in_order(
    db: asyncpg.Pool,
) -> None:
    await repo.migrate_publishing(db)
    one, two = request("job-c"), request("job-d")
    await repo.claim_many(db, [one, two])
    keys = [one.event.payload.post_key, two.event.payload.post_key]
    await park(db, keys)
    await repo.save_progress_many(
        db,
        [
            repo.Progress(keys[0], {"container_id": "c-1"}),
            repo.Progress(keys[1], {"container_id": "c-9"}),
            repo.Progress(keys[0], {"container_id": "c-2"}),
        ],
    )
    rows = await db.fetch(
        "SELECT post_key, progress->>'container_id' AS c FROM publishing.post_claims"
        " WHERE post_key = ANY($1)",
        keys,
    )
    assert {r["post_key"]: r["c"] for r in rows} == {keys[0]: "c-2", keys[1]: "c-9"}


async def test_a_stored_result_stays_pending_until_kafka_has_that_very_result(
    db: asyncpg.Pool,
) -> None:
    await repo.migrate_publishing(db)
    claim = request("job-e")
    key = claim.event.payload.post_key
    await repo.claim_many(db, [claim])
    await park(db, [key])
    waiting = outcome(claim, PublishStatus.RETRY_SCHEDULED, 1, "retry_scheduled")
    await repo.record_many(db, [waiting])
    unsent = await repo.unsent_results(db, "test", 0.0, 1000)
    assert [u.result for u in unsent if u.result.payload.post_key == key] == [waiting.result]
    assert {u.correlation_id for u in unsent if u.result.payload.post_key == key} == {"corr-1"}

    # A newer result was stored before the older one's acknowledgement came back.
    posted = outcome(claim, PublishStatus.POSTED, 1, "done")
    await repo.record_many(db, [posted])
    await repo.mark_sent_many(db, [repo.Sent(key, waiting.result.event_id)])
    pending = await db.fetchval(
        "SELECT result_pending FROM publishing.post_claims WHERE post_key = $1", key
    )
    assert pending is True
    await repo.mark_sent_many(db, [repo.Sent(key, posted.result.event_id)])
    unsent = await repo.unsent_results(db, "test", 0.0, 1000)
    assert key not in {u.result.payload.post_key for u in unsent}


async def test_analyze_gathers_no_statistics_on_the_stored_payloads(db: asyncpg.Pool) -> None:
    await repo.migrate_publishing(db)
    rows = await db.fetch(
        """SELECT attname, attstattarget FROM pg_attribute
           WHERE attrelid = 'publishing.post_claims'::regclass AND attnum > 0
             AND NOT attisdropped"""
    )
    targets: dict[str, int | None] = {row["attname"]: row["attstattarget"] for row in rows}
    payloads = {"command_event", "result_event", "progress"}
    assert {name: targets[name] for name in payloads} == dict.fromkeys(payloads, 0)
    # The columns rows are selected by keep theirs (-1 or NULL: the default target).
    assert all(targets[name] in (-1, None) for name in ("post_key", "state", "platform"))
