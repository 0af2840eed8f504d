"""A publisher frees its lane once a post's platform calls are made (the account's next
post may start); an edit of that post arriving meanwhile waits, in process, for the
post's outcome to be stored instead of parking for a minute."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from jobcast.crypto import TokenCipher, generate_key
from jobcast.graph.credentials import Usable
from jobcast.graph.pacing import RetryPolicy, Throttle
from schemas import Platform, PostContent, PublishCommand, PublishRequested
from schemas.envelope import utcnow
from schemas.publish import PublishAction, PublishStatus, make_post_key
from services.publishing import repo, worker
from services.publishing.posting import Attempt, Posted
from tests.publishing_fakes import ResultsTo, no_platform_api

pytestmark = pytest.mark.timeout(10)


class _Poster:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def publish(self, attempt: Attempt[Any]) -> Posted:
        self.calls.append("publish")
        return Posted("fb-post-1", None)

    async def reconcile(self, attempt: Attempt[Any]) -> Any:
        raise AssertionError("nothing to reconcile")

    async def edit(self, attempt: Attempt[Any], target: str) -> bool:
        self.calls.append(f"edit {target}")
        return True


class _Token:
    async def get(self, tenant_id: Any, connection_id: Any) -> Usable:
        return Usable("page-1", "token")

    def forget(self, tenant_id: Any, connection_id: Any) -> None:
        return None


def _claim(event: PublishRequested) -> repo.Claim:
    return repo.Claim(
        event=event, correlation_id="corr", attempt=1, progress={}, claimed_at=utcnow(),
        confirm_checks=0, resume=repo.Resume.FRESH,
    )  # fmt: skip


async def test_an_edit_waits_for_its_original_being_stored_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store_original = asyncio.Event()
    stored: dict[str, str | None] = {}
    recorded: list[repo.Outcome] = []

    async def fake_record(pool: Any, outcomes: Sequence[repo.Outcome]) -> list[None]:
        if any(o.result.payload.action is PublishAction.PUBLISH for o in outcomes):
            await store_original.wait()  # the original's outcome is slow to store
        for o in outcomes:
            stored[o.key] = o.result.payload.platform_post_id
        recorded.extend(outcomes)
        return [None] * len(outcomes)

    async def fake_original(pool: Any, post_key: str) -> repo.Original:
        found = stored.get(post_key)
        return repo.Original(found, settled=found is not None)

    async def fake_publish(broker: Any, topic: str, event: Any, **kw: Any) -> None:
        return None

    async def fake_mark(pool: Any, sent: Sequence[repo.Sent]) -> list[None]:
        return [None] * len(sent)

    monkeypatch.setattr(repo, "mark_sent_many", fake_mark)
    monkeypatch.setattr(repo, "record_many", fake_record)
    monkeypatch.setattr(repo, "original_of", fake_original)
    monkeypatch.setattr(worker, "publish_event", fake_publish)
    poster = _Poster()
    publisher = worker.PublishWorker(
        platform=Platform.FACEBOOK, pool=None, broker=None, api=no_platform_api(),  # type: ignore[arg-type]
        results=ResultsTo(fake_publish),  # type: ignore[arg-type]
        cipher=TokenCipher(SecretStr(generate_key())), poster=poster,  # type: ignore[arg-type]
        throttle=Throttle(), retry_policy=RetryPolicy((30.0,), 3),
    )  # fmt: skip
    publisher._credentials = _Token()  # type: ignore[assignment]
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    original_key = make_post_key(tenant, "job-1", connection, 1)
    command = PublishCommand(
        post_key=original_key, platform=Platform.FACEBOOK, connection_id=connection,
        account_id="page-1", job_id="job-1", revision=1, content=PostContent(text="Barista"),
    )  # fmt: skip
    edit = command.model_copy(update={
        "post_key": make_post_key(tenant, "job-1", connection, 2, PublishAction.EDIT),
        "revision": 2, "action": PublishAction.EDIT, "original_post_key": original_key,
        "content": PostContent(text="Head barista"),
    })  # fmt: skip

    posting = asyncio.create_task(
        publisher.run(_claim(PublishRequested(tenant_id=tenant, payload=command)))
    )
    while poster.calls != ["publish"]:
        await asyncio.sleep(0.001)
    editing = asyncio.create_task(
        publisher.run(_claim(PublishRequested(tenant_id=tenant, payload=edit)))
    )
    await asyncio.sleep(0.05)
    assert poster.calls == ["publish"]  # the edit waits for the original's outcome
    store_original.set()
    await asyncio.gather(posting, editing)
    assert poster.calls == ["publish", "edit fb-post-1"]
    statuses = [o.result.payload.status for o in recorded]
    assert statuses == [PublishStatus.POSTED, PublishStatus.EDITED]
