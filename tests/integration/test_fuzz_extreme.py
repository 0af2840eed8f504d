"""Extreme-but-valid events, quick version: 300 odd job events at the contract's limits
(and some malformed, some with odd Kafka headers) among 30 normal jobs.

Every normal job must be posted; every odd event posted, refused at the edge, dead-lettered
with a reason or handled without a post; every consumer group back to lag 0; `/readyz`
truthful throughout (tests/suites/fuzz_e2e.py). It runs on a stack of its own: an odd
record that wedges a consumer must not wedge every other test of the session behind it.
`make fuzz-e2e` is the full run (10,000 events); `JOBCAST_FUZZ_SEED` repeats a run.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.suites.fuzz_e2e import E2EPlan, run_private
from tests.suites.verdict import show

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SEED = int(os.environ.get("JOBCAST_FUZZ_SEED") or random.randrange(100_000))


def test_odd_events_at_the_limits_never_stall_the_pipeline(pytestconfig: pytest.Config) -> None:
    plan = E2EPlan(events=300, normal=30, seed=SEED, settle_seconds=60)
    verdict = run_private(plan)
    show(pytestconfig, verdict.line())
    assert verdict.ok, f"JOBCAST_FUZZ_SEED={SEED} repeats this run\n{verdict.details()}"
    assert verdict.normal_posted == plan.normal
    assert sum(verdict.outcomes.values()) == plan.events
