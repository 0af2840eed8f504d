"""What `jobcast stack up` does with each part of the stack: pure decisions, no I/O.

Every part is either *local* (started and supervised here: Kafka, Postgres, the Graph API
sandbox, the services) or *given* (an endpoint the user set in the environment). The
choice is recorded in the stack's state file, so a second `stack up` — with or without
`.jobcast/env` sourced — keeps it:

- no value in the environment, or the value the stack recorded → the recorded choice: a local
  part is kept running or restarted, a given endpoint is used again;
- another value while any part of the stack runs → refused: switching an endpoint under
  running services would send their traffic somewhere else without anyone asking;
- another value while nothing runs (first start, after `stack down`) → given by the user.

So a `GRAPH_API_URL` the user gave (a real Graph API) is never replaced by the sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# The endpoints a user may give instead of a local part: component → environment variable.
ENDPOINT_VARIABLES: dict[str, str] = {
    "kafka": "KAFKA_BOOTSTRAP_SERVERS",
    "postgres": "DATABASE_URL",
    "graph-api": "GRAPH_API_URL",
}
# Settings every service of one stack must share (tokens are encrypted with the key; the
# sandbox checks the app's id and secret): they may not change under running services.
SHARED_SETTINGS = ("JOBCAST_SECRET_KEY", "GRAPH_APP_ID", "GRAPH_APP_SECRET")


class Source(StrEnum):
    LOCAL = "local"
    GIVEN = "given"


class Status(StrEnum):
    """What `stack up` did with a part, as it tells the user."""

    KEPT = "kept running"
    RESTARTED = "restarted"
    STARTED = "started"
    GIVEN = "given by you"


@dataclass(frozen=True)
class Recorded:
    """One part as the state file records it."""

    source: Source
    endpoint: str


@dataclass(frozen=True)
class StackState:
    """The state file: each part's source and endpoint, and whether the stack should be up
    (true from `stack up` until `stack down`, so a part found dead was crashed, not stopped)."""

    up: bool
    components: dict[str, Recorded]

    def to_json(self) -> str:
        return json.dumps(
            {
                "up": self.up,
                "components": {
                    name: {"source": r.source.value, "endpoint": r.endpoint}
                    for name, r in self.components.items()
                },
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> StackState:
        data: dict[str, Any] = json.loads(text)
        return cls(
            up=bool(data["up"]),
            components={
                name: Recorded(Source(r["source"]), str(r["endpoint"]))
                for name, r in data["components"].items()
            },
        )


@dataclass(frozen=True)
class Choice:
    """What to do with one part: where it is, who provides it, what happened to it."""

    component: str
    source: Source
    endpoint: str
    status: Status


class StackConflictError(Exception):
    """The environment asks for other endpoints than the running stack uses."""


def infer_state(previous_env: Mapping[str, str], local: Mapping[str, str]) -> StackState | None:
    """A state for a stack started before state files existed, from its `.jobcast/env`.

    An endpoint equal to the one this machine's local part would have is taken as local;
    any other recorded value was given by the user. `up` stays false: nothing tells whether
    the stack was brought down since, and `plan_stack` also looks at what still runs.
    """
    components = {
        name: Recorded(Source.LOCAL if value == local[name] else Source.GIVEN, value)
        for name, variable in ENDPOINT_VARIABLES.items()
        if (value := previous_env.get(variable))
    }
    return StackState(up=False, components=components) if components else None


def plan_stack(
    environ: Mapping[str, str],
    state: StackState | None,
    previous_env: Mapping[str, str],
    local: Mapping[str, str],
    alive: Mapping[str, bool],
) -> list[Choice]:
    """One choice per part: the endpoint components, then the services (`local` names every
    part with the endpoint it has when run here; `alive` says which of those run now).

    Raises StackConflictError, naming every conflict, when the environment asks for other
    endpoints or shared settings than a running stack uses; then nothing may be started.
    """
    active = (state is not None and state.up) or any(alive.values())
    recorded = state.components if state is not None else {}
    choices: list[Choice] = []
    conflicts: list[str] = []
    for name, endpoint in local.items():
        variable = ENDPOINT_VARIABLES.get(name)
        given = (environ.get(variable) or None) if variable else None
        record = recorded.get(name)
        if given is None or (record is not None and given == record.endpoint):
            if record is not None and record.source is Source.GIVEN and (active or given):
                choices.append(Choice(name, Source.GIVEN, record.endpoint, Status.GIVEN))
                continue
            was_up = state is not None and state.up and record is not None
            status = (
                Status.KEPT if alive.get(name) else Status.RESTARTED if was_up else Status.STARTED
            )
            choices.append(Choice(name, Source.LOCAL, endpoint, status))
        elif active and record is not None:
            conflicts.append(
                f"{variable}={redact(given)} is not what the running stack uses: "
                f"{redact(record.endpoint)} ({describe(record.source)})"
            )
        else:
            choices.append(Choice(name, Source.GIVEN, given, Status.GIVEN))
    if active:
        conflicts += [
            f"{name} differs from the one the running stack uses (values not shown)"
            for name in SHARED_SETTINGS
            if environ.get(name) and previous_env.get(name)
            and environ[name] != previous_env[name]
        ]  # fmt: skip
    if conflicts:
        raise StackConflictError(refusal(conflicts))
    return choices


def refusal(conflicts: Sequence[str]) -> str:
    """The message for a refused `stack up`: what differs, and the two ways on."""
    lines = "\n".join(f"  {c}" for c in conflicts)
    return (
        f"jobcast stack up: refused, nothing was started or stopped.\n{lines}\n"
        "To keep the running stack, unset these variables (or `. .jobcast/env`) and run "
        "`jobcast stack up` again.\n"
        "To switch, stop the stack first (`jobcast stack down`, or `make down`), then run "
        "`jobcast stack up` with the new values."
    )


def describe(source: Source) -> str:
    return "started here" if source is Source.LOCAL else "given by you"


def redact(endpoint: str) -> str:
    """An endpoint fit to print: a URL's password is replaced by `***`."""
    parts = urlsplit(endpoint)
    if not parts.password:
        return endpoint
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
