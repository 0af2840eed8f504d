"""Extreme-but-valid job events, derived from the contract: every field at its limits.

`Walker` turns a JSON Schema (the one `schemas.export` writes, taken live from the models,
so a field added to the contract is generated without a change here) into a hypothesis
strategy that prefers the edges the schema states: `minLength`/`maxLength`, `minimum`/
`maximum`, `maxItems`, every enum value, every optional field present or absent. Where
the schema states no bound, the values go where storage and transport break: integers
past Postgres `integer`/`bigint` (`schemas.bounds`), numbers at the edge of a decimal
column, text of every Unicode category (NUL, unpaired surrogates, bidi controls, combining
marks, long emoji ZWJ sequences) and ~100 KB long, instants at both ends of the contract's
window in the most extreme UTC offsets, naive wall times in the zones furthest from UTC.
The largest events come from the same schema (`largest`): every optional field present,
every text at its maximum, every list full, and any unbounded text sized so the encoded
event lands just under or over `MAX_EVENT_BYTES` (with every text bounded: the schema's
maximum). Hypothesis draws a pool of events (`POOL`); a larger campaign adds crossings of
the pool (`recombined`), so 10,000 events cost about as much to draw as 400.

An `OddEvent` is one such event ready to send (HTTP, single or batched, or a raw record
on `jobs.incoming` with odd Kafka headers), or a malformed one (tests/suites/fuzz.py's
mutations and hand-picked bad records). Each carries a tag in its job id (and a case
header on Kafka) so its fate can be found in the read model and the dead-letter topics.
"""

from __future__ import annotations

import json
import math
import random
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from jobcast.topics import JOBS_INCOMING
from schemas import bounds
from schemas.export import CONTRACT
from services.ingest.domain import ForeignTenantError, SubmissionError, to_job_event
from tests.integration.helpers import job_event
from tests.suites.fuzz import BadRecord, Json, hand_picked, mutations, refused

T = TypeVar("T")
Schema = dict[str, Any]

# -- the edges no schema states --------------------------------------------------------------

# Text that breaks storage, encoders and renderers, by kind; one event draws its texts from
# one palette (all at once would make nearly every event one the contract refuses).
PALETTES: dict[str, tuple[str, ...]] = {
    "plain": ("a", "Z", "0", " ", "-", "&", "#", "@", "\\", '"', "'", "<b>", "%s", "{}"),
    "NUL": ("\x00", "a"),  # no Postgres text/jsonb holds it
    "unpaired surrogates": ("\ud800", "\udfff", "\udbff", "a"),  # no UTF-8 encoder writes them
    "bidi controls": (
        "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
        "\u2069", "\u0627\u0644\u0639", "x",
    ),
    "combining marks": ("e\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309", "\u0e01\u0e33"),
    "emoji ZWJ sequences": (
        "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
        "\U0001f9d1\U0001f3fd\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f9d1\U0001f3fb",
    ),
    "controls and separators": (
        "\x01", "\x1b[31m", "\x7f", "\x85", "\u200b", "\u200d", "\ufeff", "\u2028", "\u2029",
        "\r\n", "\t",
    ),
    "edges of Unicode": ("\U0010ffff", "\uffff", "\ufffd", "\U0001d54f", "\ue000", "\U000e0001"),
}  # fmt: skip
# Every character hypothesis knows, surrogates included (category Cs) when the palette is
# "unpaired surrogates"; without them otherwise.
ANY_CHARACTER = st.characters(codec=None, exclude_categories=["Cs"])
ANY_CHARACTER_AT_ALL = st.characters(codec=None, exclude_categories=())
PALETTE = st.shared(st.sampled_from(sorted(PALETTES)), key="extreme-text-palette")
# Integers where columns and encoders change size; kept if the schema's bounds allow them.
INTEGER_EDGES: tuple[int, ...] = (
    0, 1, 2**15 - 1, 2**31 - 2, bounds.MAX_INT, bounds.MAX_INT + 1, 2**32, 2**53, 2**53 + 1,
    1_764_735_000_000,  # a millisecond timestamp used as a revision
    bounds.MAX_BIGINT - 1, bounds.MAX_BIGINT, bounds.MAX_BIGINT + 1, 2**64, 10**30,
)  # fmt: skip
# Numbers at the edges of decimal columns (max_digits/decimal_places are not in the schema).
NUMBER_EDGES: tuple[float | int | str, ...] = (
    0, 0.01, 1, 0.005, 999_999_999_999.99, 9_999_999_999_999.99, 10**12, 10**14, 2**63,
    1e15, 1.7976931348623157e308, 5e-324, -0.0, "999999999999.99", "0.00", "1e3",
)  # fmt: skip
UNBOUNDED_TEXT_SIZES = (0, 1, 255, 256, 1000, 4096, 65_535, 100_000)
UNBOUNDED_ITEMS = 60

