"""`make bench-peer`'s pure parts: the load plan, process-tree CPU, the peer's files, and
the figures, ratios and medians it prints."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from bench.load import Batch, Jobs, batch_plan, send_batches, tenant_accounts
from bench.peer_stack import PeerMissingError, check_peer, peer_jobs, read_pids, script_env
from bench.peer_summary import (
    JOBCAST,
    PEER,
    RunFigures,
    Spread,
    pairs,
    ratios,
    run_json,
    run_order,
    summary,
)
from bench.proc_cpu import ProcStat, tree_ticks


class TestLoadPlan:
    def test_two_thousand_jobs_in_forty_batches_of_fifty_tenants_taking_turns(self) -> None:
        job_ids = [f"j{n}" for n in range(2000)]
        plan = batch_plan(job_ids, tenants=10, size=50)
        assert len(plan) == 40
        assert {len(b.job_ids) for b in plan} == {50}
        assert [b.tenant for b in plan[:12]] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
        assert [j for b in plan for j in b.job_ids] == job_ids  # each once, in order

    def test_a_last_partial_batch_keeps_the_rest(self) -> None:
        plan = batch_plan([f"j{n}" for n in range(7)], tenants=2, size=3)
        assert [(b.tenant, len(b.job_ids)) for b in plan] == [(0, 3), (1, 3), (0, 1)]

    @pytest.mark.parametrize(("tenants", "size"), [(0, 50), (10, 0)])
    def test_refuses_an_empty_plan(self, tenants: int, size: int) -> None:
        with pytest.raises(ValueError, match="positive"):
            batch_plan(["j"], tenants, size)

    def test_each_load_has_a_prefix_of_its_own_that_a_like_pattern_finds(self) -> None:
        warmup, measured = Jobs.new(3, "warmup"), Jobs.new(3, "warmup")
        assert warmup.prefix != measured.prefix
        assert len(set(warmup.ids)) == 3
        assert all(j.startswith(warmup.prefix) for j in warmup.ids)
        assert not any(j.startswith(warmup.prefix) for j in measured.ids)
        assert warmup.pattern == f"{warmup.prefix}%"
        assert not set(warmup.prefix) & {"%", "_", "\\"}  # nothing LIKE would read as a wildcard

    def test_tenants_have_distinct_accounts_and_the_page_token(self) -> None:
        tenants = tenant_accounts(10, "peer")
        ids = [a for t in tenants for a in (t.page_id, t.instagram_id)]
        assert len(set(ids)) == 20
        assert len({t.name for t in tenants}) == 10
        assert all(t.name.startswith("peer-") and t.token == f"peer-{t.page_id}" for t in tenants)

    def test_never_more_requests_in_flight_than_asked(self) -> None:
        plan = batch_plan([f"j{n}" for n in range(40)], tenants=3, size=2)
        sent: list[Batch] = []
        outstanding = 0
        most = 0

        async def send(batch: Batch) -> None:
            nonlocal outstanding, most
            outstanding += 1
            most = max(most, outstanding)
            await asyncio.sleep(0.001)
            outstanding -= 1
            sent.append(batch)

        asyncio.run(send_batches(plan, send, in_flight=4))
        assert most == 4
        assert sorted(sent, key=plan.index) == plan


def stat(pid: int, ppid: int, ticks: int, child_ticks: int = 0) -> ProcStat:
    return ProcStat(pid, ppid, ticks, child_ticks)


class TestTreeTicks:
    def test_counts_the_roots_their_descendants_and_what_exited_children_used(self) -> None:
        stats = [
            stat(1, 0, 1000),  # init: not ours
            stat(10, 1, 5, child_ticks=7),  # postmaster; 7 from backends that exited
            stat(11, 10, 20),
            stat(12, 11, 3),  # a grandchild
            stat(20, 1, 100),  # another tree, not a root
            stat(30, 1, 4),
        ]
        assert tree_ticks([10, 30], stats) == 5 + 7 + 20 + 3 + 4

    def test_a_child_that_exits_moves_its_ticks_to_the_parent_and_the_sum_stays(self) -> None:
        alive = [stat(10, 1, 5), stat(11, 10, 20)]
        reaped = [stat(10, 1, 6, child_ticks=20)]
        assert tree_ticks([10], reaped) - tree_ticks([10], alive) == 1

    def test_a_pid_named_twice_or_gone_counts_once_or_not_at_all(self) -> None:
        stats = [stat(10, 1, 5), stat(11, 10, 2)]
        assert tree_ticks([10, 11, 10, 99], stats) == 7


class TestPeerFiles:
    def test_a_missing_peer_says_where_it_looked_and_which_flag_to_pass(
        self, tmp_path: Path
    ) -> None:
        absent = r"not at .*nowhere \(no such directory\).*--peer-dir"
        with pytest.raises(PeerMissingError, match=absent):
            check_peer(tmp_path / "nowhere")
        (tmp_path / "run.sh").write_text("")
        with pytest.raises(PeerMissingError, match=r"setup\.sh, stop\.sh missing"):
            check_peer(tmp_path)
        (tmp_path / "setup.sh").write_text("")
        (tmp_path / "stop.sh").write_text("")
        assert check_peer(tmp_path) == tmp_path.resolve()

    def test_reads_the_pids_run_sh_records(self) -> None:
        text = "101 redis\n102 postgres\n\n103 api\n104 worker1\n105 beat\n"
        assert read_pids(text) == {
            "redis": 101, "postgres": 102, "api": 103, "worker1": 104, "beat": 105,
        }  # fmt: skip

    def test_the_scripts_never_inherit_a_database_or_redis_url(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://jobcast")
        monkeypatch.setenv("REDIS_URL", "redis://elsewhere")
        env = script_env({"RUN_DIR": "/x"})
        assert "DATABASE_URL" not in env
        assert "REDIS_URL" not in env
        assert env["RUN_DIR"] == "/x"

    def test_the_peer_gets_the_same_job_content_without_fields_it_lacks(self) -> None:
        payload = {
            "job_id": "j1", "title": "Barista", "company": "Kopi", "location": "Ubud",
            "employment_type": "daily", "apply_url": "https://x/j1",
            "image_url": "https://x/j1.jpg", "description": "Mornings.",
        }  # fmt: skip
        body = peer_jobs("t1", [payload])
        assert body["tenant"] == "t1"
        assert body["jobs"] == [{k: v for k, v in payload.items() if k != "employment_type"}]


def run(system: str, **changes: object) -> RunFigures:
    figures: dict[str, object] = {
        "system": system, "jobs": 100, "seconds": 2.0, "machine_cpu": 3.0,
        "sandbox_cpu": 1.0, "stack_cpu": 1.5, "load_generator_cpu": 0.1,
        "latencies_ms": [float(n) for n in range(1, 201)], "graph_calls": 600,
        "statuses": {"posted": 200}, "load_average": 1.0,
    }  # fmt: skip
    return RunFigures(**{**figures, **changes})  # type: ignore[arg-type]


class TestFigures:
    def test_order_alternates_the_peer_first(self) -> None:
        assert run_order(2) == [PEER, JOBCAST, PEER, JOBCAST]
        with pytest.raises(ValueError, match="at least one pair"):
            run_order(0)

    def test_one_runs_figures(self) -> None:
        r = run(PEER)
        assert r.jobs_per_second == 50
        assert r.cpu_ms_per_job == 20  # (3.0 - 1.0) s / 100 jobs: the sandbox is excluded
        assert r.stack_cpu_ms_per_job == 16
        assert (r.p50_ms, r.p99_ms) == (100, 198)
        assert r.graph_calls_per_job == 6
        assert r.complete

    def test_a_run_with_unfinished_or_failed_posts_is_not_complete(self) -> None:
        assert not run(PEER, statuses={"posted": 150, "publishing": 50}).complete
        assert not run(PEER, statuses={"posted": 199, "failed": 1}).complete
        # A status final in jobcast is not one of the peer's.
        assert run(JOBCAST, statuses={"posted": 190, "skipped": 10}).complete
        assert not run(PEER, statuses={"posted": 190, "skipped": 10}).complete

    def test_no_posted_post_gives_no_latency_rather_than_zero(self) -> None:
        assert math.isnan(run(PEER, latencies_ms=[]).p99_ms)

    def test_ratios_are_jobcast_over_peer_of_the_same_pair(self) -> None:
        peer = run(PEER)
        ours = run(JOBCAST, seconds=1.0, machine_cpu=1.5, graph_calls=400,
                   latencies_ms=[n / 2 for n in range(1, 201)])  # fmt: skip
        r = ratios(peer, ours)
        assert r["jobs_per_second"] == 2.0
        assert r["cpu_ms_per_job"] == 0.25  # (1.5 - 1.0) against (3.0 - 1.0)
        assert r["p99_ms"] == 0.5
        assert r["graph_calls_per_job"] == pytest.approx(2 / 3)

    def test_runs_pair_up_in_order_and_must_match(self) -> None:
        runs = [run(PEER, seconds=1.0), run(JOBCAST), run(PEER, seconds=4.0), run(JOBCAST)]
        assert [(p.seconds, j.system) for p, j in pairs(runs)] == [(1.0, JOBCAST), (4.0, JOBCAST)]
        with pytest.raises(ValueError, match="2 peer runs against 1 jobcast"):
            pairs(runs[:3])

    def test_medians_and_spreads_of_each_side_and_of_the_ratios(self) -> None:
        runs = [
            run(PEER, seconds=2.0), run(JOBCAST, seconds=1.0),  # 2x the peer's rate
            run(PEER, seconds=1.0), run(JOBCAST, seconds=1.0),  # 1x
            run(PEER, seconds=4.0), run(JOBCAST, seconds=1.0),  # 4x
        ]  # fmt: skip
        rate = summary(runs)["jobs_per_second"]
        assert rate[PEER] == Spread(50, 25, 100)
        assert rate[JOBCAST] == Spread(100, 100, 100)
        # The median of the pairwise ratios, not the ratio of the medians (that is also 2 here,
        # so the spread tells them apart: 1x to 4x).
        assert rate["ratio"] == Spread(2, 1, 4)

    def test_the_json_carries_counts_so_a_broken_run_shows(self) -> None:
        data = run_json(run(PEER, statuses={"posted": 150, "pending": 50}))
        assert data["complete"] is False
        assert data["statuses"] == {"posted": 150, "pending": 50}
        assert data["expected_posts"] == 200
        assert data["cpu_ms_per_job"] == 20

    def test_the_json_splits_cpu_per_job_by_process(self) -> None:
        data = run_json(run(JOBCAST, process_cpu={"kafka": 0.25, "metrics": 0.05}))
        assert data["cpu_ms_per_job_by_process"] == {"kafka": 2.5, "metrics": 0.5}
