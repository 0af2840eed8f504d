"""Edits and deletes of published posts, and tokens that never reach a log."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from jobcast.topics import publish_topic
from schemas import (
    Platform,
    PostContent,
    PublishAction,
    PublishCommand,
    PublishCompleted,
    PublishRequested,
    PublishStatus,
    make_post_key,
)
from tests.harness import RunningPipeline
from tests.integration.helpers import job_event, new_tenant, results_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def both_done(action: PublishAction) -> Callable[[list[PublishCompleted]], bool]:
    """Both connections reported an outcome for `action`."""

    def check(results: list[PublishCompleted]) -> bool:
        return sum(r.payload.action is action for r in results) >= 2

    return check


async def test_edit_and_delete_facebook_post_cannot_delete_instagram(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    pipeline = running.endpoints
    auth, accounts = await new_tenant(db, pipeline)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", json=job_event(job_id), headers=auth
        )
        await results_of(pipeline, job_id, lambda rs: len(rs) >= 2)
        rows = await db.fetch(
            "SELECT tenant_id, platform, connection_id, account_id FROM distributor.connections"
            " WHERE account_id = ANY($1::text[])",
            list(accounts.values()),
        )
        tenant_id = rows[0]["tenant_id"]
        producer = AIOKafkaProducer(bootstrap_servers=pipeline.kafka_bootstrap_servers)
        await producer.start()
        try:
            for action in (PublishAction.EDIT, PublishAction.DELETE):
                for row in rows:
                    platform = Platform(row["platform"])
                    original = make_post_key(tenant_id, job_id, row["connection_id"], 1)
                    command = PublishCommand(
                        post_key=make_post_key(
                            tenant_id, job_id, row["connection_id"], 2, action
                        ),
                        action=action, platform=platform,
                        connection_id=row["connection_id"], account_id=row["account_id"],
                        job_id=job_id, revision=2, original_post_key=original,
                        content=PostContent(text=f"Edited: {job_id} is now filled"),
                    )  # fmt: skip
                    event = PublishRequested(tenant_id=tenant_id, payload=command)
                    await producer.send_and_wait(
                        publish_topic(platform), event.model_dump_json().encode(),
                        key=str(row["connection_id"]).encode(),
                    )  # fmt: skip
                await results_of(pipeline, job_id, both_done(action))
        finally:
            await producer.stop()
        results = await results_of(pipeline, job_id, lambda rs: len(rs) >= 6)
        outcome = {(r.payload.platform, r.payload.action): r.payload.status for r in results}
        assert outcome[Platform.FACEBOOK, PublishAction.EDIT] is PublishStatus.EDITED
        assert outcome[Platform.FACEBOOK, PublishAction.DELETE] is PublishStatus.DELETED
        assert outcome[Platform.INSTAGRAM, PublishAction.EDIT] is PublishStatus.SKIPPED
        assert outcome[Platform.INSTAGRAM, PublishAction.DELETE] is PublishStatus.CANNOT_DELETE

        ledger = (
            await http.get(
                f"{pipeline.graph_api_url}/_sandbox/ledger",
                params={"account_id": accounts[Platform.FACEBOOK]},
            )
        ).json()
        [post] = ledger["fb_posts"]
        assert post["deleted"] is True
        assert post["message"].startswith("Edited:")
        ig = (
            await http.get(
                f"{pipeline.graph_api_url}/_sandbox/ledger",
                params={"account_id": accounts[Platform.INSTAGRAM], "include_deleted": "false"},
            )
        ).json()
        assert len(ig["ig_media"]) == 1  # still up: the account lacks the delete permission


def test_no_token_in_any_service_log(running: RunningPipeline) -> None:
    """Every test tenant's token is `token-<account>`; none may appear in a log line."""
    scanned = 0
    for process in running.processes.values():
        text = process.log_file.read_text(errors="replace")
        scanned += len(text)
        assert "token-page-" not in text, process.name
        assert "token-ig-" not in text, process.name
        assert "token-th-" not in text, process.name
        assert running.endpoints.secret_key not in text, process.name
    assert scanned > 0
