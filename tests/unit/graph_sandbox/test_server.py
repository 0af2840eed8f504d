"""The real process: ``python -m devtools.graph_sandbox`` over TCP, resets and clean SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .helpers import PAGE, TOKEN

REPO_ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A sandbox process on a free port; stopped (by its own pid) after the test."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.graph_sandbox", "--port", str(port), "--latency-ms", "5"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"{base}/_sandbox/health", timeout=0.5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(
                f"sandbox did not start: {process.stderr.read() if process.stderr else ''!r}"
            )
        time.sleep(0.05)
    try:
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


async def test_serves_over_tcp_and_resets_connections(
    server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = server
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        ok = await http.post(f"/v24.0/{PAGE}/feed", data={"message": "tcp", "access_token": TOKEN})
        assert ok.status_code == 200
        assert "x-app-usage" in ok.headers
        fault = {"action": "connection_reset", "operation": "fb.feed", "after_create": True}
        assert (await http.post("/_sandbox/faults", json=fault)).status_code == 201
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"/v24.0/{PAGE}/feed", data={"message": "cut", "access_token": TOKEN})
        ledger = (await http.get("/_sandbox/ledger", params={"contains": "cut"})).json()
        assert ledger["counts"]["fb_posts"] == 1
        again = await http.post(
            f"/v24.0/{PAGE}/feed", data={"message": "after", "access_token": TOKEN}
        )
        assert again.status_code == 200


async def test_client_timeout_against_timeout_fault(
    server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = server
    async with httpx.AsyncClient(base_url=base) as http:
        fault = {"action": "timeout", "timeout_s": 3, "after_create": True, "operation": "fb.feed"}
        await http.post("/_sandbox/faults", json=fault)
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                f"/v24.0/{PAGE}/feed",
                data={"message": "slow job", "access_token": TOKEN},
                timeout=0.3,
            )
        ledger = (await http.get("/_sandbox/ledger", params={"contains": "slow job"})).json()
        assert ledger["counts"]["fb_posts"] == 1


async def test_sigterm_stops_cleanly(server: tuple[subprocess.Popen[bytes], str]) -> None:
    process, base = server
    async with httpx.AsyncClient(base_url=base) as http:
        fault = {"action": "connection_reset", "operation": "fb.feed"}
        await http.post("/_sandbox/faults", json=fault)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"/v24.0/{PAGE}/feed", data={"message": "x", "access_token": TOKEN})
    process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(process.wait, 10)
    assert code == 0
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert "Traceback" not in stderr  # deliberate resets are not logged as crashes