# Offsets at the ends of what datetime allows and what the world uses.
OFFSETS: tuple[timedelta, ...] = tuple(
    timedelta(minutes=m)
    for m in (0, 14 * 60, -12 * 60, 23 * 60 + 59, -(23 * 60 + 59), -11 * 60, 345, 765, -210)
)
# Zones furthest from UTC either way, and ones with odd or changing offsets.
EXTREME_ZONES: tuple[str, ...] = (
    "Pacific/Kiritimati", "Etc/GMT-14", "Etc/GMT+12", "Pacific/Pago_Pago", "Pacific/Chatham",
    "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe", "Antarctica/Troll",
    "Europe/Dublin", "America/Caracas", "Asia/Makassar", "UTC", "Etc/UTC",
)  # fmt: skip


Window = tuple[datetime, datetime]


def window_of(node: Schema) -> Window:
    """The time window a `date-time` node states (`formatMinimum`, `formatMaximum` or
    `formatExclusiveMaximum`), else the contract's own (`schemas.bounds`)."""
    low = node.get("formatMinimum", node.get("formatExclusiveMinimum"))
    high = node.get("formatExclusiveMaximum", node.get("formatMaximum"))
    return (
        datetime.fromisoformat(low) if low else bounds.EARLIEST,
        datetime.fromisoformat(high) if high else bounds.LATEST,
    )


def _instants(window: Window) -> list[datetime]:
    """Both ends of the window, either side, and Python's own ends."""
    tick = timedelta(microseconds=1)
    earliest, latest = window
    return [
        earliest, earliest + tick, earliest - tick, latest - tick, latest, latest + tick,
        datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC), datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
    ]  # fmt: skip


@st.composite
def date_times(draw: st.DrawFn, window: Window = (bounds.EARLIEST, bounds.LATEST)) -> str:
    """An ISO 8601 time: an edge instant or any in the window, in an extreme offset, or as
    naive wall time (the contract reads that in the job's `timezone`)."""
    earliest, latest = (w.astimezone(UTC).replace(tzinfo=None) for w in window)
    base = draw(
        st.sampled_from(_instants(window))
        | st.datetimes(min_value=earliest, max_value=latest).map(lambda d: d.replace(tzinfo=UTC))
    )
    offset = draw(st.sampled_from(OFFSETS))
    try:
        local = base.astimezone(timezone(offset))
    except OverflowError:  # 0001-01-01 west of UTC: state it as wall time in that offset
        local = base.replace(tzinfo=timezone(offset))
    if draw(st.integers(0, 5)) == 0:
        return local.replace(tzinfo=None).isoformat()  # naive: a wall time
    text = local.isoformat()
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


def sizes(low: int, high: int | None) -> st.SearchStrategy[int]:
    """A length (or count) that is usually at an edge of [low, high]."""
    if high is None:
        edges = [s for s in UNBOUNDED_TEXT_SIZES if s >= low]
        return st.sampled_from(edges) | st.integers(low, low + 64)
    edges = sorted({low, min(low + 1, high), max(high - 1, low), high})
    return st.sampled_from(edges) | st.integers(low, high)


@st.composite
def odd_text(draw: st.DrawFn, low: int, high: int | None) -> str:
    """Text of every Unicode category at an edge length: a short unit of special and
    arbitrary characters, repeated (cheap at 100 KB) and cut to the length."""
    length = draw(sizes(low, high))
    palette = draw(PALETTE)
    anything = ANY_CHARACTER_AT_ALL if palette == "unpaired surrogates" else ANY_CHARACTER
    pieces = st.sampled_from(PALETTES[palette])
    unit = "".join(draw(st.lists(pieces | pieces | anything, min_size=1, max_size=6)))
    return fit(unit, length)


