"""Chaos, quick version: 300 jobs (60 of them then updated, 35 closed) while services are
SIGKILLed and infra restarts.

Runs on a stack of its own (tests/suites/stack.py): it restarts the broker and Postgres,
which the session's shared ones must never be. `make chaos` is the full run (10,000 jobs,
200 connections); deselect this one with `-m "not chaos"`.
"""

from __future__ import annotations

import pytest

from tests.suites.chaos import ChaosPlan, run_chaos
from tests.suites.lifecycle import Fate
from tests.suites.verdict import show

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(420)]

QUICK = ChaosPlan(jobs=300, tenants=2, connections=20, submit_seconds=20, chaos_seconds=45)


def test_every_job_is_posted_once_or_says_why_despite_chaos(pytestconfig: pytest.Config) -> None:
    verdict = run_chaos(QUICK)
    show(pytestconfig, verdict.line())
    assert verdict.ok, verdict.details()
    assert verdict.chaos.kills.total() >= QUICK.min_kills
    assert verdict.chaos.broker_restarts == verdict.chaos.postgres_restarts == 1
    assert verdict.expected == 300 * (QUICK.connections // 2 - QUICK.disabled_per_tenant)
    # The lifecycle ran too: updates and closures raced the posting, and were carried out.
    assert verdict.follow_ups[Fate.UPDATED] == 60
    assert verdict.follow_ups[Fate.CLOSED] == 35
    assert verdict.changes["edit edited"] > 0
    assert verdict.changes["delete deleted"] > 0
