"""The e2e bench's attribution: /proc parsing, Postgres backend grouping, stack activities."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.activities import (
    BACKGROUND_LOOPS,
    LOOP_ONLY,
    activity_shares,
    classify,
    parse_collapsed,
    task_root,
)
from bench.attribution import (
    MACHINE,
    PROFILER,
    REST,
    SHARED_POSTGRES,
    BackendTicks,
    PhaseCost,
    attribution_rows,
    backend_cpu,
    postgres_label,
)
from bench.proc_cpu import listening_inodes, parse_stat, read_stat

# The event loop's frames above every task, as py-spy prints them.
LOOP = (
    "_run_module_as_main (<frozen runpy>:198);<module> (services/ingest/__main__.py:4);"
    "main (jobcast/service.py:300);"
    "run (asyncio/runners.py:190);Runner.run (asyncio/runners.py:118);"
    "BaseEventLoop.run_until_complete (asyncio/base_events.py:640);"
    "BaseEventLoop.run_forever (asyncio/base_events.py:607);"
    "BaseEventLoop._run_once (asyncio/base_events.py:1922);Handle._run (asyncio/events.py:80)"
)
CONSUMER = f"{LOOP};Consumer._run (jobcast/kafka/consumer.py:400)"


def stack(text: str) -> str:
    return text.replace("\n", "")


class TestStat:
    def test_parses_a_command_with_spaces_and_parentheses(self) -> None:
        line = "4242 (python (x) y) S 17 4242 4242 0 -1 4194560 1 0 0 0 250 30 7 9 20 0 3 0"
        stat = parse_stat(line)
        assert (stat.pid, stat.ppid, stat.ticks, stat.child_ticks) == (4242, 17, 280, 16)

    def test_rejects_what_is_not_a_stat_line(self) -> None:
        with pytest.raises(ValueError, match="not a /proc"):
            parse_stat("hello")

    def test_reads_this_process(self) -> None:
        stat = read_stat(os.getpid())
        assert stat is not None
        assert (stat.pid, stat.ppid) == (os.getpid(), os.getppid())

    def test_finds_the_listening_socket_of_a_port_only(self) -> None:
        table = (
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
            "   uid  timeout inode\n"
            "   0: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
            "     0        0 111 1 0 100 0 0 10 0\n"
            "   1: 0100007F:2384 0100007F:C350 01 00000000:00000000 00:00000000 00000000"
            "     0        0 222 1 0 20 4 30 10 -1\n"
            "   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
            "     0        0 333 1 0 100 0 0 10 0\n"
        )
        assert listening_inodes(table, 0x2384) == {111}
        assert listening_inodes(table, 1) == set()


class TestBackends:
    label = staticmethod(postgres_label({"services.ingest": "ingest", "bench.e2e": "load"}))

    def test_each_backend_counts_to_the_service_it_serves(self) -> None:
        ticks = BackendTicks(
            first={10: 100, 11: 50, 12: 7},
            last={10: 130, 11: 60, 12: 9, 13: 25},  # 13 was born during the phase
            app={10: "services.ingest", 11: "services.ingest", 13: "bench.e2e"},
            alive_at_end={10, 11, 12, 13},
        )
        groups = backend_cpu(ticks, exited_child_ticks=4, label=self.label)
        assert groups == {"postgres: ingest": 40, "postgres: load": 25, SHARED_POSTGRES: 2 + 4}

    def test_an_exited_backend_is_not_counted_twice(self) -> None:
        # It used 30 ticks in all, 20 of them before its last sample; the postmaster's
        # cutime grows by all 30 when it exits.
        ticks = BackendTicks(
            first={10: 0}, last={10: 20}, app={10: "services.ingest"}, alive_at_end=set()
        )
        groups = backend_cpu(ticks, exited_child_ticks=30, label=self.label)
        assert groups == {"postgres: ingest": 20, SHARED_POSTGRES: 10}


class TestActivities:
    def test_the_task_root_is_the_first_frame_past_the_event_loop(self) -> None:
        ((frames, count),) = parse_collapsed(f"{CONSUMER};json (x.py:1) 7")
        root = task_root(frames)
        assert count == 7
        assert root is not None
        assert root.function == "Consumer._run"

    @pytest.mark.parametrize(
        ("leaves", "activity"),
        [
            ("handle_job (services/distributor/handlers.py:40)", "handling"),
            (
                "handle_job (services/distributor/handlers.py:40);"
                "Connection.fetch (asyncpg/connection.py:690)",
                "postgres client",
            ),
            (
                "handle_job (services/distributor/handlers.py:40);"
                "produce (jobcast/kafka/producer.py:80);send (aiokafka/producer/producer.py:5);"
                "AIOKafkaConnection.send (aiokafka/conn.py:400)",
                "producing",
            ),
            (
                "Fetcher.fetched_records (aiokafka/consumer/fetcher.py:1000);"
                "AIOKafkaConnection.send (aiokafka/conn.py:400);"
                "StreamWriter.write (asyncio/streams.py:300)",
                "consuming",
            ),
            (
                "handle_job (services/metrics/handlers.py:9);"
                "Logger.info (logging/__init__.py:1400)",
                "logging",
            ),
            (
                "post (services/publishing/posting.py:1);send (httpx/_client.py:1)",
                "graph client (http)",
            ),
            # A library no rule knows counts to the nearest frame that one does.
            ("decode (zlib_ng/x.py:3)", "consuming"),
        ],
    )
    def test_a_consumer_task_is_split_by_its_leaves(self, leaves: str, activity: str) -> None:
        ((frames, _),) = parse_collapsed(f"{CONSUMER};{leaves} 1")
        assert classify(frames) == activity

    @pytest.mark.parametrize(
        ("text", "activity"),
        [
            pytest.param(
                f"{LOOP};build.<locals>.timers (services/publishing/app.py:134);"
                "Connection.fetch (asyncpg/connection.py:690) 3",
                "loop: timers",
                id="a background loop counts all it does to itself",
            ),
            pytest.param(
                f"{LOOP};insert_posts (services/distributor/repo_posts.py:20);"
                "Connection.executemany (asyncpg/connection.py:1) 1",
                "postgres client",
                id="a helper task of a handler is split by its leaves",
            ),
            pytest.param(
                f"{LOOP};RequestResponseCycle.run_asgi"
                " (uvicorn/protocols/http/httptools_impl.py:1);"
                "accept (services/ingest/routes.py:50) 2",
                "handling",
                id="an http request is split by its leaves",
            ),
            pytest.param(
                "<module> (services/metrics/__main__.py:4);serve (jobcast/service.py:290);"
                "run (uvloop/__init__.py:92);Runner.run (asyncio/runners.py:118);"
                "StatusGauges.run (jobcast/status_gauges.py:116);"
                "Connection.fetch (asyncpg/connection.py:690) 1",
                "loop: StatusGauges.run",
                id="uvloop tasks have roots too",
            ),
            pytest.param(
                f"{LOOP};MicroBatcher._run (jobcast/batching.py:90);"
                "write (services/ingest/repo.py:30);"
                "Connection.executemany (asyncpg/connection.py:1) 1",
                "postgres client",
                id="a batcher task is split by its leaves",
            ),
            pytest.param(
                f"{LOOP};worker (somelib/x.py:1);sleep (asyncio/tasks.py:649) 1",
                "event loop",
                id="a task in asyncio alone is the event loop",
            ),
            pytest.param(
                "<module> (x.py:1);decode (zlib_ng/x.py:3) 1",
                "other",
                id="frames no rule knows are other",
            ),
        ],
    )
    def test_a_task_counts_to_its_activity(self, text: str, activity: str) -> None:
        ((frames, _),) = parse_collapsed(text)
        assert classify(frames) == activity

    @pytest.mark.parametrize("name", BACKGROUND_LOOPS)
    def test_each_background_loop_is_a_function_of_the_code(self, name: str) -> None:
        # A renamed loop would silently fall back to its leaves.
        *owner, function = name.split(".")
        sources = [p.read_text() for d in ("services", "jobcast") for p in Path(d).rglob("*.py")]
        assert any(f"def {function}(" in text for text in sources)
        if owner:
            assert any(f"class {owner[0]}" in text for text in sources)

    @pytest.mark.parametrize(
        "text",
        [
            # uvloop: nothing past the loop's entry (its C code, or a wait)
            "<module> (services/ingest/__main__.py:4);serve (jobcast/service.py:290);"
            "run (uvloop/__init__.py:92);Runner.run (asyncio/runners.py:118) 5",
            "<module> (services/ingest/__main__.py:4);run (asyncio/runners.py:190);"
            "BaseEventLoop._run_once (asyncio/base_events.py:1884);"
            "EpollSelector.select (selectors.py:468) 5",
            "Thread._bootstrap (threading.py:1002);WorkerThread.run (anyio/_backends/x.py:9);"
            "Condition.wait (threading.py:320) 5",
        ],
    )
    def test_the_loop_alone_or_a_wait_is_left_out(self, text: str) -> None:
        ((frames, _),) = parse_collapsed(text)
        assert classify(frames) == LOOP_ONLY

    def test_shares_of_samples_sum_to_one(self) -> None:
        text = "\n".join(
            [
                f"{CONSUMER};handle (services/metrics/handlers.py:1) 6",
                f"{CONSUMER};Connection.fetch (asyncpg/connection.py:690) 2",
                f"{LOOP};StatusGauges.run (jobcast/status_gauges.py:116) 2",
                f"{LOOP} 30",
                "garbage line",
            ]
        )
        shares, samples = activity_shares(text)
        assert samples == 10
        assert shares == {"handling": 0.6, "postgres client": 0.2, "loop: StatusGauges.run": 0.2}

    def test_nothing_sampled_is_no_shares(self) -> None:
        assert activity_shares("") == ({}, 0)


def test_the_table_gives_ms_per_job_and_idle_ms_per_second() -> None:
    burst = PhaseCost(
        "burst",
        100,
        10.0,
        {"ingest": 0.5, "kafka": 0.2},
        {"ingest": {"handling": 0.5, "logging": 0.5}},
        {"ingest": 0.25},
    )
    idle = PhaseCost(
        "idle", 0, 20.0, {"ingest": 0.1, "kafka": 0.4}, {"ingest": {"loop: timers": 1.0}}
    )
    stack = {"burst": 0.6, "idle": 0.2}
    rows = {
        name.strip(): (loaded, quiet)
        for name, loaded, quiet in attribution_rows([burst, idle], lambda c: stack[c.name])
    }
    assert rows["the stack"] == ("6.00", "10.00")
    assert rows["ingest"] == ("5.00", "5.00")
    assert rows["kafka"] == ("2.00", "20.00")
    assert rows["ingest: handling"] == ("2.50", "0.00")
    assert rows["ingest: loop: timers"] == ("0.00", "5.00")
    assert rows["ingest"] == ("5.00", "5.00")
    assert rows["ingest"] != rows["kafka"]
    assert rows["ingest: sampled ÷ measured"] == ("50% / 0%", "")


def test_the_stack_leaves_out_the_stand_in_and_the_benchs_own_sampling_when_idle() -> None:
    cpu = {
        "ingest": 1.0, "kafka": 2.0, "graph-sandbox": 4.0, "load generator": 0.5,
        "postgres: ingest": 0.25, "postgres: load generator": 0.125,
        PROFILER: 8.0, REST: 16.0,
    }  # fmt: skip
    cpu[MACHINE] = sum(cpu.values())
    loaded = PhaseCost("50%", 10, 1.0, cpu, {})
    idle = PhaseCost("idle", 0, 1.0, cpu, {})
    outside, own = ["graph-sandbox"], ["load generator"]
    # While jobs are sent the load generator is the stack's client, and counts.
    assert loaded.stack_seconds(outside, own) == 1.0 + 2.0 + 0.5 + 0.25 + 0.125
    assert idle.stack_seconds(outside, own) == 1.0 + 2.0 + 0.25
