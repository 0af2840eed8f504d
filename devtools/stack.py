"""The local stack: real Kafka, real Postgres, the Graph API sandbox, the services and the
console.

`jobcast stack up` starts what is down and keeps what runs; an endpoint given in the
environment (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, GRAPH_API_URL) is used instead of the local
part, and that choice is recorded in `.jobcast/stack.json` so a second `stack up` keeps it
(`devtools.stack_plan` decides, and refuses to switch endpoints under a running stack). It
writes the endpoints to `.jobcast/env`; `jobcast stack down` stops what `up` started.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devtools.devstack.kafka import LocalKafka
from devtools.devstack.postgres import LocalPostgres
from devtools.devstack.processes import ManagedProcess, stop_all
from devtools.stack_plan import (
    Choice,
    Recorded,
    Source,
    StackState,
    infer_state,
    plan_stack,
)
from jobcast.crypto import generate_key
from jobcast.kafka import ensure_topics
from jobcast_cli.envfile import read_env_file, write_env_file

# name → (module, variable that sets its HTTP port, default port)
SERVICES: dict[str, tuple[str, str, int]] = {
    "ingest": ("services.ingest", "INGEST_PORT", 8081),
    "distributor": ("services.distributor", "DISTRIBUTOR_PORT", 8082),
    "publisher-facebook": ("services.publisher_facebook", "PUBLISHER_FACEBOOK_PORT", 8083),
    "publisher-instagram": ("services.publisher_instagram", "PUBLISHER_INSTAGRAM_PORT", 8084),
    "metrics": ("services.metrics", "METRICS_PORT", 8085),
    "publisher-threads": ("services.publisher_threads", "PUBLISHER_THREADS_PORT", 8087),
    "publisher-linkedin": ("services.publisher_linkedin", "PUBLISHER_LINKEDIN_PORT", 8088),
}
# The web console: started with the services when its port is among the endpoints' ports
# (`make up` and the test harness), not by pipelines that only move posts (benchmarks).
CONSOLE: tuple[str, str, int] = ("services.console", "CONSOLE_PORT", 8086)
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

    @property
    def has_console(self) -> bool:
        return "console" in self.ports

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
            "JOBCAST_DISTRIBUTOR_URL": self.url("distributor"),
        }
        values.update({_spec(name)[1]: str(port) for name, port in self.ports.items()})
        if self.has_console:
            values["JOBCAST_CONSOLE_URL"] = self.url("console")
        # Facebook Login: the browser comes back to the distributor; against the sandbox the
        # consent dialog is the sandbox's own (Meta's lives on www.facebook.com).
        values["DISTRIBUTOR_PUBLIC_URL"] = self.url("distributor")
        if self.graph_api_url and "graph.facebook.com" not in self.graph_api_url:
            values["DISTRIBUTOR_OAUTH_DIALOG_URL"] = f"{self.graph_api_url}/dialog/oauth"
            # Instagram Login's three hosts are the sandbox's too, under path prefixes.
            values["GRAPH_INSTAGRAM_URL"] = f"{self.graph_api_url}/instagram-graph"
            values["GRAPH_THREADS_URL"] = f"{self.graph_api_url}/threads-graph"
            values["DISTRIBUTOR_INSTAGRAM_API_URL"] = f"{self.graph_api_url}/instagram-api"
            values["DISTRIBUTOR_INSTAGRAM_DIALOG_URL"] = (
                f"{self.graph_api_url}/instagram-www/oauth/authorize"
            )
            values["DISTRIBUTOR_THREADS_DIALOG_URL"] = (
                f"{self.graph_api_url}/threads-www/oauth/authorize"
            )
            values["FACEBOOK_RUPLOAD_URL"] = self.graph_api_url  # the sandbox takes uploads too
            # LinkedIn's API is the sandbox's too; images on the made-up hosts of demo and
            # test jobs are fetched through its media relay.
            values["LINKEDIN_API_URL"] = f"{self.graph_api_url}/linkedin"
            values["DISTRIBUTOR_LINKEDIN_OAUTH_URL"] = f"{self.graph_api_url}/linkedin-www/oauth/v2"
            values["PUBLISHER_LINKEDIN_MEDIA_RELAY_URL"] = (
                f"{self.graph_api_url}/_sandbox/linkedin/media"
            )
        values.update(self.extra)
        # The sandbox plays every app: the Instagram and Threads apps (and the LinkedIn app)
        # are the Meta app unless set apart.
        for graph_name, instagram_name in (
            ("GRAPH_APP_ID", "INSTAGRAM_APP_ID"),
            ("GRAPH_APP_SECRET", "INSTAGRAM_APP_SECRET"),
            ("GRAPH_APP_ID", "THREADS_APP_ID"),
            ("GRAPH_APP_SECRET", "THREADS_APP_SECRET"),
            ("GRAPH_APP_ID", "LINKEDIN_CLIENT_ID"),
            ("GRAPH_APP_SECRET", "LINKEDIN_CLIENT_SECRET"),
        ):
            if values.get(graph_name) and instagram_name not in values:
                values[instagram_name] = values[graph_name]
        return values


def _spec(name: str) -> tuple[str, str, int]:
    return CONSOLE if name == "console" else SERVICES[name]


def service_processes(state_dir: Path, endpoints: Endpoints) -> list[ManagedProcess]:
    """The services (and the console, when it has a port) as managed processes,
    configured for `endpoints`."""
    names = [*SERVICES, *(["console"] if endpoints.has_console else [])]
    return [ManagedProcess(name, _spec(name)[0], state_dir, env=endpoints.env()) for name in names]


def sandbox_process(
    state_dir: Path, port: int, *, app_id: str | None = None, app_secret: str | None = None
) -> ManagedProcess:
    """The Graph API sandbox as a managed process (checking the app's id and secret if given)."""
    args = ["--host", "127.0.0.1", "--port", str(port)]
    if app_id:
        args += ["--app-id", app_id]
    # The secret goes by environment, not argv, so `ps` does not show it.
    env = {"GRAPH_SANDBOX_APP_SECRET": app_secret} if app_secret else {}
    return ManagedProcess("graph-sandbox", "devtools.graph_sandbox", state_dir, env=env, args=args)


def start_services(processes: list[ManagedProcess], endpoints: Endpoints) -> None:
    """Start all services at once, then wait until each reports ready."""
    for process in processes:
        process.start()
    for process in processes:
        process.wait_ready(f"{endpoints.url(process.name)}/readyz", timeout=90.0)


@dataclass
class LocalInfra:
    """The parts this project runs itself, in one state dir, and the ports they listen on
    (`make up`'s fixed ones by default; tests choose free ones)."""

    state_dir: Path
    kafka_ports: tuple[int, int] = KAFKA_PORTS
    postgres_port: int = POSTGRES_PORT
    sandbox_port: int = SANDBOX_PORT
    service_ports: dict[str, int] = field(
        default_factory=lambda: {**{n: s[2] for n, s in SERVICES.items()}, "console": CONSOLE[2]}
    )

    @property
    def kafka(self) -> LocalKafka:
        return LocalKafka(self.state_dir / "kafka", *self.kafka_ports)

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.state_dir / "postgres", self.postgres_port)

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    def local_endpoints(self) -> dict[str, str]:
        """Every part with the endpoint it has when run here."""
        return {
            "kafka": self.kafka.bootstrap_servers,
            "postgres": self.postgres.dsn,
            "graph-api": self.sandbox_url,
            **{name: f"http://127.0.0.1:{port}" for name, port in self.service_ports.items()},
        }

    def alive(self) -> dict[str, bool]:
        """Which local parts run now (by their pid files)."""
        idle = Endpoints("", "", "", "", ports=self.service_ports)
        return {
            "kafka": self.kafka.is_running(),
            "postgres": self.postgres.is_running(),
            "graph-api": sandbox_process(self.state_dir, self.sandbox_port).pid is not None,
            **{p.name: p.pid is not None for p in service_processes(self.state_dir, idle)},
        }

    def read_state(self) -> StackState | None:
        try:
            return StackState.from_json(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(
                f"{self.state_file} is unreadable ({exc!r}): `jobcast stack down`, remove it, "
                "and run `jobcast stack up` again"
            ) from exc

    def write_state(self, state: StackState) -> None:
        # It holds the endpoints, a DATABASE_URL's password among them: mode 600 like env.
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.touch(mode=0o600)
        self.state_file.write_text(state.to_json() + "\n", encoding="utf-8")


@dataclass
class StackUp:
    """What `bring_up` did: the endpoints the services use and one choice per part."""

    endpoints: Endpoints
    choices: list[Choice]


def bring_up(
    state_dir: Path, infra: LocalInfra | None = None, environ: Mapping[str, str] | None = None
) -> StackUp:
    """Start what is down and keep what runs, on the endpoints `plan_stack` chose; write the
    state file and `.jobcast/env`. Raises StackConflictError (nothing started) when
    `environ` (default: the process environment) asks for other endpoints than the running
    stack uses."""
    infra = infra or LocalInfra(state_dir)
    environ = os.environ if environ is None else environ
    previous = read_env_file(infra.env_file)
    local = infra.local_endpoints()
    state = infra.read_state() or infer_state(previous, local)
    choices = plan_stack(environ, state, previous, local, infra.alive())
    chosen = {c.component: c for c in choices}
    infra.write_state(
        StackState(True, {c.component: Recorded(c.source, c.endpoint) for c in choices})
    )

    if chosen["kafka"].source is Source.LOCAL:
        infra.kafka.start()
    if chosen["postgres"].source is Source.LOCAL:
        infra.postgres.start()
    kafka = chosen["kafka"].endpoint
    asyncio.run(ensure_topics(kafka))
    graph_api_url = chosen["graph-api"].endpoint
    sandbox_app: dict[str, str] = {}
    if chosen["graph-api"].source is Source.LOCAL:
        # The sandbox plays Meta's side of the app: it and the services share id and secret.
        sandbox_app = {
            name: environ.get(name) or previous.get(name) or default
            for name, default in (
                ("GRAPH_APP_ID", SANDBOX_APP_ID),
                ("GRAPH_APP_SECRET", secrets.token_hex(16)),
            )
        }
        sandbox = sandbox_process(
            state_dir,
            infra.sandbox_port,
            app_id=sandbox_app["GRAPH_APP_ID"],
            app_secret=sandbox_app["GRAPH_APP_SECRET"],
        )
        sandbox.start()
        sandbox.wait_ready(f"{graph_api_url}/_sandbox/ledger")
    secret_key = (
        environ.get("JOBCAST_SECRET_KEY") or previous.get("JOBCAST_SECRET_KEY") or generate_key()
    )
    endpoints = Endpoints(
        kafka,
        chosen["postgres"].endpoint,
        graph_api_url,
        secret_key,
        ports=dict(infra.service_ports),
    )
    endpoints.extra["JOBCAST_GRAPH_SANDBOX_URL"] = graph_api_url if sandbox_app else ""
    endpoints.extra.update(sandbox_app)
    if endpoints.has_console:
        # Facebook Login sends the browser back to the console, which hands the callback to
        # the distributor and shows the person what was connected.
        endpoints.extra["DISTRIBUTOR_PUBLIC_URL"] = endpoints.url("console")
    # Running services are left alone (`start` skips them); every one must answer ready.
    start_services(service_processes(state_dir, endpoints), endpoints)
    write_env_file(endpoints.env(), infra.env_file)
    return StackUp(endpoints, choices)


def bring_down(state_dir: Path, infra: LocalInfra | None = None) -> list[str]:
    """Stop the services, the sandbox, Kafka and Postgres that `bring_up` started here.

    The state file stays, marked down: it still says which endpoints were given.
    """
    infra = infra or LocalInfra(state_dir)
    stopped: list[str] = []
    endpoints = Endpoints("", "", "", "", ports=infra.service_ports)
    running = [
        process
        for process in [*service_processes(state_dir, endpoints), sandbox_process(state_dir, 0)]
        if process.pid is not None
    ]
    stop_all(running)
    stopped.extend(process.name for process in running)
    if infra.kafka.is_running():
        infra.kafka.stop()
        stopped.append("kafka")
    if infra.postgres.is_running():
        infra.postgres.stop()
        stopped.append("postgres")
    state = infra.read_state()
    if state is not None and state.up:
        infra.write_state(StackState(False, state.components))
    return stopped
