"""What the test session runs on: real infrastructure (devtools.devstack.session) and
the pipeline's own processes."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.devstack.processes import ManagedProcess, stop_all
from devtools.devstack.session import Infra, distinct_free_ports, real_infra, scratch_dir
from devtools.stack import (
    SERVICES,
    Endpoints,
    sandbox_process,
    service_processes,
    start_services,
)
from jobcast.crypto import generate_key

__all__ = ["Infra", "RunningPipeline", "distinct_free_ports", "real_infra", "running_pipeline"]

# Test pipelines retry and confirm within seconds instead of minutes.
FAST_TIMERS = {
    "PUBLISH_RETRY_DELAYS": "[0.5, 1.0, 1.0, 1.0]",
    "PUBLISH_MAX_ATTEMPTS": "4",
    "PUBLISH_CONFIRM_DELAYS": "[0.5, 1.0, 2.0]",
    "PUBLISH_TIMER_POLL_SECONDS": "0.1",
    "PUBLISH_RATE_LIMIT_BLOCK_SECONDS": "2",
    "PUBLISH_LEASE_SECONDS": "8",
    "GRAPH_TIMEOUT_SECONDS": "2",
    "PUBLISHER_INSTAGRAM_CONTAINER_POLL_SECONDS": "0.1",
    "PUBLISHER_INSTAGRAM_CONTAINER_INLINE_WAIT_SECONDS": "0.3",
    "PUBLISHER_INSTAGRAM_CONTAINER_RESUME_AFTER_SECONDS": "0.3",
    "PUBLISHER_INSTAGRAM_QUOTA_RETRY_SECONDS": "1",
    "PUBLISHER_THREADS_CONTAINER_POLL_SECONDS": "0.1",
    "PUBLISHER_THREADS_CONTAINER_INLINE_WAIT_SECONDS": "0.3",
    "PUBLISHER_THREADS_CONTAINER_RESUME_AFTER_SECONDS": "0.3",
    "PUBLISHER_THREADS_QUOTA_RETRY_SECONDS": "1",
    "LINKEDIN_TIMEOUT_SECONDS": "2",
    "PUBLISHER_LINKEDIN_IMAGE_POLL_SECONDS": "0.1",
    "PUBLISHER_LINKEDIN_IMAGE_INLINE_WAIT_SECONDS": "0.3",
    "PUBLISHER_LINKEDIN_IMAGE_RESUME_AFTER_SECONDS": "0.3",
    "JOBCAST_LOG_LEVEL": "INFO",
    # Low enough that a test can trip it; every test uses its own tenant.
    "INGEST_RATE_LIMIT_PER_SECOND": "50",
    "INGEST_RATE_LIMIT_BURST": "600",
    # Every event the contract accepts is far below the broker's limit; a lower one lets a
    # test send a valid event that is too large.
    "INGEST_MAX_EVENT_BYTES": "64000",
    # Reads of the read API per tenant: polling tests stay far below; a test can trip it.
    "METRICS_READ_RATE_LIMIT_PER_SECOND": "20",
    "METRICS_READ_RATE_LIMIT_BURST": "100",
    "META_WEBHOOK_VERIFY_TOKEN": "test-verify-token",
    "META_APP_SECRET": "test-app-secret",
    # The sandbox checks the app's id and secret (OAuth, appsecret_proof) like Meta does.
    "GRAPH_APP_ID": "1000000000000042",
    "GRAPH_APP_SECRET": "test-app-secret",
    # Token checks every few seconds, so a test sees one without waiting hours.
    "DISTRIBUTOR_VERIFY_INTERVAL_SECONDS": "3",
    # Metrics: SSE keep-alives a test can see; engagement read 1 s and 3 s after posting.
    "METRICS_SSE_KEEPALIVE_SECONDS": "1",
    "METRICS_ENGAGEMENT_SCHEDULE": "[1, 3]",
    "METRICS_ENGAGEMENT_POLL_SECONDS": "0.2",
    "METRICS_ENGAGEMENT_RETRY_DELAYS": "[0.5, 0.5, 0.5]",
    "METRICS_ENGAGEMENT_TOKEN_CACHE_SECONDS": "0",
    # Outbound webhooks to a receiver on 127.0.0.1, retried within a second.
    "METRICS_WEBHOOK_RETRY_DELAYS": "[0.3, 0.3]",
    "METRICS_WEBHOOK_POLL_SECONDS": "0.1",
    "METRICS_WEBHOOK_ALLOW_INSECURE_URLS": "true",
    "METRICS_WEBHOOK_ALLOW_LOOPBACK": "true",
}


@dataclass
class RunningPipeline:
    endpoints: Endpoints
    processes: dict[str, ManagedProcess]
    clock_offset_file: Path

    def shift_distributor_clock(self, seconds: float) -> None:
        """Move the distributor's clock (0 puts it back on real time)."""
        self.clock_offset_file.write_text(repr(float(seconds)))


@contextlib.contextmanager
def running_pipeline(infra: Infra) -> Iterator[RunningPipeline]:
    """The sandbox, the five services and the console as real processes, on free ports."""
    state_dir = scratch_dir("jobcast-pipeline-")
    names = [*SERVICES, "console"]
    sandbox_port, *ports = distinct_free_ports(1 + len(names))
    sandbox = sandbox_process(
        state_dir,
        sandbox_port,
        app_id=FAST_TIMERS["GRAPH_APP_ID"],
        app_secret=FAST_TIMERS["GRAPH_APP_SECRET"],
    )
    endpoints = Endpoints(
        infra.kafka_bootstrap_servers,
        infra.database_url,
        f"http://127.0.0.1:{sandbox_port}",
        generate_key(),
        ports=dict(zip(names, ports, strict=True)),
        extra=dict(FAST_TIMERS),
    )
    clock_offset_file = state_dir / "distributor-clock-offset"
    clock_offset_file.write_text("0")
    endpoints.extra["DISTRIBUTOR_CLOCK_OFFSET_FILE"] = str(clock_offset_file)
    services = service_processes(state_dir, endpoints)
    try:
        sandbox.start()
        sandbox.wait_ready(f"{endpoints.graph_api_url}/_sandbox/ledger")
        start_services(services, endpoints)
        yield RunningPipeline(
            endpoints, {p.name: p for p in [*services, sandbox]}, clock_offset_file
        )
    finally:
        stop_all([*services, sandbox])
        if os.environ.get("JOBCAST_KEEP_TEST_LOGS"):
            print(f"pipeline logs kept in {state_dir / 'logs'}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)
