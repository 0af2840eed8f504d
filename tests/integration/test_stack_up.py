"""`jobcast stack up` run again on a real stack: nothing running is restarted or switched, a
crashed service is restarted alone, another endpoint under the running stack is refused."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.devstack.processes import ManagedProcess
from devtools.devstack.session import distinct_free_ports, scratch_dir
from devtools.stack import (
    SERVICES,
    Endpoints,
    LocalInfra,
    StackUp,
    bring_down,
    bring_up,
    sandbox_process,
    service_processes,
)
from devtools.stack_plan import StackConflictError, Status
from jobcast_cli.envfile import read_env_file

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]


def pids(infra: LocalInfra) -> dict[str, int | None]:
    """The pid of every local part (None: not running)."""
    idle = Endpoints("", "", "", "", ports=infra.service_ports)
    return {
        "kafka": infra.kafka.pid,
        "postgres": infra.postgres.pid,
        "graph-sandbox": sandbox_process(infra.state_dir, infra.sandbox_port).pid,
        **{p.name: p.pid for p in service_processes(infra.state_dir, idle)},
    }


def statuses(up: StackUp) -> dict[str, Status]:
    return {c.component: c.status for c in up.choices}


def graph_api_url_of(pid: int | None) -> str:
    """The GRAPH_API_URL a running process was started with."""
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    values = dict(e.decode().partition("=")[::2] for e in environ if b"=" in e)
    return values["GRAPH_API_URL"]


@pytest.fixture
def stack() -> Iterator[tuple[LocalInfra, str]]:
    """A stack's state dir on free ports, and a Graph API of the user's own (a sandbox run
    outside the stack stands in for Meta's); everything is stopped afterwards."""
    state_dir = scratch_dir("jobcast-stack-")
    names = [*SERVICES, "console"]
    k_port, k_ctl, pg_port, sandbox_port, user_graph_port, *ports = distinct_free_ports(
        5 + len(names)
    )
    infra = LocalInfra(
        state_dir,
        kafka_ports=(k_port, k_ctl),
        postgres_port=pg_port,
        sandbox_port=sandbox_port,
        service_ports=dict(zip(names, ports, strict=True)),
    )
    user_graph = sandbox_process(state_dir / "user-graph", user_graph_port)
    try:
        user_graph.start()
        url = f"http://127.0.0.1:{user_graph_port}"
        user_graph.wait_ready(f"{url}/_sandbox/ledger")
        yield infra, url
    finally:
        bring_down(state_dir, infra)
        user_graph.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def test_stack_up_again_keeps_restarts_only_what_died_and_refuses_a_switch(
    stack: tuple[LocalInfra, str],
) -> None:
    infra, user_graph_url = stack
    state_dir = infra.state_dir

    first = bring_up(state_dir, infra, {"GRAPH_API_URL": user_graph_url})
    assert statuses(first) == {**dict.fromkeys(first.endpoints.ports, Status.STARTED),
                               "kafka": Status.STARTED, "postgres": Status.STARTED,
                               "graph-api": Status.GIVEN}  # fmt: skip
    before = pids(infra)
    assert before["console"] is not None
    console = first.endpoints.env()["JOBCAST_CONSOLE_URL"]
    assert console == f"http://127.0.0.1:{infra.service_ports['console']}"
    # Facebook Login comes back through the console.
    assert first.endpoints.env()["DISTRIBUTOR_PUBLIC_URL"] == console
    assert before["graph-sandbox"] is None
    assert all(pid is not None for name, pid in before.items() if name != "graph-sandbox")

    # Second run, as after `. .jobcast/env`: the same stack, nothing restarted or switched.
    sourced = read_env_file(infra.env_file)
    assert sourced["GRAPH_API_URL"] == user_graph_url
    second = bring_up(state_dir, infra, sourced)
    assert statuses(second) == {**dict.fromkeys(statuses(first), Status.KEPT),
                                "graph-api": Status.GIVEN}  # fmt: skip
    assert pids(infra) == before
    assert second.endpoints.env() == first.endpoints.env()
    assert read_env_file(infra.env_file) == sourced
    assert graph_api_url_of(before["publisher-facebook"]) == user_graph_url

    # A crashed service: only it is restarted, on the same endpoints (env file not sourced).
    crashed = ManagedProcess("distributor", "services.distributor", state_dir)
    os.kill(before["distributor"] or 0, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while crashed.pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert crashed.pid is None
    third = bring_up(state_dir, infra, {})
    assert {n: s for n, s in statuses(third).items() if s is not Status.KEPT} == {
        "distributor": Status.RESTARTED,
        "graph-api": Status.GIVEN,
    }
    after = pids(infra)
    assert after["distributor"] not in (None, before["distributor"])
    assert {**after, "distributor": None} == {**before, "distributor": None}
    assert graph_api_url_of(after["distributor"]) == user_graph_url
    assert read_env_file(infra.env_file) == sourced

    # Another GRAPH_API_URL under the running stack: refused, and nothing changed.
    state_before = infra.state_file.read_text()
    with pytest.raises(StackConflictError, match="jobcast stack down") as refused:
        bring_up(state_dir, infra, {**sourced, "GRAPH_API_URL": infra.sandbox_url})
    assert f"GRAPH_API_URL={infra.sandbox_url}" in str(refused.value)
    assert f"{user_graph_url} (given by you)" in str(refused.value)
    assert pids(infra) == after
    assert infra.state_file.read_text() == state_before
    assert read_env_file(infra.env_file) == sourced
