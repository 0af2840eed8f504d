"""Bad records for every consumed topic: hand-picked ones and hypothesis strategies.

Each topic has a valid template (a record its consumer accepts); bad records are made from
it (a field dropped, a value of the wrong type, an unknown event type, a future schema
version, a huge value) or from nothing (not JSON, invalid UTF-8, a tombstone). Which ones
the consumer must refuse is decided here, by the same contract the consumer applies
(`refused`), so a "bad" record that happens to be valid is never expected in a DLQ.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from jobcast.topics import (
    CONNECTIONS_EVENTS,
    JOBS_EVENTS,
    JOBS_INCOMING,
    OPERATOR_COMMANDS,
    PUBLISH_RESULTS,
)
from schemas import SCHEMA_VERSION
from schemas.connections import ConnectionEvent
from schemas.export import CONTRACT
from schemas.jobs import JobEvent
from schemas.operator import OperatorCommandIssued
from schemas.platforms import Platform
from schemas.publish import PublishCompleted, PublishRequested
from services.ingest.domain import ForeignTenantError, SubmissionError, to_job_event

Json = Any
Path = tuple[str | int, ...]

# The groups that consume each topic and dead-letter what they cannot read (at least these;
# a topic read by several groups yields one dead letter per group).
GROUPS: dict[str, frozenset[str]] = {
    JOBS_INCOMING: frozenset({"ingest-incoming"}),
    JOBS_EVENTS: frozenset({"distributor"}),
    "publish.facebook": frozenset({"publisher-facebook"}),
    "publish.instagram": frozenset({"publisher-instagram"}),
    "publish.threads": frozenset({"publisher-threads"}),
    "publish.linkedin": frozenset({"publisher-linkedin"}),
    PUBLISH_RESULTS: frozenset({"metrics"}),
    CONNECTIONS_EVENTS: frozenset({"distributor"}),
    OPERATOR_COMMANDS: frozenset({"distributor", *(f"publisher-{p.value}" for p in Platform)}),
}

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    JOBS_EVENTS: TypeAdapter(JobEvent),
    "publish.facebook": TypeAdapter(PublishRequested),
    "publish.instagram": TypeAdapter(PublishRequested),
    "publish.threads": TypeAdapter(PublishRequested),
    "publish.linkedin": TypeAdapter(PublishRequested),
    PUBLISH_RESULTS: TypeAdapter(PublishCompleted),
    CONNECTIONS_EVENTS: TypeAdapter(ConnectionEvent),
    OPERATOR_COMMANDS: TypeAdapter(OperatorCommandIssued),
}

# A string field of each topic's template with a length limit, for the "huge" record
# (topics not named here: a field of their payload that no contract allows).
_BOUNDED_TEXT: dict[str, Path] = {
    JOBS_INCOMING: ("payload", "title"),
    JOBS_EVENTS: ("payload", "title"),
    "publish.facebook": ("payload", "account_id"),
    "publish.instagram": ("payload", "account_id"),
    PUBLISH_RESULTS: ("payload", "platform_post_id"),
    CONNECTIONS_EVENTS: ("payload", "account_id"),
    OPERATOR_COMMANDS: ("payload", "actor"),
}


def refused(topic: str, value: bytes | None, tenant_id: UUID) -> bool:
    """Whether the topic's consumer must dead-letter this record (its own contract)."""
    if topic == JOBS_INCOMING:
        return _refused_upstream(value, tenant_id)
    adapter = _ADAPTERS.get(topic) or CONTRACT.get(topic)
    if adapter is None:  # a topic whose contract this module does not know yet
        return True
    try:
        adapter.validate_json(value or b"")
    except ValidationError:
        return True
    return False


def _refused_upstream(value: bytes | None, tenant_id: UUID) -> bool:
    """jobs.incoming: upstream's JSON, normalised by ingest (services/ingest/incoming.py)."""
    try:
        body = json.loads(value or b"")
    except (UnicodeDecodeError, ValueError, RecursionError):
        return True
    if not isinstance(body, dict) or str(body.get("tenant_id")) != str(tenant_id):
        return True
    try:
        to_job_event(body, tenant_id)
    except (SubmissionError, ForeignTenantError):
        return True
    return False


@dataclass(frozen=True)
class BadRecord:
    label: str
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def encode(record: Json) -> bytes:
    return json.dumps(record).encode()


def without(record: Json, path: Path) -> Json:
    changed = copy.deepcopy(record)
    *parents, last = path
    node = changed
    for step in parents:
        node = node[step]
    del node[last]
    return changed


def replaced(record: Json, path: Path, value: Json) -> Json:
    changed = copy.deepcopy(record)
    *parents, last = path
    node = changed
    for step in parents:
        node = node[step]
    node[last] = value
    return changed


def paths(record: Json, prefix: Path = ()) -> list[Path]:
    """Every key path in a JSON document (objects and lists), parents before children."""
    found: list[Path] = []
    items: list[tuple[str | int, Json]] = []
    if isinstance(record, dict):
        items = list(record.items())
    elif isinstance(record, list):
        items = list(enumerate(record))
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths(value, (*prefix, key)))
    return found