def fit(unit: str, length: int) -> str:
    """`unit` repeated and cut to exactly `length` code points (the schema's measure)."""
    if length == 0:
        return ""
    return (unit * math.ceil(length / len(unit)))[:length]


_REPEATED_CLASS = re.compile(r"^\^(\[(?:\\.|[^\]])+\])[+*]\$$")


@st.composite
def pattern_text(draw: st.DrawFn, pattern: str, low: int, high: int | None) -> str:
    """Text matching `pattern` at an edge length. A repeated character class (`^[...]+$`,
    the common shape) is filled to any length; other patterns come from hypothesis."""
    repeated = _REPEATED_CLASS.match(pattern)
    if repeated is None:
        return draw(st.from_regex(pattern, fullmatch=True))
    length = max(draw(sizes(low, high)), 1 if pattern.endswith("+$") else 0)
    alphabet = st.from_regex(f"^{repeated.group(1)}$", fullmatch=True)
    unit = "".join(draw(st.lists(alphabet, min_size=1, max_size=12)))
    return fit(unit, length)


@st.composite
def urls(draw: st.DrawFn, low: int, high: int | None) -> str:
    """An http(s) URL at an edge length, with odd but legal hosts, ports and paths."""
    host = draw(
        st.sampled_from(
            ["jobs.example.com", "xn--bcher-kva.example", "bücher.example", "127.0.0.1",
             "[::1]", "a." * 60 + "example", "EXAMPLE.COM", "localhost"]
        )
    )  # fmt: skip
    port = draw(st.sampled_from(["", ":1", ":443", ":65535"]))
    scheme = draw(st.sampled_from(["https", "http"]))
    head = f"{scheme}://{host}{port}/"
    tail = draw(
        st.sampled_from(["a", "%F0%9F%91%A9", "~_-.", "?q=1&q=2", "#frag", ";p=1", "%00", "é"])
    )
    length = max(draw(sizes(max(low, len(head) + 1), high)), len(head) + 1)
    return head + fit(tail, length - len(head))


def _optional(node: Schema) -> bool:
    return "default" in node


