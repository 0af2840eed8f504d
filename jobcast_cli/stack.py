"""The local stack: real Kafka, real Postgres, the Graph API sandbox and the five services.

`jobcast stack up` starts what is not given by the environment (KAFKA_BOOTSTRAP_SERVERS,
DATABASE_URL, GRAPH_API_URL are used as they are when set), writes the endpoints to
`.jobcast/env`, and runs a demo; `jobcast stack down` stops what `up` started.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from jobcast.crypto import generate_key
from jobcast.devstack.kafka import LocalKafka
from jobcast.devstack.postgres import LocalPostgres
from jobcast.devstack.processes import ManagedProcess
from jobcast.kafka import ensure_topics

# name → (module, variable that sets its HTTP port, default port)
SERVICES: dict[str, tuple[str, str, int]] = {
    "ingest": ("services.ingest", "INGEST_PORT", 8081),
    "distributor": ("services.distributor", "DISTRIBUTOR_PORT", 8082),
    "publisher-facebook": ("services.publisher_facebook", "PUBLISHER_FACEBOOK_PORT", 8083),
    "publisher-instagram": ("services.publisher_instagram", "PUBLISHER_INSTAGRAM_PORT", 8084),
    "metrics": ("services.metrics", "METRICS_PORT", 8085),
}
KAFKA_PORTS = (19092, 19093)
POSTGRES_PORT = 55432
SANDBOX_PORT = 8090
SANDBOX_APP_ID = "1000000000000001"  # the app id the local stack's sandbox answers to


@dataclass
class Endpoints:
    """Where the stack's parts listen; `env()` is what every service is started with."""

    kafka_bootstrap_servers: str
    database_url: str
    graph_api_url: str
    secret_key: str
    ports: dict[str, int] = field(default_factory=lambda: {n: s[2] for n, s in SERVICES.items()})
    extra: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        values = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "GRAPH_API_URL": self.graph_api_url,
            "JOBCAST_SECRET_KEY": self.secret_key,
            "JOBCAST_INGEST_URL": self.url("ingest"),
            "JOBCAST_READ_API_URL": self.url("metrics"),
        }
        values.update({SERVICES[name][1]: str(port) for name, port in self.ports.items()})
        # Facebook Login: the browser comes back to the distributor; against the sandbox the
        # consent dialog is the sandbox's own (Meta's lives on www.facebook.com).
        values["DISTRIBUTOR_PUBLIC_URL"] = self.url("distributor")
        if self.graph_api_url and "graph.facebook.com" not in self.graph_api_url:
            values["DISTRIBUTOR_OAUTH_DIALOG_URL"] = f"{self.graph_api_url}/dialog/oauth"
        values.update(self.extra)
        return values


def service_processes(state_dir: Path, endpoints: Endpoints) -> list[ManagedProcess]:
    """The five services as managed processes, configured for `endpoints`."""
    return [
        ManagedProcess(name, module, state_dir, env=endpoints.env())
        for name, (module, _, _) in SERVICES.items()
    ]


def sandbox_process(
    state_dir: Path, port: int, *, app_id: str | None = None, app_secret: str | None = None
) -> ManagedProcess:
    """The Graph API sandbox as a managed process (checking the app's id and secret if given)."""
    args = ["--host", "127.0.0.1", "--port", str(port)]
    if app_id:
        args += ["--app-id", app_id]
    # The secret goes by environment, not argv, so `ps` does not show it.
    env = {"GRAPH_SANDBOX_APP_SECRET": app_secret} if app_secret else {}
    return ManagedProcess("graph-sandbox", "services.graph_sandbox", state_dir, env=env, args=args)


def start_services(processes: list[ManagedProcess], endpoints: Endpoints) -> None:
    """Start all services at once, then wait until each reports ready."""
    for process in processes:
        process.start()
    for process in processes:
        process.wait_ready(f"{endpoints.url(process.name)}/readyz", timeout=90.0)


@dataclass
class LocalInfra:
    """Kafka and Postgres as this project runs them without Docker, in one state dir."""

    state_dir: Path
    kafka_ports: tuple[int, int] = KAFKA_PORTS
    postgres_port: int = POSTGRES_PORT

    @property
    def kafka(self) -> LocalKafka:
        return LocalKafka(self.state_dir / "kafka", *self.kafka_ports)

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.state_dir / "postgres", self.postgres_port)


def bring_up(state_dir: Path) -> tuple[Endpoints, list[str]]:
    """Start every missing part; returns the endpoints and the names of parts started here."""
    from jobcast_cli.envfile import read_env_file

    previous = read_env_file(state_dir / "env")
    infra = LocalInfra(state_dir)
    started: list[str] = []

    def given(name: str) -> str | None:
        # A value the user set themselves, not one they sourced from our own env file.
        value = os.environ.get(name)
        return value if value and value != previous.get(name) else None

    kafka = given("KAFKA_BOOTSTRAP_SERVERS")
    if kafka is None:
        kafka = infra.kafka.start()
        started.append("kafka")
    database_url = given("DATABASE_URL")
    if database_url is None:
        database_url = infra.postgres.start()
        started.append("postgres")
    asyncio.run(ensure_topics(kafka))
    graph_api_url = given("GRAPH_API_URL")
    sandbox_app: dict[str, str] = {}
    if graph_api_url is None:
        # The sandbox plays Meta's side of the app: it and the services share id and secret.
        sandbox_app = {
            name: os.environ.get(name) or previous.get(name) or default
            for name, default in (
                ("GRAPH_APP_ID", SANDBOX_APP_ID),
                ("GRAPH_APP_SECRET", secrets.token_hex(16)),
            )
        }
        sandbox = sandbox_process(
            state_dir,
            SANDBOX_PORT,
            app_id=sandbox_app["GRAPH_APP_ID"],
            app_secret=sandbox_app["GRAPH_APP_SECRET"],
        )
        sandbox.start()
        graph_api_url = f"http://127.0.0.1:{SANDBOX_PORT}"
        sandbox.wait_ready(f"{graph_api_url}/_sandbox/ledger")
        started.append("graph-sandbox")
    secret_key = (
        os.environ.get("JOBCAST_SECRET_KEY") or previous.get("JOBCAST_SECRET_KEY") or generate_key()
    )
    endpoints = Endpoints(kafka, database_url, graph_api_url, secret_key)
    endpoints.extra["JOBCAST_GRAPH_SANDBOX_URL"] = (
        graph_api_url if "graph-sandbox" in started else ""
    )
    endpoints.extra.update(sandbox_app)
    start_services(service_processes(state_dir, endpoints), endpoints)
    return endpoints, started


def bring_down(state_dir: Path) -> list[str]:
    """Stop the services, the sandbox, Kafka and Postgres that `bring_up` started here."""
    stopped: list[str] = []
    endpoints = Endpoints("", "", "", "")
    for process in [*service_processes(state_dir, endpoints), sandbox_process(state_dir, 0)]:
        if process.pid is not None:
            process.stop()
            stopped.append(process.name)
    infra = LocalInfra(state_dir)
    if infra.kafka.is_running():
        infra.kafka.stop()
        stopped.append("kafka")
    if infra.postgres.is_running():
        infra.postgres.stop()
        stopped.append("postgres")
    return stopped
