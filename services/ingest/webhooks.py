"""Meta (Facebook Page / Instagram) webhook receiver: verify, authenticate, dedupe, fan out.

Meta calls `GET /v1/webhooks/meta` once to verify the subscription, then `POST`s signed
batches of changes. A delivery is accepted only if its `X-Hub-Signature-256` is the
HMAC-SHA256 of the exact raw body under the app secret. Meta retries a delivery for up to
36 hours, so the SHA-256 of the raw body is remembered and a repeat is answered 200
without delivering anything again.

Delivery is at-least-once: the digest is remembered only *after* every change was
handed to `deliver`, so a crash in between means Meta's retry is delivered again. That
is harmless because event ids are derived from the digest and the change's position:
a retried delivery produces the very same event ids, and consumers dedupe on them.

Nothing here logs bodies, signatures or secrets.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID, uuid5

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from jobcast.http_edge import BodyTooLargeError
from jobcast.kafka import describe_validation_error, publish_first_event
from jobcast.topics import PLATFORM_WEBHOOKS
from schemas.webhooks import PlatformWebhookChange, PlatformWebhookReceived, WebhookObject

log = logging.getLogger(__name__)

"""Topic of `PlatformWebhookReceived` events, keyed by the entry's object id.

(To be moved to `jobcast.topics` and added to `ALL_TOPICS` so `ensure_topics` creates it.)
"""

WEBHOOK_PATH = "/v1/webhooks/meta"
_MAX_CHALLENGE_CHARS = 256  # Meta sends a short integer; anything huge is not Meta
_SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_PREFIX = "sha256="

# Fixed namespace for uuid5 event ids: changing it would change every id (and so break
# dedupe of retries that straddle a deploy), so it is a literal, never generated.
_EVENT_ID_NAMESPACE = UUID("e4cf4346-33e2-4422-8ded-1c1299bd066e")

OUTCOMES = (
    "accepted",
    "duplicate",
    "unsigned",
    "bad_signature",
    "invalid",
    "too_large",
    "failed",
)
WEBHOOK_DELIVERIES = Counter(
    "jobcast_webhook_deliveries_total",
    "Meta webhook deliveries received, by outcome",
    ["outcome"],
)
for _outcome in OUTCOMES:  # export every series at 0 so rate() and alerts see them early
    WEBHOOK_DELIVERIES.labels(outcome=_outcome)


# --- the event contract (to be moved to schemas/) ----------------------------------------


# --- what Meta sends ------------------------------------------------------------------------


class _Inbound(BaseModel):
    # Meta adds fields over time (`uid`, `changed_fields`, ...): ignore what we do not
    # use instead of rejecting a genuine, signed delivery. Ids arrive as strings, but
    # tolerate numbers rather than fail on a representation detail.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class MetaChange(_Inbound):
    """`entry[i].changes[j]`."""

    field: Annotated[str, Field(min_length=1)]
    value: dict[str, Any]


class MetaEntry(_Inbound):
    """`entry[i]`: one object (Page / IG account) and its changes."""

    id: Annotated[str, Field(min_length=1)]
    time: int | None = None
    changes: list[MetaChange]


class MetaDelivery(_Inbound):
    """The body of one webhook POST."""

    object: WebhookObject
    entry: list[MetaEntry]


def event_id_for(digest: bytes, entry_index: int, change_index: int) -> UUID:
    """The deterministic id of one change of one delivery (same retry → same id)."""
    return uuid5(_EVENT_ID_NAMESPACE, f"{digest.hex()}:{entry_index}:{change_index}")


def to_events(delivery: MetaDelivery, digest: bytes) -> list[PlatformWebhookReceived]:
    """Split a delivery into one event per `entry.change`, in delivery order."""
    return [
        PlatformWebhookReceived(
            event_id=event_id_for(digest, i, j),
            payload=PlatformWebhookChange(
                object=delivery.object,
                entry_id=entry.id,
                entry_time=entry.time,
                field=change.field,
                value=change.value,
            ),
        )
        for i, entry in enumerate(delivery.entry)
        for j, change in enumerate(entry.changes)
    ]


def sign(app_secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body` (also used by tests)."""
    return _SIGNATURE_PREFIX + hmac.new(app_secret, body, hashlib.sha256).hexdigest()


# --- the router -----------------------------------------------------------------------------

Deliver = Callable[[PlatformWebhookReceived], Awaitable[None]]
Seen = Callable[[bytes], Awaitable[bool]]
Remember = Callable[[bytes], Awaitable[object]]