class Walker:
    """Strategies from a JSON Schema (the subset pydantic writes): a value of every node,
    biased to the node's edges. Not a validator: a drawn value may still break a rule the
    schema cannot state (a model validator), and the contract then refuses it."""

    def __init__(self, schema: Schema, *, describe_zone: str = "IANA") -> None:
        self.schema = schema
        self.defs: dict[str, Schema] = schema.get("$defs", {})
        self.describe_zone = describe_zone
        tag = schema.get("discriminator", {}).get("propertyName")
        self.tags: set[str] = {tag} if tag else set()

    def resolve(self, node: Schema) -> Schema:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return self.resolve(self.defs[ref.removeprefix("#/$defs/")])
        return node

    def strategy(self, node: Schema | None = None) -> st.SearchStrategy[Json]:
        node = self._described(self.resolve(self.schema if node is None else node))
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        union = node.get("oneOf", node.get("anyOf"))
        if union is not None:
            return st.one_of([self.strategy(branch) for branch in union])
        kinds: dict[str, Callable[[Schema], st.SearchStrategy[Any]]] = {
            "object": self._object, "array": self._array, "string": self._string,
            "integer": self._integer, "number": self._number,
        }  # fmt: skip
        kind = str(node.get("type"))
        if kind in kinds:
            return kinds[kind](node)
        # `null`, or a node this walker does not know: None, and the contract will say.
        return st.booleans() if kind == "boolean" else st.none()

    def _array(self, node: Schema) -> st.SearchStrategy[list[Json]]:
        items = self.strategy(node.get("items", {}))
        count = sizes(node.get("minItems", 0), node.get("maxItems", UNBOUNDED_ITEMS))
        return count.flatmap(lambda n: st.lists(items, min_size=n, max_size=n))

    @staticmethod
    def _number(node: Schema) -> st.SearchStrategy[Json]:
        low = float(_bound(node, "minimum", "exclusiveMinimum", -math.inf))
        edges = [n for n in NUMBER_EDGES if isinstance(n, str) or float(n) >= low]
        floats = st.floats(min_value=max(low, -1e300), max_value=1e300)
        return st.sampled_from(edges) | floats

    @staticmethod
    def _described(node: Schema) -> Schema:
        """A field's description belongs to each of its branches (`str | None`)."""
        if "description" not in node:
            return node
        for key in ("oneOf", "anyOf"):
            if key in node:
                branches = [{"description": node["description"], **b} for b in node[key]]
                return {**node, key: branches}
        return node

    def _object(self, node: Schema) -> st.SearchStrategy[Json]:
        properties: dict[str, Schema] = node.get("properties", {})
        # The union's tag is sent even where it has a default (the front door asks for it).
        required = set(node.get("required", ())) | self.tags
        fixed = {k: self.strategy(v) for k, v in properties.items() if k in required}
        optional = {k: self.strategy(v) for k, v in properties.items() if k not in required}
        shaped = st.fixed_dictionaries(fixed, optional=optional)
        extra = node.get("additionalProperties")
        if not isinstance(extra, dict):
            return shaped
        names = self.resolve(node.get("propertyNames", {"type": "string"}))
        keys = self.strategy(names)
        at_most = len(names["enum"]) if "enum" in names else 8
        mapping = st.dictionaries(keys, self.strategy(extra), max_size=at_most)
        return st.tuples(shaped, mapping).map(lambda pair: {**pair[0], **pair[1]})

    def _string(self, node: Schema) -> st.SearchStrategy[str]:
        low, high = node.get("minLength", 0), node.get("maxLength")
        fmt, pattern = node.get("format"), node.get("pattern")
        if fmt == "uuid":
            return st.uuids().map(str)
        if fmt == "date-time":
            return date_times(window_of(node))
        if fmt in ("uri", "url"):
            return urls(low, high)
        texts = odd_text(low, high)
        if self.describe_zone in str(node.get("description", "")):
            zones = st.sampled_from(EXTREME_ZONES) | st.sampled_from(_zones())
            return st.one_of(zones, zones, zones, texts)
        if pattern:
            # Mostly what the pattern allows; sometimes the odd text it may refuse.
            matching = pattern_text(pattern, low, high)
            return st.one_of(matching, matching, matching, matching, texts)
        return texts

    @staticmethod
    def _integer(node: Schema) -> st.SearchStrategy[int]:
        low = int(_bound(node, "minimum", "exclusiveMinimum", -(2**64)))
        high = int(_bound(node, "maximum", "exclusiveMaximum", 10**30))
        if "exclusiveMinimum" in node:
            low += 1
        if "exclusiveMaximum" in node:
            high -= 1
        edges = sorted({low, high, *(n for n in INTEGER_EDGES if low <= n <= high)})
        return st.sampled_from(edges) | st.integers(low, high)

    # -- the largest value the schema allows ------------------------------------------------

    def largest(self, unbounded: int, unit: str, node: Schema | None = None) -> Json:
        """Every optional property present, every text at its maximum (`unbounded` code
        points where none is stated) made of `unit`, every list full, every map key."""
        node = self._described(self.resolve(self.schema if node is None else node))
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return max(node["enum"], key=lambda v: len(str(v)))
        union = node.get("oneOf", node.get("anyOf"))
        if union is not None:
            branches = [self.resolve(b) for b in union]
            # A number that may also come as text (a decimal): the number is the value.
            if any(b.get("type") in ("number", "integer") for b in branches):
                branches = [b for b in branches if b.get("type") != "string"]
            options = [self.largest(unbounded, unit, b) for b in branches]
            return max(options, key=lambda v: len(json.dumps(v)))
        kind = node.get("type")
        if kind in ("object", "array", "string"):
            return self._largest_container(node, unbounded, unit)
        maxima = {"integer": node.get("maximum", bounds.MAX_BIGINT),
                  "number": node.get("maximum", 999_999_999_999.99), "boolean": True}  # fmt: skip
        return maxima.get(str(kind))

    def _largest_container(self, node: Schema, unbounded: int, unit: str) -> Json:
        if node["type"] == "array":
            count = node.get("maxItems", UNBOUNDED_ITEMS)
            return [self.largest(unbounded, unit, node.get("items", {})) for _ in range(count)]
        if node["type"] == "string":
            return self._largest_text(node, unbounded, unit)
        properties: dict[str, Schema] = node.get("properties", {})
        found = {k: self.largest(unbounded, unit, v) for k, v in properties.items()}
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            names = self.resolve(node.get("propertyNames", {}))
            for name in names.get("enum", ()):
                found[name] = self.largest(unbounded, unit, extra)
        return found

    def _largest_text(self, node: Schema, unbounded: int, unit: str) -> str:
        fmt, high = node.get("format"), node.get("maxLength")
        if fmt == "uuid":
            return "ffffffff-ffff-ffff-ffff-ffffffffffff"
        if fmt == "date-time":
            return (bounds.LATEST - timedelta(microseconds=1)).isoformat()
        if fmt in ("uri", "url"):
            head = "https://jobs.example.com/"
            return head + fit("%F0%9F%91%A9", (high or 2083) - len(head))
        if self.describe_zone in str(node.get("description", "")):
            return max(_zones(), key=len)
        length = high if high is not None else unbounded
        pattern = node.get("pattern")
        if pattern and not re.fullmatch(pattern, fit(unit, length)):
            return _first_match(pattern, length)  # `unit` is not allowed here
        return fit(unit, length)


