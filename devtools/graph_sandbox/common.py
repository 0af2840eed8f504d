"""Small helpers shared by the Facebook and Instagram operations."""

from __future__ import annotations

import base64
import ipaddress
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode, urlsplit

from .call import Call
from .errors import GraphError, JSONDict, invalid_param, nonexisting_field
from .params import FieldSpec
from .state import SandboxState

T = TypeVar("T")

DEFAULT_PAGE_LIMIT = 25
MAX_PAGE_LIMIT = 100


def read_after_write(
    state: SandboxState,
    call: Call,
    written: JSONDict,
    read: Callable[[list[FieldSpec]], JSONDict],
) -> JSONDict:
    """Meta's read-after-write: a create or update that names `fields` answers with the
    new object's fields (`read`), saving the client a GET. If the read fails, the answer
    is the read's error with `original_response` (what the write alone answers): the
    write stands either way. With the setting off, `fields` is ignored, as on endpoints
    whose reference does not list the feature."""
    if not state.settings.read_after_write or not call.params.get_str("fields"):
        return written
    try:
        return {**read(call.params.fields("id")), **written}
    except GraphError as err:
        err.original_response = written
        raise


def container_state(
    *, published: bool, failed: bool, expired: bool, ready: bool, child_states: Iterable[str]
) -> str:
    """A media container's state (Instagram's and Threads' alike): PUBLISHED, ERROR (its
    own, or a carousel item's error or expiry), EXPIRED, IN_PROGRESS until it and every
    item are processed, then FINISHED."""
    if published:
        return "PUBLISHED"
    if failed:
        return "ERROR"
    if expired:
        return "EXPIRED"
    pending = not ready
    for child_state in child_states:
        if child_state in ("ERROR", "EXPIRED"):
            return "ERROR"
        pending = pending or child_state == "IN_PROGRESS"
    return "IN_PROGRESS" if pending else "FINISHED"


def fmt_time(ts: float) -> str:
    """Meta's timestamp format: ``2025-10-01T12:34:56+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(ts))


def fake_count(object_id: str, salt: str, modulo: int) -> int:
    """A deterministic pseudo-random count for engagement numbers."""
    return zlib.crc32(f"{object_id}:{salt}".encode()) % modulo


def url_is_fetchable(url: str, reject_private: bool) -> bool:
    """Whether Meta's crawler could plausibly fetch ``url`` (http(s), public host)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return False
    if not reject_private:
        return True
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True  # a DNS name: assume public
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified)


def url_extension(url: str) -> str:
    """Lower-case file extension of a URL path ('' when none)."""
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise invalid_param("Invalid cursor") from None


def page_limit(call: Call) -> int:
    """The ``limit`` parameter, bounded like Meta's list edges."""
    limit = call.params.get_int("limit")
    if limit is None:
        return DEFAULT_PAGE_LIMIT
    if limit < 0:
        raise invalid_param("Param limit must be a positive integer")
    return min(limit, MAX_PAGE_LIMIT)


def paginate(
    call: Call,
    items: Sequence[T],
    keep: Callable[[T], bool],
    render: Callable[[T], JSONDict],
) -> JSONDict:
    """Newest-first page of ``items`` (stored oldest-first) with Meta-style cursors."""
    limit = page_limit(call)
    after = call.params.get_str("after")
    start = _decode_cursor(after) - 1 if after else len(items) - 1
    data: list[JSONDict] = []
    first = last = -1
    index = min(start, len(items) - 1)
    while index >= 0 and len(data) < limit:
        item = items[index]
        if keep(item):
            if first < 0:
                first = index
            last = index
            data.append(render(item))
        index -= 1
    result: JSONDict = {"data": data}
    if not data:
        return result
    paging: JSONDict = {"cursors": {"before": _encode_cursor(first), "after": _encode_cursor(last)}}
    if any(keep(items[i]) for i in range(last - 1, -1, -1)):
        paging["next"] = _next_url(call, _encode_cursor(last))
    result["paging"] = paging
    return result


def _next_url(call: Call, cursor: str) -> str:
    query: dict[str, Any] = {}
    for name in ("fields", "limit", "since", "until", "metric"):
        value = call.params.get_str(name)
        if value is not None:
            query[name] = value
    if call.token:
        query["access_token"] = call.token  # Meta puts the token in paging links too
    query["after"] = cursor
    version = f"/{call.version}" if call.version else ""
    return f"{call.base_url}{version}{call.path}?{urlencode(query)}"


FieldFn = Callable[[SandboxState, T, FieldSpec], object]


@dataclass(frozen=True, slots=True)
class NodeFields(Generic[T]):
    """The fields one Graph node type offers, each with the function that renders it."""

    node_type: str
    table: Mapping[str, FieldFn[T]]


def render_fields(
    state: SandboxState, obj: T, fields: list[FieldSpec], node: NodeFields[T], object_id: str
) -> JSONDict:
    """Render requested fields through ``table``; ``None`` values are omitted like Graph does.

    Unknown fields fail the call with Meta's "nonexisting field" error; ``id`` is always present.
    """
    out: JSONDict = {}
    for spec in fields:
        fn = node.table.get(spec.name)
        if fn is None:
            raise nonexisting_field(spec.name, node.node_type)
        value = fn(state, obj, spec)
        if value is not None:
            out[spec.name] = value
    out.setdefault("id", object_id)
    return out