def hand_picked(topic: str, template: Json, huge_bytes: int) -> list[BadRecord]:
    """The classic ways a record goes wrong, made from a valid template of the topic."""
    good = encode(template)
    title = _BOUNDED_TEXT.get(topic, ("payload", "surprise"))
    required_payload_field = next(iter(template["payload"]), "missing")
    records = [
        BadRecord("not JSON", b"not json at all"),
        BadRecord("empty value", b""),
        BadRecord("tombstone (no value)", None),
        BadRecord("invalid UTF-8 (bare bytes)", b"\xff\xfe\xfd"),
        BadRecord(
            "invalid UTF-8 inside a valid record", good.replace(b'"payload"', b'"pay\xc3\x28load"')
        ),
        BadRecord("truncated JSON", good[: len(good) // 2]),
        BadRecord("JSON array", b"[]"),
        BadRecord("JSON null", b"null"),
        BadRecord("JSON number", b"42"),
        BadRecord("JSON string", b'"job.created"'),
        BadRecord("deeply nested JSON", b"[" * 50_000 + b"]" * 50_000),
        BadRecord("missing payload", encode(without(template, ("payload",)))),
        BadRecord("missing event_type", encode(without(template, ("event_type",)))),
        BadRecord("missing tenant_id", encode(without(template, ("tenant_id",)))),
        BadRecord(
            f"missing payload.{required_payload_field}",
            encode(without(template, ("payload", required_payload_field))),
        ),
        BadRecord("tenant_id of the wrong type", encode(replaced(template, ("tenant_id",), 42))),
        BadRecord("payload of the wrong type", encode(replaced(template, ("payload",), "text"))),
        BadRecord("payload as a list", encode(replaced(template, ("payload",), []))),
        BadRecord("event_type of the wrong type", encode(replaced(template, ("event_type",), 7))),
        BadRecord("schema_version as text", encode(replaced(template, ("schema_version",), "one"))),
        BadRecord("occurred_at not a time", encode(replaced(template, ("occurred_at",), "soon"))),
        BadRecord(
            "unknown event type", encode(replaced(template, ("event_type",), "job.exploded"))
        ),
        BadRecord(
            "future schema version",
            encode(replaced(template, ("schema_version",), SCHEMA_VERSION + 1)),
        ),
        BadRecord(
            "far-future schema version",
            encode(replaced(template, ("schema_version",), 2**63)),
        ),
        BadRecord("schema version 0", encode(replaced(template, ("schema_version",), 0))),
        BadRecord(
            "NaN as a version", good.replace(b'"schema_version": 1', b'"schema_version": NaN')
        ),
        BadRecord("lone surrogate escape", encode(replaced(template, title, "\ud800"))),
        BadRecord("huge field", encode(replaced(template, title, "x" * (huge_bytes // 2)))),
        BadRecord("huge, not JSON, near the broker's limit", b"x" * huge_bytes),
    ]
    # Headers that promise what the body is not (a library that trusts them raises early).
    records += [
        BadRecord(
            "content-type JSON, body not JSON", b"{oops", (("content-type", b"application/json"),)
        ),
        BadRecord(
            "content-type text, invalid UTF-8", b"\xff\xfe", (("content-type", b"text/plain"),)
        ),
        BadRecord(
            "content-type JSON, nested too deep",
            b"[" * 50_000,
            (("content-type", b"application/json"),),
        ),
        BadRecord("header value not UTF-8", b"not json", (("x-correlation-id", b"\xff\xfe"),)),
    ]
    if topic != JOBS_INCOMING:  # upstream may add fields; the internal contract may not
        records.append(BadRecord("unknown field", encode(replaced(template, ("surprise",), 1))))
    # Some cases do not apply to every contract (an event_type with a default may be left
    # out); whatever the contract accepts is not a bad record.
    return [r for r in records if refused(topic, r.value, _tenant_of(template))]


def _tenant_of(template: Json) -> UUID:
    return UUID(str(template["tenant_id"]))


# -- hypothesis ---------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@dataclass(frozen=True)
class Mutation:
    """A recipe for one bad record, independent of the template it is applied to."""

    kind: str  # bytes, json, drop, replace, event_type, version
    data: Json = None
    pick: int = 0  # which path of the template (modulo their number)

    def apply(self, template: Json) -> BadRecord:
        targets = paths(template)
        path = targets[self.pick % len(targets)]
        if self.kind == "bytes":
            return BadRecord(f"random bytes ({len(self.data)})", self.data)
        if self.kind == "json":
            return BadRecord("random JSON", encode(self.data))
        if self.kind == "drop":
            return BadRecord(f"without {_dotted(path)}", encode(without(template, path)))
        if self.kind == "replace":
            return BadRecord(
                f"{_dotted(path)} = {self.data!r:.40}", encode(replaced(template, path, self.data))
            )
        if self.kind == "event_type":
            return BadRecord(
                f"event_type {self.data!r:.40}",
                encode(replaced(template, ("event_type",), self.data)),
            )
        return BadRecord(
            f"schema_version {self.data}",
            encode(replaced(template, ("schema_version",), self.data)),
        )


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


mutations: st.SearchStrategy[Mutation] = st.one_of(
    st.builds(Mutation, st.just("bytes"), st.binary(max_size=300)),
    st.builds(Mutation, st.just("json"), json_values),
    st.builds(Mutation, st.just("drop"), st.none(), st.integers(0, 1000)),
    st.builds(Mutation, st.just("replace"), json_values, st.integers(0, 1000)),
    st.builds(
        Mutation,
        st.just("event_type"),
        st.text(max_size=30).filter(lambda t: "." not in t) | json_scalars,
    ),
    st.builds(
        Mutation,
        st.just("version"),
        st.integers(min_value=SCHEMA_VERSION + 1) | st.integers(max_value=0),
    ),
)


def generated(
    topic: str, template: Json, recipes: list[Mutation], tenant_id: UUID
) -> list[BadRecord]:
    """Apply recipes; keep the records the contract refuses (a mutation can stay valid)."""
    records = [recipe.apply(template) for recipe in recipes]
    return [r for r in records if refused(topic, r.value, tenant_id)]


GoodFactory = Callable[[int], tuple[bytes, Json]]
