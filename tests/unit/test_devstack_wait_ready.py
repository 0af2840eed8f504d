"""`ManagedProcess.wait_ready` says why a service never became ready: its last answer."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devtools.devstack.processes import ManagedProcess

NOT_READY = b'{"ready": false, "failed": ["consumers"], "reasons": {}}'


class _NotReady(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", str(len(NOT_READY)))
        self.end_headers()
        self.wfile.write(NOT_READY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_ready_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/readyz"
    finally:
        server.shutdown()
        server.server_close()


def alive_process(tmp_path: Path) -> ManagedProcess:
    process = ManagedProcess("publisher-linkedin", "services.publisher_linkedin", tmp_path)
    process.pid_file.parent.mkdir(parents=True)
    process.pid_file.write_text(str(os.getpid()))  # a process that is alive: this one
    return process


def test_a_timeout_names_the_readiness_answer_that_kept_failing(
    tmp_path: Path, not_ready_url: str
) -> None:
    with pytest.raises(TimeoutError) as failure:
        alive_process(tmp_path).wait_ready(not_ready_url, timeout=0.5)
    assert '503 {"ready": false, "failed": ["consumers"]' in str(failure.value)


def test_a_timeout_without_any_answer_says_so(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match=r"last answer: no answer \(ConnectError\)"):
        alive_process(tmp_path).wait_ready("http://127.0.0.1:9/readyz", timeout=0.5)