def _bound(node: Schema, inclusive: str, exclusive: str, default: float) -> float:
    """A numeric bound the node states (either kind), else `default`."""
    for key in (inclusive, exclusive):
        if key in node:
            return float(node[key]) if isinstance(node[key], float) else int(node[key])
    return default


_MATCHES: dict[tuple[str, int], str] = {}


def _first_match(pattern: str, length: int) -> str:
    """A fixed text matching `pattern`, `length` long where the pattern allows any length."""
    if (pattern, length) not in _MATCHES:
        [found] = draw(pattern_text(pattern, length, length), 1, 0)
        _MATCHES[(pattern, length)] = found
    return _MATCHES[(pattern, length)]


_ZONES: list[str] = []


def _zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(zoneinfo.available_timezones()))
    return _ZONES


# -- the events a campaign sends ---------------------------------------------------------------


class Route(StrEnum):
    HTTP_SINGLE = "http-single"
    HTTP_BATCH = "http-batch"
    INCOMING = "jobs.incoming"


class Kind(StrEnum):
    EXTREME = "extreme"  # drawn at the edges of the contract
    LARGEST = "largest"  # the largest event the schema allows (at or past the size bound)
    MALFORMED = "malformed"  # not a valid event at all: bad JSON, wrong types


@dataclass(frozen=True)
class OddEvent:
    """One odd record, ready to send; `body` is the exact bytes sent."""

    case: int
    tag: str  # the job id's prefix (also in the `x-fuzz-case` header on Kafka)
    kind: Kind
    route: Route
    body: bytes
    headers: tuple[tuple[str, bytes | None], ...] = ()
    label: str = ""
    valid: bool | None = None  # whether the contract accepts it (None: not checked)

    def describe(self, limit: int = 240) -> str:
        """What is odd about it, for a failure report (no tenant keys or tokens in here)."""
        text = f"#{self.case} {self.kind} via {self.route}, {len(self.body)} bytes"
        if self.label:
            text += f": {self.label}"
        if self.headers:
            names = ", ".join(sorted({k for k, _ in self.headers if not k.startswith("x-fuzz")}))
            text += f"; headers [{names[:60]}]" if names else ""
        return text[:limit]


def tag_of(run: str, case: int) -> str:
    """The job-id prefix that names a case: letters, digits and '-' (any job-id pattern)."""
    return f"x{run}{case:06d}-"


TAG_RE = re.compile(rb"x([0-9a-f]{6})(\d{6})-")


def cases_in(data: bytes, run: str) -> set[int]:
    """The cases whose tag appears in `data` (a dead letter's value or headers)."""
    return {int(m.group(2)) for m in TAG_RE.finditer(data) if m.group(1).decode() == run}


def job_event_schema() -> Schema:
    """The live contract of `jobs.events`, as `python -m schemas.export` writes it."""
    schema: Schema = CONTRACT["jobs.events"].json_schema(mode="validation")
    return schema


def tagged(event: Json, tag: str, tenant_id: UUID | None, event_id: UUID) -> Json:
    """The event addressed to the campaign's tenant, its job id starting with `tag` (the
    drawn id's length kept where it is longer), and a deterministic event id."""
    if not isinstance(event, dict):
        return event
    event = dict(event)
    event["event_id"] = str(event_id)
    if tenant_id is None:
        event.pop("tenant_id", None)
    else:
        event["tenant_id"] = str(tenant_id)
    payload = event.pop("payload", None)
    if isinstance(payload, dict):
        # The job id first: a dead letter cut short to its head still names the case.
        drawn = str(payload.get("job_id", ""))
        payload = {"job_id": tag + drawn[len(tag) :], **payload}
        payload["job_id"] = tag + drawn[len(tag) :]
    if payload is not None:
        event["payload"] = payload
    return event


