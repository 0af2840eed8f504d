"""Run the sandbox: ``python -m devtools.graph_sandbox --host 127.0.0.1 --port 8090``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

import uvloop

from jobcast.service import tune_garbage_collector

from .app import create_app
from .server import SandboxServer
from .settings import SandboxSettings
from .state import SandboxState

# An env var keeps the secret out of `ps` output; this is its name, not a secret.
APP_SECRET_ENV = "GRAPH_SANDBOX_APP_SECRET"  # noqa: S105


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (each maps to a ``SandboxSettings`` field or a server option)."""
    defaults = SandboxSettings()
    parser = argparse.ArgumentParser(
        prog="python -m devtools.graph_sandbox", description="Fake Meta Graph API sandbox"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--latency-ms", type=int, default=defaults.base_latency_ms)
    parser.add_argument("--video-processing-s", type=float, default=defaults.video_processing_s)
    parser.add_argument("--image-processing-s", type=float, default=defaults.image_processing_s)
    parser.add_argument("--container-ttl-s", type=float, default=defaults.container_ttl_s)
    parser.add_argument("--ig-quota", type=int, default=defaults.ig_quota_total)
    parser.add_argument(
        "--account-hourly-budget",
        type=int,
        default=defaults.account_hourly_budget,
        help="calls per rolling hour per Page/IG account before 80001/80002 (0 = unlimited)",
    )
    parser.add_argument(
        "--app-hourly-budget",
        type=int,
        default=defaults.app_hourly_budget,
        help="calls per rolling hour for the app before code 4 (0 = unlimited)",
    )
    parser.add_argument("--app-id", default=None)
    parser.add_argument(
        "--app-secret",
        default=os.environ.get(APP_SECRET_ENV),
        help=f"verify appsecret_proof / client_secret (or set {APP_SECRET_ENV})",
    )
    parser.add_argument("--require-appsecret-proof", action="store_true")
    parser.add_argument("--fault-timeout-s", type=float, default=defaults.fault_timeout_s)
    parser.add_argument("--call-log-size", type=int, default=defaults.call_log_size)
    parser.add_argument("--duplicate-detection", action="store_true")
    parser.add_argument("--allow-private-media-urls", action="store_true")
    parser.add_argument(
        "--no-read-after-write", action="store_true", help="ignore `fields` on creates"
    )
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--access-log", action="store_true", help="log every request (slow)")
    parser.add_argument("--graceful-shutdown-s", type=float, default=2.0)
    parser.add_argument("--backlog", type=int, default=4096)
    return parser


def settings_from_args(args: argparse.Namespace) -> SandboxSettings:
    """Translate parsed options into settings."""
    return SandboxSettings(
        base_latency_ms=args.latency_ms,
        video_processing_s=args.video_processing_s,
        image_processing_s=args.image_processing_s,
        container_ttl_s=args.container_ttl_s,
        ig_quota_total=args.ig_quota,
        account_hourly_budget=args.account_hourly_budget,
        app_hourly_budget=args.app_hourly_budget,
        app_id=args.app_id,
        app_secret=args.app_secret or None,
        require_appsecret_proof=args.require_appsecret_proof,
        fault_timeout_s=args.fault_timeout_s,
        call_log_size=args.call_log_size,
        duplicate_detection=args.duplicate_detection,
        reject_private_media_urls=not args.allow_private_media_urls,
        read_after_write=not args.no_read_after_write,
    )


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully (a second signal: at once)."""
    state = SandboxState(settings_from_args(args))
    server = SandboxServer(state, create_app(state), access_log=args.access_log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start(args.host, args.port, backlog=args.backlog)
    await stop.wait()
    stop.clear()
    graceful = loop.create_task(server.shutdown(args.graceful_shutdown_s))
    second_signal = loop.create_task(stop.wait())
    await asyncio.wait({graceful, second_signal}, return_when=asyncio.FIRST_COMPLETED)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, build the app and serve until SIGTERM/SIGINT (exit status 0)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    # In benchmarks the sandbox shares the cores with the services it stands in for:
    # with the default thresholds ~13% of its CPU went to the cyclic collector.
    tune_garbage_collector()
    uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
