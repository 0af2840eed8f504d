"""Pure (no HTTP) pieces: counters, field parsing, container state machine, faults, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.graph_sandbox import FaultRule, GraphError, SandboxState
from devtools.graph_sandbox.faults import FaultBook
from devtools.graph_sandbox.instagram import container_status
from devtools.graph_sandbox.models import IgContainer
from devtools.graph_sandbox.params import parse_fields
from devtools.graph_sandbox.usage import PublishWindow, RollingCounter

from .helpers import FakeClock

WINDOW = 3600.0
BUCKET = 60.0


def _expected(events: list[float], now: float) -> int:
    # An event counts while its minute bucket overlaps the window ending at `now`.
    return sum(1 for t in events if (t - t % BUCKET) + BUCKET > now - WINDOW)


@given(st.lists(st.floats(min_value=0, max_value=20_000), max_size=80), st.floats(0, 10_000))
def test_rolling_counter_matches_reference(offsets: list[float], extra: float) -> None:
    events = sorted(offsets)
    counter = RollingCounter(WINDOW, BUCKET)
    for index, t in enumerate(events):
        assert counter.add(t) == _expected(events[: index + 1], t)
    now = (events[-1] if events else 0.0) + extra
    assert counter.total(now) == _expected(events, now)


@given(
    st.lists(st.floats(min_value=0, max_value=7_000), min_size=1, max_size=60), st.integers(0, 30)
)
def test_seconds_until_at_most_is_exact_enough(offsets: list[float], limit: int) -> None:
    events = sorted(offsets)
    counter = RollingCounter(WINDOW, BUCKET)
    for t in events:
        counter.add(t)
    now = events[-1]
    wait = counter.seconds_until_at_most(now, limit)
    # Query the earlier instant first: the counter only moves forward in time.
    if wait > 0:
        assert counter.total(now + wait - 1e-3) > limit
    assert counter.total(now + wait) <= limit


def test_publish_window_moves() -> None:
    window = PublishWindow(100.0)
    for t in (0.0, 10.0, 50.0):
        window.add(t)
    assert window.count(60.0) == 3
    assert window.count(105.0) == 2
    assert window.count(150.0) == 0


def test_parse_fields_keeps_nested_modifiers() -> None:
    specs = parse_fields(
        "id, reactions.summary(total_count).limit(0),"
        "comments.summary(true).limit(0),children{id,media_url}"
    )
    assert [(s.name, s.modifiers) for s in specs] == [
        ("id", ""),
        ("reactions", ".summary(total_count).limit(0)"),
        ("comments", ".summary(true).limit(0)"),
        ("children", "{id,media_url}"),
    ]


@given(st.lists(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), min_size=1, max_size=8))
def test_parse_fields_round_trips_plain_names(names: list[str]) -> None:
    assert [s.name for s in parse_fields(",".join(names))] == names


def _container(state: SandboxState, ready_in: float, **kwargs: object) -> IgContainer:
    now = state.now()
    container = IgContainer(
        id=state.new_ig_id(),
        ig_user_id="ig",
        media_type="REELS",
        created_at=now,
        ready_at=now + ready_in,
        **kwargs,  # type: ignore[arg-type]
    )
    state.containers[container.id] = container
    return container


def test_container_state_machine() -> None:
    clock = FakeClock()
    state = SandboxState(clock=clock)
    reel = _container(state, 2.0)
    assert container_status(state, reel, clock.now) == "IN_PROGRESS"
    clock.advance(2.0)
    assert container_status(state, reel, clock.now) == "FINISHED"
    clock.advance(86_400)
    assert container_status(state, reel, clock.now) == "EXPIRED"
    reel.published_media_id = "m"
    assert container_status(state, reel, clock.now) == "PUBLISHED"
    broken = _container(state, 0.0, error_subcode=2207053)
    assert container_status(state, broken, clock.now) == "ERROR"


def test_carousel_status_follows_children() -> None:
    clock = FakeClock()
    state = SandboxState(clock=clock)
    slow = _container(state, 5.0, is_carousel_item=True)
    fast = _container(state, 0.0, is_carousel_item=True)
    parent = _container(state, 0.0, children=(slow.id, fast.id))
    assert container_status(state, parent, clock.now) == "IN_PROGRESS"
    clock.advance(5.0)
    assert container_status(state, parent, clock.now) == "FINISHED"
    fast.error_subcode = 2207026
    assert container_status(state, parent, clock.now) == "ERROR"


def test_fault_book_first_match_and_consumption() -> None:
    book = FaultBook()
    first = book.add(FaultRule(action="http_500", operation="fb.*", times=1))
    second = book.add(FaultRule(action="error", code=4, times=None))
    assert book.match("POST", "/1/feed", "fb.feed", "1") is first
    assert book.match("POST", "/1/feed", "fb.feed", "1") is second
    assert book.match("GET", "/x", "ig.media.get", None) is second
    assert first.remaining == 0
    assert [v["id"] for v in book.views()] == [second.id, first.id]


def test_fault_rule_validation() -> None:
    with pytest.raises(ValueError, match="code"):
        FaultRule(action="error")
    with pytest.raises(ValueError, match="path_pattern"):
        FaultRule(action="http_500", path_pattern="(")
    assert FaultRule.model_validate({"latency_ms": 10}).action == "latency"


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [(1, 500, True), (2, 500, True), (4, 403, True), (100, 400, False), (190, 400, False)],
)
def test_error_defaults(code: int, status: int, transient: bool) -> None:
    error = GraphError(code)
    assert error.http_status == status
    body = error.body("trace")["error"]
    assert body["is_transient"] is transient
    assert body["fbtrace_id"] == "trace"
    assert "error_subcode" not in body


def test_error_subcode_fills_user_text() -> None:
    body = GraphError(9007, 2207027).body()["error"]
    assert body["message"] == "Media ID is not available"
    assert body["error_subcode"] == 2207027
    assert (
        body["error_user_msg"] == "The media is not ready for publishing, please wait for a moment"
    )


def test_new_object_ids_never_collide_with_account_ids() -> None:
    from devtools.graph_sandbox.settings import SandboxSettings
    from devtools.graph_sandbox.state import _FB_ID_BASE, SandboxState

    state = SandboxState(SandboxSettings())
    taken = str(_FB_ID_BASE + 1)
    state.seen_accounts[taken] = "facebook"
    assert state.new_fb_id() != taken
    assert state.new_fb_id() != taken
