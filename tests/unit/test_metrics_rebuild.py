"""The rebuild's pure parts: how partitions are split between loader processes, the build
queue shared by two connections, the collector pause, the processed_events fill, and the
loader's refusal of invalid records."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import uuid

import pytest

from jobcast.topics import PUBLISH_RESULTS
from services.metrics.readmodel.materialise import fill_from_staging
from services.metrics.rebuild.build import (
    BuildStep,
    RebuildReport,
    StepRunner,
    _follow_loader,
    build_plan,
    run_all,
    run_steps,
)
from services.metrics.rebuild.load import (
    _PARSERS,
    Span,
    cyclic_gc_paused,
    split_spans,
)

# Function only: run after the integration tests (`-k rebuild`), the last test here would
# otherwise be charged with the session's Kafka and Postgres teardown.
pytestmark = pytest.mark.timeout(10, func_only=True)


def _size(group: list[Span]) -> int:
    return sum(stop - first for _, _, first, stop in group)


def test_split_spans_balances_record_counts_and_keeps_every_span_once() -> None:
    spans: list[Span] = [
        ("publish.results", p, 100, 100 + size)
        for p, size in enumerate([500, 400, 300, 300, 200, 100])
    ]
    groups = split_spans(spans, 2)
    assert len(groups) == 2
    assert sorted(s for g in groups for s in g) == sorted(spans)
    assert sorted(_size(g) for g in groups) == [900, 900]


def test_split_spans_leaves_out_empty_spans_and_groups() -> None:
    spans: list[Span] = [("publish.results", 0, 5, 5), ("engagement.events", 0, 0, 3)]
    assert split_spans(spans, 4) == [[("engagement.events", 0, 0, 3)]]
    assert split_spans([("publish.results", 0, 7, 7)], 2) == []


def test_split_spans_with_one_group_takes_everything() -> None:
    spans: list[Span] = [("publish.results", p, 0, 10) for p in range(6)]
    assert [sorted(g) for g in split_spans(spans, 1)] == [spans]
    assert len(split_spans(spans, 0)) == 1  # never zero loaders


async def test_run_steps_runs_each_step_once_and_only_after_the_steps_it_waits_for() -> None:
    finished: list[str] = []
    steps = [
        BuildStep("a0", ("fill a part 0",)),
        BuildStep("a1", ("fill a part 1",)),
        BuildStep("b", ("fill b",)),
        BuildStep("a: index", ("index a",), ("a0", "a1")),
        BuildStep("b: index", ("index b",), ("b",)),
        BuildStep("a: analyze", ("analyze a",), ("a0", "a1", "a: index")),
    ]

    async def runner(step: BuildStep) -> None:
        await asyncio.sleep(0.03 if step.name == "a1" else 0.005)
        finished.append(step.name)

    await run_steps(steps, [runner, runner])
    assert sorted(finished) == sorted(s.name for s in steps)
    for step in steps:
        assert all(finished.index(before) < finished.index(step.name) for before in step.after)


async def test_run_steps_shares_the_work_between_runners() -> None:
    ran_on: dict[str, int] = {}

    def runner(number: int) -> StepRunner:
        async def run(step: BuildStep) -> None:
            ran_on[step.name] = number
            await asyncio.sleep(0.02)

        return run

    parts = [BuildStep(f"part {i}", ()) for i in range(2)]
    indexes = [BuildStep(f"index {i}", (), ("part 0", "part 1")) for i in range(4)]
    await run_steps([*parts, *indexes], [runner(1), runner(2)])
    assert {ran_on["part 0"], ran_on["part 1"]} == {1, 2}
    assert {ran_on[s.name] for s in indexes} == {1, 2}


async def test_run_steps_stops_at_the_first_failure() -> None:
    started: list[str] = []

    async def runner(step: BuildStep) -> None:
        started.append(step.name)
        if step.name == "bad":
            raise ValueError(step.name)
        await asyncio.sleep(0.01)

    steps = [BuildStep("bad", ()), BuildStep("ok", ()), BuildStep("after bad", (), ("bad",))]
    with pytest.raises(ValueError, match="bad"):
        await run_steps(steps, [runner, runner])
    assert "after bad" not in started


async def test_run_steps_refuses_a_step_waiting_for_a_step_that_does_not_exist() -> None:
    async def runner(_step: BuildStep) -> None:
        return None

    with pytest.raises(ValueError, match="never ran"):
        await run_steps([BuildStep("a", ()), BuildStep("b", (), ("c",))], [runner, runner])


def test_build_plan_orders_fills_then_indexes_then_analyze_with_job_posts_first() -> None:
    fills = {"processed_events": ["pe"], "job_posts": ["jp 0", "jp 1"]}
    indexes: dict[str, list[tuple[str, ...]]] = {
        "job_posts": [("create pkey", "add constraint")],
        "processed_events": [("pk",)],
    }
    plan = build_plan(fills, indexes)
    assert [s.name for s in plan] == [
        "job_posts: fill 0",
        "job_posts: fill 1",
        "processed_events: fill 0",
        "job_posts: index 0",
        "processed_events: index 0",
        "job_posts: analyze",
        "processed_events: analyze",
    ]
    by_name = {s.name: s for s in plan}
    assert by_name["job_posts: index 0"].statements == ("create pkey", "add constraint")
    assert by_name["job_posts: index 0"].after == ("job_posts: fill 0", "job_posts: fill 1")
    assert by_name["job_posts: analyze"].after == (
        "job_posts: fill 0",
        "job_posts: fill 1",
        "job_posts: index 0",
    )
    assert by_name["processed_events: analyze"].statements == (
        "ANALYZE metrics_rebuild.processed_events",
    )


def test_job_posts_fill_is_one_statement_over_the_whole_staging_table() -> None:
    whole = fill_from_staging("s", "s.r", "s.e")["job_posts"]
    assert len(whole) == 1
    assert "hashtext" not in whole[0]
    assert "FROM s.r\n" in whole[0]


def test_cyclic_gc_is_paused_inside_and_restored_after_even_on_error() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_cyclic_gc_stays_off_if_it_was_off() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_processed_events_fill_drops_distinct_only_when_ids_are_taken_as_unique() -> None:
    safe = fill_from_staging("s", "s.r", "s.e")["processed_events"][0]
    optimistic = fill_from_staging("s", "s.r", "s.e", ids_unique=True)["processed_events"][0]
    assert " UNION SELECT" in safe
    assert "UNION ALL" not in safe
    assert " UNION ALL SELECT" in optimistic


# --------------------------------------------------------------------------- validation
_POST_KEY = "pk_" + "0123456789abcdef" * 2


def _result(**payload: object) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "publish.completed",
        "tenant_id": str(uuid.uuid4()),
        "occurred_at": "2026-06-01T10:00:00+02:00",
        "payload": {
            "post_key": _POST_KEY,
            "platform": "facebook",
            "connection_id": str(uuid.uuid4()),
            "job_id": " job-1 ",
            "status": "posted",
            "attempt": 2,
            "platform_post_id": "123_456",
            "permalink": "https://facebook.com",
            "completed_at": "2026-06-01T10:00:00.123+02:00",
            "requested_at": "2026-06-01T07:59:59Z",
            "http_status": 200,
            "latency_ms": 180,
            **payload,
        },
    }


_VALID_RESULTS = [
    _result(),
    _result(
        status="retry_scheduled",
        permalink=None,
        platform_post_id=None,
        error={"error_class": "transient", "code": 2, "message": " retry "},
        next_attempt_at="2026-06-01T11:00:00-05:00",
    ),
    _result(status="scheduled", attempt=0, requested_at=None, http_status=None),
]
_INVALID_RESULTS = [
    _result(completed_at="2026-06-01T10:00:00"),  # no offset
    _result(permalink="ftp://example.com/x"),
    _result(permalink="not a url"),
    _result(post_key="pk_short"),
    _result(status="teleported"),
    _result(attempt=-1),
    _result(unexpected="field"),
    {**_result(), "event_type": "publish.requested"},
    {**_result(), "tenant_id": "not-a-uuid"},
]


def test_loader_accepts_valid_and_refuses_invalid_records() -> None:
    parse = _PARSERS[PUBLISH_RESULTS]
    assert all(parse(json.dumps(e).encode()) is not None for e in _VALID_RESULTS)
    assert all(parse(json.dumps(e).encode()) is None for e in _INVALID_RESULTS)
    assert parse(b"{not json") is None
    assert parse(None) is None


async def test_run_all_raises_the_first_failure_itself_and_cancels_the_rest() -> None:
    cancelled = asyncio.Event()

    async def fails() -> None:
        raise KeyError("first")

    async def waits() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(KeyError, match="first"):
        await run_all([waits(), fails()])
    assert cancelled.is_set()


# --------------------------------------------------------------------------- loader protocol
async def _loader_like(script: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", script,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_follow_loader_counts_each_chunk_and_keeps_the_peak_memory() -> None:
    process = await _loader_like(
        'print(\'{"events": 5, "invalid": 1}\'); print(\'{"events": 3, "invalid": 0}\');'
        " print('{\"peak_rss_mib\": 12.5}')"
    )
    report, seen = RebuildReport(loader_peak_rss_mib=7.0), []
    await _follow_loader(process, lambda events, invalid: seen.append((events, invalid)), report)
    assert seen == [(5, 1), (3, 0)]
    assert report.loader_peak_rss_mib == 12.5


async def test_follow_loader_raises_with_the_loaders_error_when_it_fails() -> None:
    process = await _loader_like(
        "import sys; print('boom: no database', file=sys.stderr); sys.exit(3)"
    )
    with pytest.raises(RuntimeError, match=r"exit 3\)[\s\S]*boom: no database"):
        await _follow_loader(process, lambda _events, _invalid: None, RebuildReport())
