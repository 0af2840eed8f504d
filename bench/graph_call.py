"""`python -m bench.graph_call`: CPU instructions per Graph call in the client, by callgrind.

What the publisher's own share of a Graph call costs, apart from Kafka, Postgres and the
rest of a post: a `GraphClient` on `graph_session` sends POSTs with a token, a form and
a query (as Instagram's publish call does), `--concurrency` at a time, to a canned
answer served by another process (its instructions are not counted). Two runs, `--small`
and `--large` rounds, the difference divided by the difference in calls, so start-up
cancels out. Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvloop
from pydantic import SecretStr

from bench.common import report
from jobcast.graph.client import GraphClient
from jobcast.graph.session import graph_session

_COLLECTED = re.compile(r"Collected : (\d+)")
_BODY = b'{"id":"17841400000000001","permalink":"https://www.instagram.com/p/abc/"}'
# What the sandbox answers: the usage headers are read on every call.
_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b'X-App-Usage: {"call_count":1,"total_time":1,"total_cputime":1}\r\n'
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


async def _serve(port: int) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                writer.write(_ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


async def _calls(port: int, rounds: int, concurrency: int) -> None:
    http = graph_session(f"http://127.0.0.1:{port}", timeout_seconds=600.0)  # valgrind is slow
    graph = GraphClient(http, "v24.0", SecretStr("app-secret"), platform="instagram")

    async def one(n: int) -> None:
        for _ in range(rounds):
            await graph.call(
                "POST", f"1784140000000{n:04d}/media_publish", f"EAAtoken{n:04d}",
                data={"creation_id": "17889455560051444"}, params={"fields": "id,permalink"},
            )  # fmt: skip

    async with http:
        await asyncio.gather(*(one(n) for n in range(concurrency)))


def _instructions(port: int, rounds: int, concurrency: int) -> int:
    with tempfile.TemporaryDirectory(prefix="jobcast-callgrind-") as scratch:
        log = Path(scratch) / "callgrind.log"
        subprocess.run(
            [
                "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                f"--log-file={log}", sys.executable, "-m", "bench.graph_call",
                "--client", str(port), "--rounds", str(rounds),
                "--concurrency", str(concurrency),
            ],
            check=True,
        )  # fmt: skip
        found = _COLLECTED.search(log.read_text())
    if found is None:
        raise SystemExit(f"no callgrind summary for the {rounds}-round run")
    return int(found.group(1))


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--small", type=int, default=20, help="rounds of --concurrency calls")
    parser.add_argument("--large", type=int, default=60)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(_serve(args.serve))
        return
    if args.client:
        uvloop.run(_calls(args.client, args.rounds, args.concurrency))
        return
    if args.large <= args.small:
        raise SystemExit("--large must be more rounds than --small")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.graph_call", "--serve", str(port)])
    try:
        _wait_listening(port)
        # Side by side: the counts do not depend on what else runs.
        with ThreadPoolExecutor(2) as pool:
            small, large = pool.map(
                lambda rounds: _instructions(port, rounds, args.concurrency),
                (args.small, args.large),
            )
    finally:
        server.terminate()
        server.wait()
    per_call = (large - small) / ((args.large - args.small) * args.concurrency)
    report(
        "instructions-graph-call",
        [
            ("client instructions per Graph call", f"{per_call / 1e3:,.0f} k", "callgrind"),
            ("runs", f"{args.small} and {args.large} rounds", f"{args.concurrency} at a time"),
            ("total instructions", f"{small:,} / {large:,}", "start-up cancels out"),
        ],
        {
            "concurrency": args.concurrency, "small": args.small, "large": args.large,
            "instructions_small": small, "instructions_large": large,
            "instructions_per_call": per_call,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
