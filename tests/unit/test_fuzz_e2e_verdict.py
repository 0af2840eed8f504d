"""The extreme-events campaign's verdict: it passes a healthy run and fails every way a
run can go wrong (tests/suites/fuzz_e2e.py, pure part)."""

from __future__ import annotations

from dataclasses import replace

from tests.suites.extreme import Kind, OddEvent, Route
from tests.suites.fuzz_e2e import (
    ODD_BATCH,
    Edge,
    Letter,
    NormalBatch,
    Observed,
    OddBatch,
    Outcome,
    ReadySample,
    Trace,
    interleave,
    judge,
    judge_event,
    owner,
)

SERVICES = ("ingest", "distributor", "publisher-facebook", "publisher-instagram", "metrics")


def odd(case: int, route: Route = Route.HTTP_SINGLE) -> OddEvent:
    return OddEvent(case, f"xabcdef{case:06d}-", Kind.EXTREME, route, b"{}", label="title=200ch")


def ready(name: str) -> ReadySample:
    return ReadySample(name, True)


def healthy() -> Observed:
    """Three odd events (posted, refused, dead-lettered), two normal jobs posted, every
    group back to 0, every service ready throughout."""
    return Observed(
        events=[odd(0), odd(1), odd(2, Route.INCOMING)],
        traces={
            0: Trace(
                Edge("accepted"),
                known=True,
                planned=["sent", "sent"],
                results=[("posted", ""), ("posted", "")],
            ),
            1: Trace(Edge("refused", "HTTP 422")),
            2: Trace(
                Edge("accepted"),
                letters=[Letter("jobs.incoming.dlq", "ingest-incoming", "payload.title: too long")],
            ),
        },
        normal={"n-1": ["posted", "posted"], "n-2": ["posted", "posted"]},
        lag_samples=[{"distributor": 40, "metrics": 3}, {"distributor": 0, "metrics": 0}],
        final_lag={"distributor": 0, "metrics": 0, "ingest-incoming": 0},
        lag_zero_after=4.0,
        ready_samples=[ready(name) for name in SERVICES],
        final_ready={name: ready(name) for name in SERVICES},
        seconds=12.0,
        seed=7,
    )


def test_a_healthy_run_passes_with_its_counts_in_one_line() -> None:
    verdict = judge(healthy())
    assert verdict.ok, verdict.details()
    line = verdict.line()
    assert line.startswith("FUZZ-E2E PASS: 3 odd events (1 posted, 1 refused, 1 dead-lettered")
    assert "2/2 normal jobs posted" in line
    assert "max lag 43" in line
    assert "seed 7" in line


def test_a_stalled_group_fails_and_a_service_ready_while_stalled_is_named() -> None:
    seen = replace(healthy(), final_lag={"distributor": 12, "metrics": 0}, lag_zero_after=None)
    verdict = judge(seen)
    assert not verdict.ok
    assert "stalled: distributor lag 12" in verdict.line()
    assert any(
        "distributor said ready while distributor was stalled" in f for f in verdict.findings
    )


def test_a_stalled_group_whose_service_says_not_ready_with_a_reason_is_still_a_stall() -> None:
    final = {**healthy().final_ready, "distributor": ReadySample("distributor", False, "stalled")}
    seen = replace(healthy(), final_lag={"distributor": 12}, final_ready=final)
    findings = judge(seen).findings
    assert any(f.startswith("stalled: group distributor") for f in findings)
    assert not any("said ready while" in f for f in findings)


def test_a_normal_job_not_posted_everywhere_fails() -> None:
    seen = replace(healthy(), normal={"n-1": ["posted", "posted"], "n-2": ["posted"]})
    verdict = judge(seen)
    assert not verdict.ok
    assert "1/2 normal jobs posted" in verdict.line()
    assert "normal jobs not posted: 1/2 (n-2 ['posted'])" in verdict.findings


def test_a_normal_job_in_a_dead_letter_topic_fails() -> None:
    seen = replace(healthy(), normal_letters=["n-1 in jobs.events.dlq: value out of range"])
    assert not judge(seen).ok


def test_an_accepted_event_found_nowhere_is_unhandled() -> None:
    seen = healthy()
    seen.traces[0] = Trace(Edge("accepted"))
    verdict = judge(seen)
    assert not verdict.ok
    assert verdict.outcomes[Outcome.UNHANDLED] == 1
    # The offending event is described (its case, route and what is odd), never a key.
    assert any("#0 extreme via http-single" in f and "title=200ch" in f for f in verdict.findings)


def test_an_event_missing_from_the_traces_is_a_finding() -> None:
    seen = healthy()
    del seen.traces[1]
    assert judge(seen).outcomes[Outcome.EDGE_ERROR] == 1


