"""Operator-facing behaviour: the `jobcast` command, ops endpoints, graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from typer.testing import CliRunner

from devtools.stack import Endpoints
from jobcast.crypto import generate_key
from jobcast_cli.main import app
from tests.harness import Infra, distinct_free_ports

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def test_cli_tenants_and_connections(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", infra.database_url)
    monkeypatch.setenv("JOBCAST_SECRET_KEY", generate_key())
    runner = CliRunner()
    name = f"cli-{uuid.uuid4().hex[:8]}"

    created = runner.invoke(app, ["tenants", "create", name])
    assert created.exit_code == 0, created.output
    assert "api_key=jc_" in created.output
    assert runner.invoke(app, ["tenants", "create", name]).exit_code == 2  # no duplicates

    token = "EAAB-never-print-me"
    added = runner.invoke(
        app,
        ["connections", "add", "--tenant", name, "--platform", "facebook",
         "--account-id", "1234567890", "--token", token],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["connections", "list", "--tenant", name])
    assert listed.exit_code == 0
    assert "facebook" in listed.output
    assert "1234567890" in listed.output
    assert "active" in listed.output
    assert token not in added.output + listed.output

    # A Threads profile by hand: Threads' own login, its expiry kept; no other login for it.
    threads = runner.invoke(
        app,
        ["connections", "add", "--tenant", name, "--platform", "threads",
         "--account-id", "26040000000000042", "--token", "THAA-never-print-me",
         "--expires-in-days", "60"],
    )  # fmt: skip
    assert threads.exit_code == 0, threads.output
    rows = runner.invoke(app, ["connections", "list", "--tenant", name]).output
    (line,) = [row for row in rows.splitlines() if "26040000000000042" in row]
    assert "threads-login" in line
    assert "THAA-never-print-me" not in threads.output + rows
    mixed = runner.invoke(
        app,
        ["connections", "add", "--tenant", name, "--platform", "threads", "--login", "facebook",
         "--account-id", "26040000000000043", "--token", "t"],
    )  # fmt: skip
    assert mixed.exit_code == 2

    unknown = runner.invoke(app, ["connections", "list", "--tenant", "no-such-tenant"])
    assert unknown.exit_code == 2

    second = runner.invoke(app, ["api-keys", "create", "--tenant", name])
    assert second.exit_code == 0
    second_key = second.output.strip().removeprefix("api_key=")
    listed_keys = runner.invoke(app, ["api-keys", "list", "--tenant", name]).output
    assert listed_keys.count("live") == 2
    assert second_key not in listed_keys  # only prefixes are shown
    revoked = runner.invoke(app, ["api-keys", "revoke", "--tenant", name, "--key", second_key])
    assert revoked.exit_code == 0, revoked.output
    after = runner.invoke(app, ["api-keys", "list", "--tenant", name]).output
    assert after.count("live") == 1
    assert after.count("revoked") == 1
    from jobcast.db import create_pool
    from jobcast.tenancy import authenticate

    async def check() -> None:
        pool = await create_pool(infra.database_url, max_size=1)
        try:
            assert await authenticate(pool, second_key) is None
        finally:
            await pool.close()

    import asyncio

    asyncio.run(check())


def test_service_serves_ops_endpoints_and_stops_cleanly_on_sigterm(pipeline: Endpoints) -> None:
    [port] = distinct_free_ports(1)
    env = {**os.environ, **pipeline.env(), "METRICS_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.metrics"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "metrics service never became ready"
            time.sleep(0.2)
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        exposition = httpx.get(f"{base}/metrics").text
        assert "# TYPE jobcast_records_consumed_total counter" in exposition

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - started < 15
    finally:
        if process.poll() is None:
            process.kill()
        stderr = process.stderr.read().decode() if process.stderr else ""
    assert '"service stopped"' in stderr
    assert pipeline.secret_key not in stderr