def webhook_router(
    *,
    verify_token: SecretStr | None,
    app_secret: SecretStr | None,
    deliver: Deliver,
    seen: Seen,
    remember: Remember,
) -> APIRouter:
    """`GET`/`POST /v1/webhooks/meta`: the subscription handshake and signed deliveries.

    - `deliver(event)` hands one change on (in production: publish to `platform.webhooks`
      keyed by `payload.entry_id`, see `kafka_deliver`).
    - `seen(digest)` answers whether a delivery with that body digest was accepted before.
    - `remember(digest)` records it, called only after every change was delivered.

    A token or secret that is None or empty counts as not configured (an empty HMAC key
    would let anyone sign), and that endpoint answers 503. The body is read before the
    signature can be checked: the app bounds it (`jobcast.http_edge`, a limit of its own
    for `WEBHOOK_PATH`), so an unauthenticated sender cannot make us buffer much.
    """
    token = _configured(verify_token)
    secret = _configured(app_secret)
    router = APIRouter()

    @router.get(
        WEBHOOK_PATH,
        response_class=PlainTextResponse,
        responses={400: {}, 403: {}, 503: {}},
    )
    async def verify_subscription(request: Request) -> PlainTextResponse:
        if token is None:
            raise HTTPException(
                503, "Meta webhook verification is not configured (no verify token)"
            )
        params = request.query_params
        given = params.get("hub.verify_token", "")
        if params.get("hub.mode") != "subscribe" or not hmac.compare_digest(given.encode(), token):
            raise HTTPException(403, "verification refused")
        challenge = params.get("hub.challenge")
        if not challenge or len(challenge) > _MAX_CHALLENGE_CHARS:
            raise HTTPException(400, "hub.challenge is missing or too long")
        # Echoed verbatim; nosniff keeps a browser from reading it as anything but text.
        return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})

    @router.post(WEBHOOK_PATH, responses={400: {}, 401: {}, 403: {}, 413: {}, 503: {}})
    async def receive_delivery(request: Request) -> JSONResponse:
        if secret is None:
            raise HTTPException(503, "Meta webhooks are not configured (no app secret)")
        # Reading before checking the signature is unavoidable (the HMAC covers the body).
        try:
            raw = await request.body()
        except BodyTooLargeError:
            WEBHOOK_DELIVERIES.labels(outcome="too_large").inc()
            raise
        _check_signature(request.headers.get(_SIGNATURE_HEADER), secret, raw)
        try:
            delivery = MetaDelivery.model_validate_json(raw)
        except ValidationError as exc:
            WEBHOOK_DELIVERIES.labels(outcome="invalid").inc()
            # Names fields and reasons only: input values (the body) never reach the answer.
            raise HTTPException(400, describe_validation_error(exc)) from None

        digest = hashlib.sha256(raw).digest()
        if await seen(digest):
            WEBHOOK_DELIVERIES.labels(outcome="duplicate").inc()
            return JSONResponse({"status": "duplicate", "events": 0})
        events = to_events(delivery, digest)
        try:
            await _deliver_all(deliver, events)
        except Exception:
            WEBHOOK_DELIVERIES.labels(outcome="failed").inc()
            log.exception("webhook delivery failed", extra={"events": len(events)})
            # Not remembered, so Meta's retry delivers again (with the same event ids).
            raise HTTPException(503, "could not accept the delivery; retry later") from None
        await remember(digest)
        WEBHOOK_DELIVERIES.labels(outcome="accepted").inc()
        return JSONResponse({"status": "accepted", "events": len(events)})

    return router


def _configured(value: SecretStr | None) -> bytes | None:
    if value is None:
        return None
    raw = value.get_secret_value()
    return raw.encode() if raw else None


def _check_signature(header: str | None, secret: bytes, raw: bytes) -> None:
    if not header:
        WEBHOOK_DELIVERIES.labels(outcome="unsigned").inc()
        raise HTTPException(401, f"missing {_SIGNATURE_HEADER} header")
    expected = sign(secret, raw).encode()
    # Bytes, not str: compare_digest rejects non-ASCII str, and the header is untrusted.
    given = header.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(given, expected):
        WEBHOOK_DELIVERIES.labels(outcome="bad_signature").inc()
        raise HTTPException(403, "signature does not match the body")


async def _deliver_all(deliver: Deliver, events: list[PlatformWebhookReceived]) -> None:
    """Deliver concurrently across objects, in order within one object.

    Meta wants a fast 200 and a batch can hold 1,000 changes; objects are independent,
    but one Page's changes (e.g. a comment added then edited) must stay in order.
    """
    by_object: defaultdict[str, list[PlatformWebhookReceived]] = defaultdict(list)
    for event in events:
        by_object[event.payload.entry_id].append(event)

    async def in_order(chain: list[PlatformWebhookReceived]) -> None:
        for event in chain:
            await deliver(event)

    # TaskGroup cancels the siblings on the first failure, so no work outlives the request.
    async with asyncio.TaskGroup() as group:
        for chain in by_object.values():
            group.create_task(in_order(chain))


# --- production wiring ----------------------------------------------------------------------


def kafka_deliver(broker: KafkaBroker) -> Deliver:
    """A `deliver` that publishes to `platform.webhooks`, keyed by the entry's object id."""

    async def deliver(event: PlatformWebhookReceived) -> None:
        await publish_first_event(broker, PLATFORM_WEBHOOKS, event, key=event.payload.entry_id)

    return deliver
