"""Console sessions: ids are random and stored by digest, sessions end by age or idleness,
CSRF tokens are per session and compared exactly."""

from __future__ import annotations

from services.console.sessions import Role, SessionStore
from tests.clock import ManualClock


def test_a_session_is_found_by_its_id_only_and_never_holds_the_id() -> None:
    store = SessionStore(lifetime=3600, idle=600, clock=ManualClock())
    session_id, session = store.create("jc_secret-key", Role.OPERATOR)
    assert store.get(session_id) is session
    assert session.is_operator
    assert store.get(session_id + "x") is None
    assert store.get(None) is None
    assert store.get("") is None
    # The store keeps digests: the cookie value is nowhere in it, nor the key in its repr.
    assert session_id not in repr(vars(store))
    assert "jc_secret-key" not in repr(session)
    assert session.csrf_token not in repr(session)


def test_ids_and_csrf_tokens_are_distinct_per_session() -> None:
    store = SessionStore(lifetime=3600, idle=600, clock=ManualClock())
    first_id, first = store.create("k1", Role.TENANT)
    second_id, second = store.create("k1", Role.TENANT)
    assert first_id != second_id
    assert first.csrf_token != second.csrf_token
    assert len(first_id) >= 40


def test_csrf_token_must_match_exactly() -> None:
    store = SessionStore(lifetime=3600, idle=600, clock=ManualClock())
    _, session = store.create("k", Role.TENANT)
    assert session.csrf_ok(session.csrf_token)
    assert not session.csrf_ok(None)
    assert not session.csrf_ok("")
    assert not session.csrf_ok(session.csrf_token[:-1])
    assert not session.csrf_ok(session.csrf_token + "a")


def test_sessions_end_when_idle_or_too_old_and_on_sign_out() -> None:
    clock = ManualClock()
    store = SessionStore(lifetime=3600, idle=600, clock=clock)
    session_id, _ = store.create("k", Role.TENANT)
    clock.now += 599
    assert store.get(session_id) is not None  # used: the idle clock restarts
    clock.now += 599
    assert store.get(session_id) is not None
    clock.now += 600
    assert store.get(session_id) is None  # idle too long
    assert len(store) == 0

    busy_id, _ = store.create("k", Role.TENANT)
    for _ in range(7):
        clock.now += 500
        store.get(busy_id)
    clock.now += 100
    assert store.get(busy_id) is None  # an hour after sign-in, however busy

    ended_id, _ = store.create("k", Role.TENANT)
    store.end(ended_id)
    assert store.get(ended_id) is None
    store.end(None)  # signing out without a session is harmless


def test_the_store_is_bounded_and_drops_the_least_recently_used() -> None:
    clock = ManualClock()
    store = SessionStore(lifetime=3600, idle=600, clock=clock, limit=3)
    ids = []
    for _ in range(3):
        clock.now += 1
        ids.append(store.create("k", Role.TENANT)[0])
    clock.now += 1
    store.get(ids[0])  # the first is used again: the second is now the oldest
    store.create("k", Role.TENANT)
    assert store.get(ids[1]) is None
    assert store.get(ids[0]) is not None
    assert len(store) == 3