def encode(event: Json, *, ascii_only: bool) -> bytes:
    """JSON bytes; with `ascii_only` every non-ASCII code point (a lone surrogate too) is
    escaped, otherwise written as UTF-8 (a lone surrogate then as invalid UTF-8)."""
    if ascii_only:
        return json.dumps(event, ensure_ascii=True).encode()
    return json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass")


def notable(event: Json, limit: int = 6) -> str:
    """The odd parts of an event in a few words: long texts and the special characters in
    them, big numbers, times."""
    found: list[str] = []

    def walk(value: Json, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            if len(value) >= 10:
                found.append(f"{path}[{len(value)}]")
            for n, v in enumerate(value[:3]):
                walk(v, f"{path}[{n}]")
        elif isinstance(value, str):
            odd = sorted({f"U+{ord(c):04X}" for c in value[:2000] if _special(c)})[:3]
            if len(value) >= 100 or odd:
                found.append(f"{path}={len(value)}ch" + (f" {'/'.join(odd)}" if odd else ""))
            elif path.endswith(("_at", "publish_at", "timezone")):
                found.append(f"{path}={value}")
        elif isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > 2**31:
            found.append(f"{path}={value}")

    walk(event, "")
    return "; ".join(found[:limit])


def _special(char: str) -> bool:
    code = ord(char)
    return (
        code < 0x20
        or 0xD800 <= code <= 0xDFFF
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
        or code in (0x200D, 0xFEFF, 0x2028, 0x2029)
    )


# -- odd Kafka headers --------------------------------------------------------------------------

HEADER_CASES: tuple[tuple[str, tuple[tuple[str, bytes | None], ...]], ...] = (
    ("no headers", ()),
    ("null header value", (("x-correlation-id", None),)),
    ("null value, unknown key", (("x-anything", None),)),
    ("duplicate keys", (("x-correlation-id", b"a"), ("x-correlation-id", b"b"))),
    ("non-UTF-8 value", (("x-correlation-id", b"\xff\xfe\xc3\x28"),)),
    ("non-UTF-8 causation", (("x-causation-id", b"\x80"),)),
    ("empty key", (("", b"empty"),)),
    ("unicode key", (("x-\u202ecorrelation\U0001f469", b"1"),)),
    ("huge value (256 KiB)", (("x-big", b"h" * 262_144),)),
    ("many headers (2,000)", tuple((f"x-h{n}", b"v") for n in range(2000))),
    ("lying event type", (("x-event-type", b"job.exploded"),)),
    ("spoofed dead-letter reason", (("x-dlq-reason", b"\x00forged"), ("x-dlq-topic", None))),
    ("correlation id not a UUID", (("x-correlation-id", b"\x00" * 64),)),
)


# -- drawing --------------------------------------------------------------------------------------


def draw(strategy: st.SearchStrategy[T], count: int, seed: int) -> list[T]:
    """`count` examples of `strategy` as hypothesis explores it from `seed` (deterministic
    per seed and hypothesis version; generation only, nothing is shrunk)."""
    found: list[T] = []
    if count <= 0:
        return found

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(example: T) -> None:
        found.append(example)

    collect()
    while found and len(found) < count:  # hypothesis may stop early on a small space
        found.extend(found[: count - len(found)])
    return found[-count:] if len(found) >= count else found


@dataclass
class Campaign:
    """What to generate: how many odd events, their mix, and the seed that fixes them."""

    events: int
    seed: int
    run: str
    tenant_id: UUID
    largest_share: float = 0.02
    malformed_share: float = 0.10
    incoming_share: float = 0.35
    batch_share: float = 0.35
    batch_size: int = 20
    stats: dict[str, int] = field(default_factory=dict)


def validity(body: bytes, tenant_id: UUID, route: Route) -> bool | None:
    """Whether the front door's contract accepts the record: on `jobs.incoming` its own
    rules (the tenant named in the body), over HTTP the tenant of the API key. None when the
    contract itself raises (a finding: the front door answers that with a 500)."""
    try:
        if route is Route.INCOMING:
            return not refused(JOBS_INCOMING, body, tenant_id)
        to_job_event(json.loads(body), tenant_id)
    except (SubmissionError, ForeignTenantError, ValueError, RecursionError):
        return False
    except Exception:
        return None
    return True


def generate(plan: Campaign) -> list[OddEvent]:
    """The campaign's odd events, in sending order (deterministic per seed and run id)."""
    rng = random.Random(plan.seed)
    walker = Walker(job_event_schema())
    largest_n = min(30, max(1, round(plan.events * plan.largest_share))) if plan.events >= 20 else 0
    malformed_n = max(1, round(plan.events * plan.malformed_share)) if plan.events >= 10 else 0
    extreme_n = plan.events - largest_n - malformed_n
    pool = draw(st.tuples(PALETTE, walker.strategy()), min(extreme_n, POOL), plan.seed)
    drawn = recombined(pool, extreme_n, rng)
    kinds = (
        [Kind.EXTREME] * len(drawn) + [Kind.LARGEST] * largest_n + [Kind.MALFORMED] * malformed_n
    )
    order = list(range(len(kinds)))
    rng.shuffle(order)
    recipes = draw(mutations, malformed_n, plan.seed + 1)
    events: list[OddEvent] = []
    extremes = iter(drawn)
    largest = iter(_largest_events(walker, largest_n))
    broken = iter(recipes)
    for case, slot in enumerate(order):
        kind = kinds[slot]
        tag = tag_of(plan.run, case)
        route = _route(rng, plan)
        event_id = UUID(int=rng.getrandbits(128), version=4)
        # HTTP takes the tenant from the key; leaving it out is the common case there.
        tenant = plan.tenant_id if route is Route.INCOMING or rng.random() < 0.5 else None
        if kind is Kind.EXTREME:
            body = tagged(next(extremes), tag, tenant, event_id)
            events.append(_event(case, tag=tag, kind=kind, route=route, body=body, rng=rng,
                                 plan=plan, label=notable(body)))  # fmt: skip
        elif kind is Kind.LARGEST:
            body, label = next(largest)
            body = tagged(body, tag, tenant, event_id)
            route = Route.INCOMING if route is Route.INCOMING else Route.HTTP_SINGLE
            events.append(_event(case, tag=tag, kind=kind, route=route, body=body, rng=rng,
                                 plan=plan, label=label))  # fmt: skip
        else:
            events.append(_malformed(case, tag=tag, route=route, recipe=next(broken), rng=rng,
                                     plan=plan, event_id=event_id))  # fmt: skip
    plan.stats = {k.value: sum(e.kind is k for e in events) for k in Kind}
    return events


POOL = 400
"""Hypothesis draws at most this many events (~0.05 s each); more are recombined."""


def recombined(pool: list[tuple[str, Json]], count: int, rng: random.Random) -> list[Json]:
    """`count` events: the pool, then crossings of it. Each field of a crossing comes from
    a random member of the same event type and text palette (so every value is one the
    walker drew for that field, in new company, and a crossing stays as odd as its kind)."""
    found = [event for _, event in pool[:count]]
    kin: dict[tuple[str, str], list[Json]] = {}
    for palette, event in pool:
        kin.setdefault((palette, str(event.get("event_type"))), []).append(event)
    families = sorted(kin.values(), key=len)
    while families and len(found) < count:
        family = rng.choice(families)
        crossing = {
            key: rng.choice(family).get(key, value) for key, value in rng.choice(family).items()
        }
        payload = crossing.get("payload")
        if isinstance(payload, dict):
            crossing["payload"] = {
                key: rng.choice(family)["payload"].get(key, value) for key, value in payload.items()
            }
        found.append(crossing)
    return found


def _route(rng: random.Random, plan: Campaign) -> Route:
    roll = rng.random()
    if roll < plan.incoming_share:
        return Route.INCOMING
    if roll < plan.incoming_share + plan.batch_share:
        return Route.HTTP_BATCH
    return Route.HTTP_SINGLE


def _headers(
    rng: random.Random, route: Route, case: int, run: str
) -> tuple[tuple[tuple[str, bytes | None], ...], str]:
    if route is not Route.INCOMING:
        return (), ""
    label, odd = rng.choice(HEADER_CASES)
    mine: tuple[tuple[str, bytes | None], ...] = (
        ("x-fuzz-run", run.encode()), ("x-fuzz-case", str(case).encode()),
    )  # fmt: skip
    return mine + odd, ("" if label == "no headers" else f"headers: {label}")


def _event(
    case: int, *, tag: str, kind: Kind, route: Route, body: Json, rng: random.Random,
    plan: Campaign, label: str,
) -> OddEvent:  # fmt: skip
    headers, header_label = _headers(rng, route, case, plan.run)
    data = encode(body, ascii_only=kind is not Kind.LARGEST and rng.random() < 0.8)
    label = "; ".join(p for p in (label, header_label) if p)
    return OddEvent(
        case, tag, kind, route, data, headers, label, validity(data, plan.tenant_id, route)
    )


def _malformed(
    case: int, *, tag: str, route: Route, recipe: Any, rng: random.Random, plan: Campaign,
    event_id: UUID,
) -> OddEvent:  # fmt: skip
    """A bad record made from a tagged valid template (so its dead letter can be found)."""
    template = tagged(job_event(tag + "m"), tag, plan.tenant_id, event_id)
    picked = _hand_picked(plan.tenant_id)
    if rng.random() < 0.3 and picked:
        record = rng.choice(picked)
        placeholder = tag_of("000000", 0).encode()
        value = record.value
        if value:
            # Each record its own tag and event id: a shared id is a repeat, which ingest
            # rightly publishes once (the others would never reach the distributor).
            value = value.replace(placeholder, tag.encode())
            value = value.replace(str(UUID(int=0)).encode(), str(event_id).encode())
        record = BadRecord(record.label, value, record.headers)
    else:
        record = recipe.apply(template)
    headers, header_label = _headers(rng, route, case, plan.run)
    body = record.value if record.value is not None else b""
    if route is not Route.INCOMING and record.value is None:
        body = b"null"
    label = "; ".join(p for p in (record.label, header_label) if p)
    return OddEvent(case, tag, Kind.MALFORMED, route, body, headers, label,
                    validity(body, plan.tenant_id, route))  # fmt: skip


_PICKED: dict[UUID, list[BadRecord]] = {}


def _hand_picked(tenant_id: UUID) -> list[BadRecord]:
    """fuzz.hand_picked's bad records once per tenant, tagged with a placeholder tag."""
    if tenant_id not in _PICKED:
        tag = tag_of("000000", 0)
        template = tagged(job_event(tag + "m"), tag, tenant_id, UUID(int=0))
        _PICKED[tenant_id] = hand_picked(JOBS_INCOMING, template, 50_000)
    return _PICKED[tenant_id]


def _largest_events(walker: Walker, count: int) -> Iterator[tuple[Json, str]]:
    """The largest events: at `MAX_EVENT_BYTES` minus a little, plus a little, and with
    100 KB in each unbounded text (too big for the broker if the contract allows it)."""
    units = ["\U0001f469\u200d\U0001f469", "\u202e\u0301x", "a", "\u00e9\u0000"]
    for n in range(count):
        unit = units[n % len(units)]
        target = [bounds.MAX_EVENT_BYTES - 1000, bounds.MAX_EVENT_BYTES + 1000, None][n % 3]
        event = _event_of_size(walker, unit, target)
        size = len(encode(event, ascii_only=False))
        what = f"largest event, {size:,} bytes" + (
            f" (target {target:,})" if target is not None else " (100 KB per unbounded text)"
        )
        yield event, f"{what}, text of {unit!r}"


def _event_of_size(walker: Walker, unit: str, target: int | None) -> Json:
    """The largest JobCreated, with unbounded texts sized so its JSON is ~`target` bytes."""
    created = walker.defs.get("JobCreated", walker.schema)
    if target is None:
        return walker.largest(100_000, unit, created)
    # Measured as stored: pydantic writes UTF-8, not \u escapes.
    small = len(encode(walker.largest(0, unit, created), ascii_only=False))
    bigger = len(encode(walker.largest(1000, unit, created), ascii_only=False))
    per = (bigger - small) / 1000
    if per <= 0:  # nothing unbounded: the schema's own maximum is the largest event
        return walker.largest(0, unit, created)
    length = max(0, int((target - small) / per))
    return walker.largest(length, unit, created)
