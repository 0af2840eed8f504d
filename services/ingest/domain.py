"""Turning what an upstream system sends into contract events (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from jobcast.http_edge import redacted_message
from schemas.bounds import MAX_EVENT_BYTES
from schemas.jobs import JobEvent

JOB_EVENT: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)
MAX_BATCH = 500
_EVENT_TYPES = ("job.created", "job.updated", "job.closed", "job.filled")


class SubmissionError(ValueError):
    """The submission is not a valid job event; `errors` name each bad field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


class ForeignTenantError(PermissionError):
    """The body names a tenant other than the API key's."""


class BatchTooLargeError(ValueError):
    """More events in one request than MAX_BATCH."""


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """A valid job event and its JSON, rendered once: measured here, produced as it is
    (a `jobcast.kafka.JsonEvent`). Made by `encoded`, which refuses what Kafka would not
    take, so an event that reaches the acceptor cannot fail a shared produce request."""

    event: JobEvent
    json: str

    @property
    def tenant_id(self) -> UUID:
        return self.event.tenant_id

    @property
    def event_id(self) -> UUID:
        return self.event.event_id

    def model_dump_json(self) -> str:
        return self.json


def encoded(event: JobEvent, limit: int = MAX_EVENT_BYTES) -> EncodedEvent:
    """The event with its JSON, or SubmissionError if that is over `limit` bytes.

    Cheap: the JSON is the one the producer would render anyway, and its size in UTF-8
    is only counted when its length in characters leaves a doubt (a character is 1 to 4
    bytes; `len` is O(1) on a str). Validation already refused unpaired surrogates, so
    the JSON always encodes.
    """
    json = event.model_dump_json()
    size = len(json)
    if size * 4 > limit and not json.isascii():
        size = len(json.encode())
    if size > limit:
        why = f"the event is {size} bytes as JSON, over the limit of {limit}"
        raise SubmissionError([_error(["body"], f"{why}: shorten its text")])
    return EncodedEvent(event, json)


def is_batch(body: object) -> bool:
    """A batch is `{"events": [...]}`; anything else is one event."""
    return isinstance(body, dict) and "events" in body and "event_type" not in body


def to_job_events(
    body: object, tenant_id: UUID, max_event_bytes: int = MAX_EVENT_BYTES
) -> list[EncodedEvent | SubmissionError]:
    """Validate and encode a batch: each event on its own, so one bad (or too large) event
    spoils nothing else."""
    assert isinstance(body, dict)
    events = body["events"]
    if not isinstance(events, list) or not events:
        raise SubmissionError([_error(["events"], "must be a non-empty list of events")])
    if len(events) > MAX_BATCH:
        raise BatchTooLargeError(f"at most {MAX_BATCH} events per request, got {len(events)}")
    outcomes: list[EncodedEvent | SubmissionError] = []
    for item in events:
        try:
            outcomes.append(encoded(to_job_event(item, tenant_id), max_event_bytes))
        except SubmissionError as exc:
            outcomes.append(exc)
        except ForeignTenantError as exc:
            outcomes.append(SubmissionError([_error(["tenant_id"], str(exc))]))
    return outcomes


def to_job_event(body: object, tenant_id: UUID) -> JobEvent:
    """Validate one submitted event and stamp it with the caller's tenant.

    Upstream may send `event_id` (its idempotency key) and `occurred_at`; both
    default when absent. The tenant always comes from the API key. Errors name fields
    and reasons, never the values sent. (`encoded` checks its size next.)
    """
    if not isinstance(body, dict):
        raise SubmissionError([_error(["body"], "must be a JSON object")])
    claimed = body.get("tenant_id")
    if claimed is not None and str(claimed) != str(tenant_id):
        raise ForeignTenantError("tenant_id does not match the API key")
    event_type = body.get("event_type")
    if event_type not in _EVENT_TYPES:
        raise SubmissionError([_error(["event_type"], f"must be one of {', '.join(_EVENT_TYPES)}")])
    try:
        return JOB_EVENT.validate_python({**body, "tenant_id": tenant_id})
    except ValidationError as exc:
        raise SubmissionError(
            [
                # The union's tag ("job.created") leads each location; callers know the type.
                _error([str(p) for p in e["loc"][1:]] or ["body"], redacted_message(e))
                for e in exc.errors(include_url=False)
            ]
        ) from None


@dataclass(frozen=True, slots=True)
class Sightings:
    """What a flush of submissions publishes, and which ids each submission saw first."""

    publish: list[EncodedEvent]  # in submission order, each (tenant, event id) once
    first_seen: list[set[UUID]]  # per submission: the event ids it is the first to send


def first_sightings(
    submissions: Sequence[Sequence[EncodedEvent]], seen: set[tuple[UUID, UUID]]
) -> Sightings:
    """Drop events whose (tenant, event id) was accepted before (`seen`) or earlier in
    this flush, by the same submission or another one: a repeat is published once."""
    claimed = set(seen)
    publish: list[EncodedEvent] = []
    first_seen: list[set[UUID]] = []
    for events in submissions:
        mine: set[UUID] = set()
        for event in events:
            key = (event.tenant_id, event.event_id)
            if key not in claimed:
                claimed.add(key)
                publish.append(event)
                mine.add(event.event_id)
        first_seen.append(mine)
    return Sightings(publish, first_seen)


def _error(loc: list[str], msg: str) -> dict[str, Any]:
    return {"loc": loc, "field": ".".join(loc), "msg": msg}