def test_posts_still_on_their_way_are_stuck() -> None:
    assert judge_event(Trace(Edge("accepted"), known=True, planned=["scheduled"]))[0] is (
        Outcome.STUCK
    )
    sent_no_result = Trace(Edge("accepted"), known=True, planned=["sent", "sent"],
                           results=[("posted", "")])  # fmt: skip
    assert judge_event(sent_no_result)[0] is Outcome.STUCK
    retrying = Trace(Edge("accepted"), known=True, planned=["sent"],
                     results=[("retry_scheduled", "")])  # fmt: skip
    assert judge_event(retrying)[0] is Outcome.STUCK


def test_a_dead_letter_without_a_reason_fails() -> None:
    trace = Trace(Edge("accepted"), letters=[Letter("publish.facebook.dlq", "publisher", " ")])
    assert judge_event(trace)[0] is Outcome.NO_REASON


def test_a_5xx_at_the_edge_fails_and_a_4xx_is_a_refusal() -> None:
    assert judge_event(Trace(Edge("error", "HTTP 500")))[0] is Outcome.EDGE_ERROR
    assert judge_event(Trace(Edge("refused", "HTTP 413")))[0] is Outcome.REFUSED


def test_a_post_that_failed_says_why_or_is_a_finding() -> None:
    said = Trace(Edge("accepted"), known=True, planned=["sent"],
                 results=[("failed", "permanent caption too long")])  # fmt: skip
    assert judge_event(said)[0] is Outcome.GAVE_REASON
    silent = replace(said, results=[("failed", "")])
    assert judge_event(silent)[0] is Outcome.NO_REASON


def test_a_job_scheduled_beyond_the_run_or_closed_is_handled_without_a_post() -> None:
    later = Trace(Edge("accepted"), known=True, planned=["later", "later"],
                  results=[("scheduled", ""), ("scheduled", "")])  # fmt: skip
    assert judge_event(later)[0] is Outcome.APPLIED
    assert judge_event(Trace(Edge("accepted"), known=True))[0] is Outcome.APPLIED


def test_not_ready_must_say_why_and_all_must_be_ready_at_the_end() -> None:
    with_reason = ReadySample("ingest", False, "consumers")
    assert judge(replace(healthy(), ready_samples=[with_reason])).ok
    without = ReadySample("ingest", False, "")
    findings = judge(replace(healthy(), ready_samples=[without])).findings
    assert any("ingest said not ready without a reason" in f for f in findings)
    final = {**healthy().final_ready, "metrics": ReadySample("metrics", False, "database")}
    findings = judge(replace(healthy(), final_ready=final)).findings
    assert any("metrics not ready at the end (database)" in f for f in findings)


def test_a_service_that_refuses_connections_is_down_and_a_slow_answer_is_not() -> None:
    down = ReadySample("metrics", None, "connection refused", down=True)
    assert not judge(replace(healthy(), ready_samples=[down])).ok
    slow = ReadySample("metrics", None, "ReadTimeout")
    assert judge(replace(healthy(), ready_samples=[slow])).ok


def test_no_lag_measured_at_the_end_fails() -> None:
    assert not judge(replace(healthy(), final_lag={})).ok


def test_groups_belong_to_the_service_whose_name_they_start_with() -> None:
    assert owner("publisher-facebook-operator", SERVICES) == "publisher-facebook"
    assert owner("ingest-incoming", SERVICES) == "ingest"
    assert owner("distributor", SERVICES) == "distributor"
    assert owner("somebody-else", SERVICES) == "somebody-else"


def test_interleave_sends_every_event_once_and_every_normal_job_between_them() -> None:
    routes = [Route.HTTP_BATCH, Route.INCOMING, Route.HTTP_SINGLE]
    events = [odd(n, routes[n % 3]) for n in range(95)]
    normal = [f"n-{n}" for n in range(12)]
    steps = interleave(events, normal, 5)
    singles = [s for s in steps if isinstance(s, OddEvent)]
    batches = [s for s in steps if isinstance(s, OddBatch)]
    jobs = [s for s in steps if isinstance(s, NormalBatch)]
    cases = [e.case for e in singles] + [e.case for b in batches for e in b.events]
    assert sorted(cases) == list(range(95))
    assert [j for b in jobs for j in b.jobs] == normal
    assert all(len(b.events) <= ODD_BATCH for b in batches)
    assert all(e.route is Route.HTTP_BATCH for b in batches for e in b.events)
    # Normal jobs go between the odd ones, not all at the end.
    assert steps.index(jobs[0]) < len(steps) // 2


def test_a_repeated_event_id_counts_as_refused_not_as_lost() -> None:
    from tests.suites.fuzz_e2e import _outcome_edge

    assert _outcome_edge("duplicate", {}).status == "refused"
    assert _outcome_edge("accepted", {}).status == "accepted"
