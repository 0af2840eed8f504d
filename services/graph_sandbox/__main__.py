"""Run the sandbox: ``python -m services.graph_sandbox --host 127.0.0.1 --port 8090``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn

from jobcast.service import tune_garbage_collector

from .app import create_app
from .routes_graph import SimulatedConnectionReset
from .settings import SandboxSettings
from .state import SandboxState

# An env var keeps the secret out of `ps` output; this is its name, not a secret.
APP_SECRET_ENV = "GRAPH_SANDBOX_APP_SECRET"  # noqa: S105


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (each maps to a ``SandboxSettings`` field or a server option)."""
    defaults = SandboxSettings()
    parser = argparse.ArgumentParser(
        prog="python -m services.graph_sandbox", description="Fake Meta Graph API sandbox"
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
    )


class _DropSimulatedResets(logging.Filter):
    """Hide uvicorn's traceback for resets we caused on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedConnectionReset)


class _Server(uvicorn.Server):
    """uvicorn server that exits with status 0 after a graceful SIGTERM/SIGINT shutdown."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn re-raises captured signals after shutdown (exit status 143); we don't record
        # them, so a supervised stop ends with status 0.
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, build the app and serve until SIGTERM/SIGINT."""
    args = build_parser().parse_args(argv)
    app = create_app(SandboxState(settings_from_args(args)))
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=args.graceful_shutdown_s,
        backlog=args.backlog,
        lifespan="off",
    )
    logging.getLogger("uvicorn.error").addFilter(_DropSimulatedResets())
    # In benchmarks the sandbox shares the cores with the services it stands in for:
    # with the default thresholds ~13% of its CPU went to the cyclic collector.
    tune_garbage_collector()
    _Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
