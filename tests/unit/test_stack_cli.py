"""`jobcast stack up` says what it did per part, exits non-zero on a refusal, and decides from
the user's own environment (not from the `.jobcast/env` it wrote itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools import stack
from devtools.stack import Endpoints, LocalInfra, StackUp
from devtools.stack_plan import Choice, Source, StackConflictError, Status
from jobcast_cli import main as cli

USER_GRAPH = "https://graph.facebook.com/v21.0"


def test_stack_up_prints_one_line_per_part(monkeypatch: pytest.MonkeyPatch) -> None:
    choices = [
        Choice("kafka", Source.LOCAL, "127.0.0.1:19092", Status.KEPT),
        Choice("postgres", Source.GIVEN, "postgresql://u:pw@db:5432/j", Status.GIVEN),
        Choice("graph-api", Source.GIVEN, USER_GRAPH, Status.GIVEN),
        Choice("distributor", Source.LOCAL, "http://127.0.0.1:8082", Status.RESTARTED),
    ]
    up = StackUp(
        Endpoints("127.0.0.1:19092", "postgresql://u:pw@db:5432/j", USER_GRAPH, "k"), choices
    )
    monkeypatch.setattr(stack, "bring_up", lambda _state_dir: up)
    result = CliRunner().invoke(cli.app, ["stack", "up", "--no-demo"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert ["kafka", "kept", "running", "127.0.0.1:19092"] in lines
    assert ["postgres", "given", "by", "you", "postgresql://u:***@db:5432/j"] in lines
    assert ["graph-api", "given", "by", "you", USER_GRAPH] in lines
    assert ["distributor", "restarted", "http://127.0.0.1:8082"] in lines


def test_a_refused_stack_up_exits_non_zero_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(_state_dir: Path) -> StackUp:
        raise StackConflictError("jobcast stack up: refused ... `jobcast stack down` ...")

    monkeypatch.setattr(stack, "bring_up", refuse)
    result = CliRunner().invoke(cli.app, ["stack", "up", "--no-demo"])
    assert result.exit_code == 2
    assert "jobcast stack down" in result.output


def test_stack_commands_do_not_take_the_env_file_for_the_users_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".jobcast").mkdir()
    (tmp_path / ".jobcast" / "env").write_text(f"export GRAPH_API_URL={USER_GRAPH}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRAPH_API_URL", raising=False)
    monkeypatch.setattr(cli, "app", lambda: None)

    monkeypatch.setattr(sys, "argv", ["jobcast", "stack", "up"])
    cli.main()
    assert "GRAPH_API_URL" not in os.environ

    # Every other command finds the running stack by itself.
    monkeypatch.setattr(sys, "argv", ["jobcast", "connections", "list", "--tenant", "acme"])
    cli.main()
    assert os.environ["GRAPH_API_URL"] == USER_GRAPH


def test_an_unreadable_state_file_stops_stack_up_with_the_way_out(tmp_path: Path) -> None:
    infra = LocalInfra(tmp_path)
    infra.state_file.write_text('{"up": true}')
    with pytest.raises(RuntimeError, match="jobcast stack down"):
        infra.read_state()


def test_the_demo_never_runs_against_a_graph_api_the_user_gave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    choices = [Choice("graph-api", Source.GIVEN, USER_GRAPH, Status.GIVEN)]
    up = StackUp(Endpoints("127.0.0.1:19092", "postgresql://db/j", USER_GRAPH, "k"), choices)
    monkeypatch.setattr(stack, "bring_up", lambda _state_dir: up)
    sent: list[Endpoints] = []

    async def demo(endpoints: Endpoints) -> list[dict[str, object]]:
        sent.append(endpoints)
        return []

    monkeypatch.setattr("devtools.demo.run_demo", demo)
    result = CliRunner().invoke(cli.app, ["stack", "up"])
    assert result.exit_code == 0, result.output
    assert "demo skipped" in result.output
    assert sent == []


def test_without_devtools_the_cli_has_every_operator_command_and_no_stack() -> None:
    # The installed product: devtools/ is not in the wheel, so it cannot be imported.
    probe = (
        "import sys; sys.modules['devtools'] = None\n"
        "from jobcast_cli.main import app\n"
        "print(' '.join(sorted(g.name or '' for g in app.registered_groups)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    groups = set(run.stdout.split())
    assert "stack" not in groups
    operator = {"tenants", "connections", "api-keys", "ops", "dlq", "replay", "rebuild", "webhooks"}
    assert operator <= groups


def test_from_a_checkout_the_cli_has_the_stack_commands() -> None:
    assert "stack" in {g.name for g in cli.app.registered_groups}


def test_stack_up_prints_the_console_and_its_demo_sign_in_but_never_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ports = {**Endpoints("", "", "", "").ports, "console": 8086}
    up = StackUp(Endpoints("127.0.0.1:19092", "postgresql://db/j", "http://127.0.0.1:8090", "k",
                           ports=ports), [])  # fmt: skip
    monkeypatch.setattr(stack, "bring_up", lambda _state_dir: up)
    key = "jc_demo-operator-key-0123456789"

    async def console_key(endpoints: Endpoints, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key + "\n")

    async def demo(endpoints: Endpoints) -> list[dict[str, object]]:
        return []

    monkeypatch.setattr("devtools.demo.demo_console_key", console_key)
    monkeypatch.setattr("devtools.demo.run_demo", demo)
    result = CliRunner().invoke(cli.app, ["stack", "up"])
    assert result.exit_code == 0, result.output
    assert "JOBCAST_CONSOLE_URL=http://127.0.0.1:8086" in result.output
    assert "console: http://127.0.0.1:8086" in result.output
    assert "demo sign-in: the demo tenant's operator key, `cat .jobcast/console-key`" in (
        result.output
    )
    assert key not in result.output
    assert (tmp_path / ".jobcast" / "console-key").read_text().strip() == key
