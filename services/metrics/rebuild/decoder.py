"""A fast decoder for `publish.completed` records on the rebuild's load path.

The contract is `schemas.publish.PublishCompleted` (pydantic); validating a million
records with it costs ~10 µs each, a third of the rebuild's CPU. This decoder
(msgspec, ~3 µs) accepts only records written the plain way the publishers and the
distributor write them: every field present as its exact JSON type, strings with no
surrounding whitespace, timestamps as RFC 3339 with an offset. Anything else — a
missing `event_id` (the contract would invent one), a number in a string, a naive
timestamp, a value the contract would strip or coerce — is not decided here: the
caller validates it with the contract model, which stays the judge. So for every
record this decoder accepts, its row is the contract's row (`tests/unit/
test_fast_results.py` checks that on generated and mutated records).
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from pydantic import HttpUrl, TypeAdapter

from schemas.bounds import EARLIEST, LATEST, MAX_INT, check_text
from schemas.envelope import SCHEMA_VERSION
from schemas.platforms import Platform
from schemas.publish import ErrorClass, PublishAction, PublishStatus
from services.metrics.readmodel.models import EventRow, event_row

# Timestamps, post keys and job ids are checked by hand below, not by msgspec patterns:
# msgspec runs a pattern through Python's re, which cost more than the rest of the
# decoding (four timestamps a record: 1.6 µs of 2.9).
_HEX = "0123456789abcdef"
_JOB_ID_CHARS = string.ascii_letters + string.digits + "._:-"


class _Error(msgspec.Struct, forbid_unknown_fields=True):
    error_class: ErrorClass
    code: Annotated[int, msgspec.Meta(ge=-MAX_INT - 1, le=MAX_INT)] | None = None
    subcode: Annotated[int, msgspec.Meta(ge=-MAX_INT - 1, le=MAX_INT)] | None = None
    message: Annotated[str, msgspec.Meta(max_length=2_000)] = ""


class _Result(msgspec.Struct, forbid_unknown_fields=True):
    post_key: str
    platform: Platform
    connection_id: UUID
    job_id: str
    status: PublishStatus
    completed_at: str
    action: PublishAction = PublishAction.PUBLISH
    attempt: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)] = 1
    platform_post_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    permalink: str | None = None
    error: _Error | None = None
    next_attempt_at: str | None = None
    requested_at: str | None = None
    http_status: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    latency_ms: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)] | None = None


class _Completed(msgspec.Struct, forbid_unknown_fields=True):
    # No defaults for event_id and occurred_at: the contract would make them up.
    event_id: UUID
    occurred_at: str
    tenant_id: UUID
    payload: _Result
    event_type: Literal["publish.completed"] = "publish.completed"
    schema_version: Annotated[int, msgspec.Meta(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION


_decoder = msgspec.json.Decoder(_Completed)
_http_url: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)
# A permalink of this form is already what HttpUrl makes of it, so it is stored as
# written: a lower-case ASCII host with a letters-only top label (no IDNA or IPv4
# reading), no port, user or fragment, a path (at least "/") and a query in characters
# it never escapes, no dot segments. Any other goes through HttpUrl (1.5 µs a call).
_PLAIN_PERMALINK = re.compile(
    r"https://(?:[a-z0-9]+(?:-[a-z0-9]+)*\.)+[a-z]{2,24}"
    r"/(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*/?)?"
    r"(?:\?[A-Za-z0-9_.=&-]*)?"
)
_PERMALINK_MAX = 2_083  # HttpUrl's own limit


class _UndecidedError(Exception):
    """The record is not in the plain form: the contract model must judge it."""


def _instant(value: str) -> datetime:
    """An RFC 3339 timestamp as the publishers write it, in UTC:
    `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)`; any other spelling is undecided."""
    zulu = value[-1:] == "Z"
    end = len(value) - 1 if zulu else len(value) - 6  # where the fraction or offset ends
    if (
        value[4:17:3] != "--T::"  # the separators at 4, 7, 10, 13 and 16
        or (end != 19 and (end < 21 or end > 26 or value[19] != "."))
        or (not zulu and value[end : end + 4 : 3] not in ("+:", "-:"))
        or not value.isascii()
    ):
        raise _UndecidedError
    # fromisoformat takes only ASCII digits where it reads a number, so with the
    # separators fixed above it accepts just this form.
    try:
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # 2026-02-30, hour 24; year 1 at +01:00
        raise _UndecidedError from None
    if not EARLIEST <= moment < LATEST:  # outside the contract's window: it refuses
        raise _UndecidedError
    return moment


def _plain(value: str | None) -> None:
    # The contract strips whitespace from every string before checking it, and refuses
    # NUL and unpaired surrogates (check_text raises ValueError: undecided as well).
    if value is not None and (value != value.strip() or check_text(value) is not value):
        raise _UndecidedError


def result_row_fast(value: bytes) -> EventRow | None:
    """The row of `readmodel.result_row` for a plainly written record, or None when
    this decoder does not decide (invalid, or valid in a form only the contract reads)."""
    try:
        event = _decoder.decode(value)
        r = event.payload
        e = r.error
        key, job = r.post_key, r.job_id
        if len(key) != 35 or key[:3] != "pk_" or key[3:].strip(_HEX):
            raise _UndecidedError
        if not job or len(job) > 128 or job.strip(_JOB_ID_CHARS):
            raise _UndecidedError
        _instant(event.occurred_at)  # not in the row, but the contract must accept it
        _plain(r.platform_post_id)
        permalink = None
        if r.permalink is not None:
            _plain(r.permalink)
            permalink = r.permalink
            if len(permalink) > _PERMALINK_MAX or not _PLAIN_PERMALINK.fullmatch(permalink):
                permalink = str(_http_url.validate_python(permalink))
        if e is not None:
            _plain(e.message)
        return event_row(
            r,
            e,
            event_id=event.event_id,
            tenant_id=event.tenant_id,
            permalink=permalink,
            next_attempt_at=_instant(r.next_attempt_at) if r.next_attempt_at is not None else None,
            completed_at=_instant(r.completed_at),
            requested_at=_instant(r.requested_at) if r.requested_at is not None else None,
        )
    except Exception:
        # Whatever this decoder does not foresee is the contract's to judge (invalid UTF-8
        # inside a string, for one, raises UnicodeDecodeError rather than DecodeError).
        return None
