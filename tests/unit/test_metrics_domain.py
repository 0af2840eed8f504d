"""Pure rules of the metrics service: cursors, ratios, engagement parsing and scheduling,
webhook comments, the status fan-out and the replay plan."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.structs import TopicPartition

from jobcast_cli.replay import Move, plan_moves
from services.metrics.engagement.domain import (
    due_checkpoints,
    facebook_engagement,
    insight_values,
    instagram_engagement,
    linkedin_engagement,
    webhook_comment,
)
from services.metrics.readmodel.domain import decode_cursor, encode_cursor, ratio
from services.metrics.readmodel.stream import StatusHub
from services.metrics.retries import next_try_in
from services.metrics.settings import MetricsSettings
from services.metrics.webhooks.domain import (
    acceptable_webhook_url,
    lifecycle_webhook,
    new_webhook_secret,
    sign_webhook,
    verify_webhook,
)

pytestmark = pytest.mark.timeout(10)


def test_cursor_round_trips_and_rejects_foreign_strings() -> None:
    at = datetime(2026, 5, 1, 9, 30, 12, 345678, tzinfo=UTC)
    key = "pk_" + "ab" * 16
    assert decode_cursor(encode_cursor(at, key)) == (at, key)
    for bad in ("", "bm90LWEtY3Vyc29y", "%%%", encode_cursor(at, "nope")):
        with pytest.raises(ValueError, match="cursor"):
            decode_cursor(bad)
    naive = encode_cursor(datetime(2026, 5, 1), key)
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor(naive)


def test_ratio() -> None:
    assert ratio(3, 4) == 0.75
    assert ratio(1, 3) == 0.3333
    assert ratio(0, 0) is None
    assert ratio(None, 10) is None
    assert ratio(5, None) is None


def test_checkpoints_are_scheduled_once_when_a_publish_is_first_posted() -> None:
    checkpoints = (3600, 86_400)
    assert due_checkpoints("posted", None, "publish", checkpoints) == checkpoints
    assert due_checkpoints("posted", "retry_scheduled", "publish", checkpoints) == checkpoints
    assert due_checkpoints("posted", "posted", "publish", checkpoints) == ()
    assert due_checkpoints("edited", None, "edit", checkpoints) == ()
    assert due_checkpoints("posted", None, "edit", checkpoints) == ()
    assert due_checkpoints("failed", None, "publish", checkpoints) == ()


def test_insight_values_sum_breakdowns_and_skip_odd_entries() -> None:
    body = {
        "data": [
            {"name": "post_total_media_view_unique", "values": [{"value": 1200}]},
            {"name": "post_reactions_by_type_total", "values": [{"value": {"like": 7, "wow": 2}}]},
            {"name": "post_clicks", "values": []},
            {"name": "flag", "values": [{"value": True}]},
            "garbage",
        ]
    }
    assert insight_values(body) == {
        "post_total_media_view_unique": 1200,
        "post_reactions_by_type_total": 9,
    }
    assert insight_values({}) == {}


def test_facebook_engagement_combines_insights_and_post_counts() -> None:
    insights = {"post_total_media_view_unique": 1000, "post_clicks": 40,
                "post_reactions_by_type_total": 12}  # fmt: skip
    fields = {"comments": {"summary": {"total_count": 5}}, "shares": {"count": 3}}
    metrics, raw = facebook_engagement(insights, fields)
    assert metrics.views == 1000
    assert metrics.clicks == 40
    assert (metrics.reactions, metrics.comments, metrics.shares) == (12, 5, 3)
    assert metrics.total_interactions == 20
    assert metrics.reach is None
    assert metrics.likes is None
    assert raw == {**insights, "shares": 3, "comments": 5}

    # Meta leaves `shares` out when nobody shared; reactions fall back to the summary.
    metrics, _ = facebook_engagement(
        {"post_total_media_view_unique": 10}, {"reactions": {"summary": {"total_count": 2}}}
    )
    assert (metrics.reactions, metrics.comments, metrics.shares) == (2, None, 0)
    assert metrics.total_interactions == 2


def test_instagram_engagement_keeps_metas_names() -> None:
    insights = {"reach": 900, "views": 1500, "likes": 80, "comments": 4, "shares": 2,
                "saved": 6, "total_interactions": 92}  # fmt: skip
    metrics, raw = instagram_engagement(insights)
    assert metrics.model_dump(exclude_none=True) == insights
    assert raw == insights
    assert "impressions" not in raw


def test_next_try_in() -> None:
    delays = (60.0, 300.0)
    assert next_try_in(1, delays) == 60.0
    assert next_try_in(2, delays) == 300.0
    assert next_try_in(3, delays) is None
    assert next_try_in(0, delays) is None


def test_webhook_comment_recognises_page_and_instagram_comments() -> None:
    add = {"item": "comment", "verb": "add", "post_id": "1_2", "comment_id": "2_9"}
    assert webhook_comment("page", "feed", add) == ("facebook", "2_9", "1_2", False)
    assert webhook_comment("page", "feed", {**add, "verb": "remove"}) == (
        "facebook", "2_9", "1_2", True,
    )  # fmt: skip
    assert webhook_comment("page", "feed", {**add, "verb": "edited"}) is None
    assert webhook_comment("page", "feed", {**add, "item": "reaction"}) is None
    assert webhook_comment("page", "feed", {"item": "comment", "verb": "add"}) is None
    ig = {"id": "c1", "text": "hi", "media": {"id": "m1", "media_product_type": "FEED"}}
    assert webhook_comment("instagram", "comments", ig) == ("instagram", "c1", "m1", False)
    assert webhook_comment("instagram", "comments", {"id": "c1"}) is None
    assert webhook_comment("instagram", "mentions", ig) is None


async def test_status_hub_delivers_to_the_tenants_subscribers_only() -> None:
    hub = StatusHub("postgresql://unused", capacity=2)
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    payload_a = json.dumps({"tenant_id": str(tenant_a), "post_key": "pk_a"})
    async with hub.subscribe(tenant_a) as a, hub.subscribe(tenant_b) as b:
        hub.deliver(payload_a)
        hub.deliver("not json")
        assert a.queue.get_nowait() == payload_a
        assert b.queue.empty()
        for _ in range(3):  # over capacity: the slow client is cut off, not buffered forever
            hub.deliver(payload_a)
        assert a.overflowed
        drained = [a.queue.get_nowait() for _ in range(a.queue.qsize())]
        assert drained[-1] is None
    assert not hub._subscribers  # unsubscribed on exit


async def test_status_hub_ends_every_stream_when_stopped() -> None:
    hub = StatusHub("postgresql://127.0.0.1:1/none", reconnect_seconds=0.01)
    stop = asyncio.Event()
    async with hub.subscribe(uuid.uuid4()) as subscription:
        running = asyncio.create_task(hub.run(stop))
        await asyncio.sleep(0.05)  # cannot connect: keeps retrying, quietly
        stop.set()
        await asyncio.wait_for(running, 2)
        assert await asyncio.wait_for(subscription.queue.get(), 1) is None


def test_replay_plan_goes_to_the_target_or_the_end() -> None:
    p0, p1, p2 = (TopicPartition("t", i) for i in range(3))
    moves = plan_moves(
        current={p0: 40, p1: None},
        targets={p0: 10, p1: 0, p2: None},
        ends={p0: 50, p1: 5, p2: 7},
    )
    assert moves == [Move("t", 0, 40, 10), Move("t", 1, None, 0), Move("t", 2, None, 7)]
    assert [m.delta for m in moves] == [-30, None, None]


def test_lifecycle_webhooks_announce_four_statuses_of_publishes() -> None:
    assert lifecycle_webhook("posted", "retry_scheduled", "publish") == "post.posted"
    assert lifecycle_webhook("scheduled", None, "publish") == "post.scheduled"
    assert lifecycle_webhook("failed", "retry_scheduled", "publish") == "post.failed"
    assert lifecycle_webhook("unconfirmed", None, "publish") == "post.unconfirmed"
    assert lifecycle_webhook("unconfirmed", "unconfirmed", "publish") is None  # a re-check
    assert lifecycle_webhook("retry_scheduled", None, "publish") is None
    assert lifecycle_webhook("posted", None, "edit") is None


def test_webhook_signature_verifies_and_refuses_tampering_and_staleness() -> None:
    body = b'{"type":"post.posted"}'
    header = sign_webhook("whsec_s3cret", 1_767_225_600, body)
    assert header.startswith("t=1767225600,v1=")
    assert len(header.split("v1=")[1]) == 64
    now = 1_767_225_600 + 10
    assert verify_webhook("whsec_s3cret", header, body, now=now)
    assert not verify_webhook("whsec_other", header, body, now=now)
    assert not verify_webhook("whsec_s3cret", header, body + b" ", now=now)
    assert not verify_webhook("whsec_s3cret", header, body, now=now + 3600)
    assert not verify_webhook("whsec_s3cret", "v1=abc", body, now=now)
    assert new_webhook_secret() != new_webhook_secret()


PUBLIC = "must reach a public host"


@pytest.mark.parametrize(
    ("url", "insecure", "problem"),
    [
        ("https://hooks.example.com/jobcast", False, None),
        ("http://hooks.example.com/jobcast", False, "must use https"),
        ("https://127.0.0.1/x", False, f"{PUBLIC} (127.0.0.1 is a loopback address)"),
        ("https://10.1.2.3/x", False, f"{PUBLIC} (10.1.2.3 is a private address)"),
        ("https://localhost/x", False, f"{PUBLIC} (localhost is a local name)"),
        ("https://user:pw@hooks.example.com/", False, "must not carry credentials"),
        ("ftp://hooks.example.com/", False, "must be an http(s) URL with a host"),
        ("https://1.2.3.999/", False, "is not a valid URL"),
        ("http://hooks.example.com/jobcast", True, None),
        # http:// is allowed by `allow_insecure`; the address rules still hold.
        ("http://127.0.0.1:9000/hook", True, f"{PUBLIC} (127.0.0.1 is a loopback address)"),
    ],
)  # fmt: skip
def test_webhook_urls(url: str, insecure: bool, problem: str | None) -> None:
    assert acceptable_webhook_url(url, allow_insecure=insecure) == problem


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://2130706433/x", "127.0.0.1 is a loopback address"),
        ("https://0x7f000001/x", "127.0.0.1 is a loopback address"),
        ("https://127.1/x", "127.0.0.1 is a loopback address"),
        ("https://0/x", "0.0.0.0 is an unspecified address"),
        ("https://017700000001/x", "127.0.0.1 is a loopback address"),
        ("https://0xa9fea9fe/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("https://100.64.1.1/x", "100.64.1.1 is a shared (CGNAT) address"),
        ("https://[::1]/x", "::1 is a loopback address"),
        ("https://[::ffff:127.0.0.1]/x", "::ffff:7f00:1 is a loopback address"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "64:ff9b::a9fe:a9fe is a link-local address"),
        ("https://localhost./x", "localhost. is a local name"),
        ("https://hooks.localhost/x", "hooks.localhost is a local name"),
        ("https://kafka:9092/x", "kafka is not a fully qualified public name"),
        ("https://postgres./x", "postgres. is not a fully qualified public name"),
    ],
)
def test_webhook_urls_naming_a_non_public_host_in_any_spelling(url: str, shown: str) -> None:
    assert acceptable_webhook_url(url, allow_insecure=True) == f"{PUBLIC} ({shown})"


def test_allowing_loopback_lets_a_local_receiver_register_and_nothing_else() -> None:
    for url in ("http://127.0.0.1:9000/hook", "http://localhost:9000/", "https://[::1]/"):
        assert acceptable_webhook_url(url, allow_insecure=True, allow_loopback=True) is None
    for url in (
        "http://10.0.0.5/",
        "http://0:9000/",
        "http://kafka:9092/",
        "http://169.254.169.254/",
    ):
        assert acceptable_webhook_url(url, allow_insecure=True, allow_loopback=True) is not None


def test_webhook_url_settings_are_off_by_default_and_in_every_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("METRICS_WEBHOOK_ALLOW_INSECURE_URLS", "METRICS_WEBHOOK_ALLOW_LOOPBACK"):
        monkeypatch.delenv(name, raising=False)
    settings = MetricsSettings(_env_file=None)
    assert not settings.webhook_allow_insecure_urls
    assert not settings.webhook_allow_loopback
    deploy = Path(__file__).parents[2] / "deploy"
    for path in deploy.rglob("*"):
        if path.is_file() and path.suffix in {".yaml", ".yml", ".example", ".env", ""}:
            assert "WEBHOOK_ALLOW" not in path.read_text(errors="ignore"), path


def test_linkedin_engagement_is_likes_and_comments_from_social_actions() -> None:
    body = {
        "likesSummary": {"totalLikes": 7, "likedByCurrentUser": False},
        "commentsSummary": {"aggregatedTotalComments": 2, "totalFirstLevelComments": 1},
    }
    metrics, raw = linkedin_engagement(body)
    assert (metrics.likes, metrics.comments, metrics.total_interactions) == (7, 2, 9)
    assert (metrics.views, metrics.shares, metrics.reach) == (None, None, None)
    assert raw == {"likes": 7, "comments": 2}
    # A summary LinkedIn leaves out, or a count that is no count, is unknown, not zero.
    partial, raw = linkedin_engagement({"likesSummary": {"totalLikes": True}})
    assert (partial.likes, partial.comments, partial.total_interactions) == (None, None, None)
    assert raw == {}
