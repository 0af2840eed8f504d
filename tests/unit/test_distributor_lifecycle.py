"""The rules for a job's update and closure (pure: rows in, changes out)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from schemas.platforms import Platform
from schemas.publish import PostContent, PublishAction, PublishCommand, make_post_key
from services.distributor.domain import Skip
from services.distributor.lifecycle import INSTAGRAM_NO_EDIT, PlannedPost, on_close, on_update
from services.distributor.models import Connection
from services.distributor.schedule import PostState

TENANT = uuid4()
FB = Connection(uuid4(), TENANT, Platform.FACEBOOK, "page-1", "Page", "active")
IG = Connection(uuid4(), TENANT, Platform.INSTAGRAM, "ig-1", "IG", "active")
DUE = datetime(2026, 12, 1, tzinfo=UTC)


def command(connection: Connection, revision: int, text: str = "hello") -> PublishCommand:
    return PublishCommand(
        post_key=make_post_key(TENANT, "job-1", connection.connection_id, revision),
        platform=connection.platform,
        connection_id=connection.connection_id,
        account_id=connection.account_id,
        job_id="job-1",
        revision=revision,
        content=PostContent(text=text),
    )


def row(connection: Connection, revision: int, state: PostState) -> PlannedPost:
    key = make_post_key(TENANT, "job-1", connection.connection_id, revision)
    return PlannedPost(
        key, connection.connection_id, connection.platform, PublishAction.PUBLISH, revision,
        state, DUE,
    )  # fmt: skip


def test_pending_posts_are_replaced_by_the_new_revision() -> None:
    rows = [row(FB, 1, PostState.SCHEDULED), row(IG, 1, PostState.AWAITING_APPROVAL)]
    changes = on_update(TENANT, rows, [command(FB, 2), command(IG, 2)], edit_live_posts=True)
    assert {c.post_key for c in changes.cancel} == {r.post_key for r in rows}
    assert all("superseded by revision 2" in c.reason for c in changes.cancel)
    assert [c.post_key for c in changes.plan] == [command(FB, 2).post_key, command(IG, 2).post_key]
    assert all(c.action is PublishAction.PUBLISH for c in changes.plan)


def test_live_facebook_post_is_edited_and_instagram_reports_it_cannot_be() -> None:
    rows = [row(FB, 1, PostState.SENT), row(IG, 1, PostState.SENT)]
    changes = on_update(
        TENANT, rows, [command(FB, 2, "new"), command(IG, 2, "new")], edit_live_posts=True
    )
    assert changes.cancel == []
    [edit] = changes.plan
    assert edit.action is PublishAction.EDIT
    assert edit.original_post_key == rows[0].post_key
    assert edit.post_key == make_post_key(TENANT, "job-1", FB.connection_id, 2, PublishAction.EDIT)
    assert edit.content.text == "new"
    [(ig_edit, reason)] = changes.unsupported_edits
    assert ig_edit.action is PublishAction.EDIT
    assert reason == INSTAGRAM_NO_EDIT


def test_edit_policy_ignore_leaves_live_posts_alone() -> None:
    rows = [row(FB, 1, PostState.SENT)]
    changes = on_update(TENANT, rows, [command(FB, 2)], edit_live_posts=False)
    assert changes.plan == []
    assert changes.cancel == []
    assert changes.unsupported_edits == []


def test_later_edit_still_points_at_the_first_publish() -> None:
    first = row(FB, 1, PostState.SENT)
    edit_row = PlannedPost(
        make_post_key(TENANT, "job-1", FB.connection_id, 2, PublishAction.EDIT),
        FB.connection_id, Platform.FACEBOOK, PublishAction.EDIT, 2, PostState.SENT, DUE,
    )  # fmt: skip
    changes = on_update(TENANT, [first, edit_row], [command(FB, 3)], edit_live_posts=True)
    assert [c.original_post_key for c in changes.plan] == [first.post_key]


def test_a_connection_never_planned_gets_its_first_post_on_update() -> None:
    changes = on_update(
        TENANT, [row(FB, 1, PostState.SENT)], [command(IG, 2)], edit_live_posts=True
    )
    assert [c.post_key for c in changes.plan] == [command(IG, 2).post_key]


def test_an_operator_cancellation_is_not_overturned_by_an_update() -> None:
    changes = on_update(
        TENANT, [row(FB, 1, PostState.CANCELLED)], [command(FB, 2)], edit_live_posts=True
    )
    assert changes.plan == []
    assert changes.cancel == []


def test_a_skip_cancels_what_is_pending_and_is_reported() -> None:
    skip = Skip(IG, "instagram disabled for this job")
    changes = on_update(TENANT, [row(IG, 1, PostState.SCHEDULED)], [skip], edit_live_posts=True)
    assert [c.reason for c in changes.cancel] == ["instagram disabled for this job"]
    assert changes.skips == [skip]
    # Once out, a post is not taken down by a later skip (that is what closing is for).
    changes = on_update(TENANT, [row(IG, 1, PostState.SENT)], [skip], edit_live_posts=True)
    assert changes.cancel == []
    assert changes.skips == []


def test_close_cancels_pending_and_deletes_what_was_sent() -> None:
    sent_fb, sent_ig = row(FB, 1, PostState.SENT), row(IG, 1, PostState.SENT)
    pending = row(FB, 2, PostState.HELD)
    commands = {sent_fb.post_key: command(FB, 1), sent_ig.post_key: command(IG, 1)}
    changes = on_close(
        TENANT,
        "job-1",
        revision=2,
        rows=[sent_fb, sent_ig, pending],
        commands=commands,
        reason="filled",
    )
    assert [(c.post_key, c.reason) for c in changes.cancel] == [
        (pending.post_key, "job closed: filled")
    ]
    deletes = {d.original_post_key: d for d in changes.plan}
    assert set(deletes) == {sent_fb.post_key, sent_ig.post_key}
    for original, delete in deletes.items():
        assert delete.action is PublishAction.DELETE
        connection_id: UUID = delete.connection_id
        assert delete.post_key == make_post_key(
            TENANT, "job-1", connection_id, 2, PublishAction.DELETE
        )
        assert delete.post_key != original


def test_close_of_a_job_with_nothing_sent_only_cancels() -> None:
    changes = on_close(
        TENANT, "job-1", revision=1, rows=[row(FB, 1, PostState.SCHEDULED)], commands={}, reason=""
    )
    assert [c.reason for c in changes.cancel] == ["job closed"]
    assert changes.plan == []
