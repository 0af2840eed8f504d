"""The rebuild's fast decoder of `publish.completed` records, derived from the contract.

The contract is `schemas.publish.PublishCompleted` (pydantic); validating a million records
with it is most of the rebuild's CPU. The msgspec types here are built at import from that
model's own fields: names, types, defaults, bounds (ge/le, lengths, patterns) and
after-validators (the time window), with unknown fields forbidden as the model forbids them.
The contract is stated once: a field whose type or constraint the mapping below does not
know fails the import, rather than being decoded by a guess.

msgspec reads only the plain form of a value, which is how the publishers and the
distributor write it. Anything else is *declined* (None), not judged: a missing `event_id`
or `occurred_at` (the contract would invent one), a number in a string, whitespace the
contract would strip, a timestamp with digits past microseconds (msgspec rounds them, the
contract truncates) — and every invalid record. The caller then validates the record with
the contract model, which stays the judge, so this decoder followed by the contract accepts
and refuses exactly what the contract does, with the same values
(`tests/unit/test_fast_results.py` checks both on generated and mutated records).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal
from uuid import UUID

import annotated_types
import msgspec
from pydantic import AwareDatetime, BaseModel, HttpUrl, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic.functional_validators import AfterValidator

from schemas.publish import PublishCompleted
from services.metrics.readmodel.models import EventRow, event_row

Check = Callable[[Any], Any]
"""A value as msgspec decoded it → the value as the contract holds it; ValueError declines."""


class UnmappableFieldError(TypeError):
    """A contract field this decoder cannot read as the contract does."""


class _DeclinedError(ValueError):
    """Valid perhaps, but not in the plain form: the contract model must judge it."""


@dataclass(frozen=True, slots=True)
class _Reading:
    """How one field is read: msgspec's type, then (in Python, in order) the whitespace
    rule and the conversions to the contract's value."""

    form: Any
    unstripped: bool = False
    convert: tuple[Check, ...] = ()


# --------------------------------------------------------------------------- per type
_BOUNDS = {
    annotated_types.Ge: "ge",
    annotated_types.Le: "le",
    annotated_types.Gt: "gt",
    annotated_types.Lt: "lt",
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
}


def _anchored(pattern: str) -> str:
    # pydantic-core's regex `$` is the end of the text; Python's also matches before a final
    # newline. Whitespace is declined before this matters, but the pattern need not rely on it.
    return (
        pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    )


# msgspec reads RFC 3339 timestamps as the contract does (`T`, `t` or a space; `Z`, `z` or
# an offset; it refuses some spellings the contract takes, which are then declined), except
# that it rounds a fraction past microseconds where the contract truncates it. Such a record
# is declined as a whole: a seventh fractional digit, or any \u escape (which could spell one).
_AWARE = Annotated[datetime, msgspec.Meta(tz=True)]
SUB_MICROSECONDS = re.compile(rb"\.[0-9]{7}")


_URL_LIMIT = HttpUrl._constraints.max_length
# A URL of this form is already what HttpUrl makes of it, so it is kept as written: a
# lower-case ASCII host with a letters-only top label (no IDNA or IPv4 reading), no port,
# user or fragment, a path (at least "/") and a query in characters it never escapes, no dot
# segments. Any other is normalised by HttpUrl itself.
PLAIN_URL = re.compile(
    r"https://(?:[a-z0-9]+(?:-[a-z0-9]+)*\.)+[a-z]{2,24}"
    r"/(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*/?)?"
    r"(?:\?[A-Za-z0-9_.=&-]*)?"
)
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _http_url(value: str) -> str:
    """The URL's normal form, as the contract stores it (`str(HttpUrl)`)."""
    if _URL_LIMIT is not None and len(value) <= _URL_LIMIT and PLAIN_URL.fullmatch(value):
        return value
    return str(_HTTP_URL.validate_python(value))


# --------------------------------------------------------------------------- per field
def _constraints(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """`annotation` without its Annotated layers, and every constraint met on the way."""
    found = list(metadata)
    while typing.get_origin(annotation) is Annotated:
        annotation, *extra = typing.get_args(annotation)
        found += extra
    flat: list[Any] = []
    for item in found:
        if isinstance(item, FieldInfo):  # Field(...) inside Annotated: its constraints only
            flat += item.metadata
        else:
            flat.append(item)
    return annotation, flat


def _reading(  # noqa: PLR0912 - one branch per type the contract uses
    annotation: Any, metadata: list[Any], strip: bool, where: str
) -> _Reading:
    """How to read a JSON value of `annotation` as the contract does (or decline it)."""
    annotation, constraints = _constraints(annotation, metadata)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1 or len(typing.get_args(annotation)) != 2:
            raise UnmappableFieldError(f"{where}: only `X | None` unions are mapped")
        inner = _reading(members[0], constraints, strip, where)
        return _Reading(inner.form | None, inner.unstripped, inner.convert)

    bounds: dict[str, Any] = {}
    after: list[Check] = []
    for item in constraints:
        if type(item) in _BOUNDS:
            name = _BOUNDS[type(item)]  # annotated_types names them as msgspec does
            bounds[name] = getattr(item, name)
        elif isinstance(item, AfterValidator):
            after.append(item.func)  # type: ignore[arg-type]
        elif type(item).__name__ == "_PydanticGeneralMetadata" and set(vars(item)) == {"pattern"}:
            bounds["pattern"] = _anchored(vars(item)["pattern"])
        else:
            raise UnmappableFieldError(f"{where}: no msgspec form for constraint {item!r}")

    def only(*allowed: str) -> None:
        if set(bounds) - set(allowed):
            raise UnmappableFieldError(f"{where}: {sorted(bounds)} on {annotation!r}")

    reading: _Reading
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        only()
        reading = _Reading(struct_of(annotation))
    elif (
        typing.get_origin(annotation) is Literal
        and all(isinstance(a, str) for a in typing.get_args(annotation))
    ) or (isinstance(annotation, type) and issubclass(annotation, StrEnum)):
        only()
        reading = _Reading(annotation)
    elif annotation is UUID:
        only()
        reading = _Reading(UUID)
    elif annotation is int:
        only("ge", "le", "gt", "lt")
        reading = _Reading(Annotated[int, msgspec.Meta(**bounds)] if bounds else int)
    elif annotation is str:
        only("min_length", "max_length", "pattern")
        reading = _Reading(Annotated[str, msgspec.Meta(**bounds)] if bounds else str, strip)
    elif annotation is AwareDatetime:
        only()
        reading = _Reading(_AWARE)
    elif annotation is HttpUrl:
        only()
        reading = _Reading(str, strip, (_http_url,))
    else:
        raise UnmappableFieldError(f"{where}: no msgspec form for {annotation!r}")
    return _Reading(reading.form, reading.unstripped, (*reading.convert, *after))


@cache
def struct_of(model: type[BaseModel]) -> type[msgspec.Struct]:
    """The msgspec Struct that reads `model`'s JSON as the model does, or declines."""
    config = model.model_config
    decorators = model.__pydantic_decorators__
    if config.get("extra") != "forbid" or any(
        (decorators.validators, decorators.field_validators, decorators.root_validators,
         decorators.model_validators)
    ):  # fmt: skip
        raise UnmappableFieldError(f"{model.__name__}: validators or extra fields not mapped")
    strip = bool(config.get("str_strip_whitespace"))
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    readings: dict[str, _Reading] = {}
    for name, info in model.model_fields.items():
        where = f"{model.__name__}.{name}"
        if info.alias is not None or info.validation_alias is not None:
            raise UnmappableFieldError(f"{where}: aliases are not mapped")
        reading = readings[name] = _reading(info.annotation, info.metadata, strip, where)
        if info.is_required() or info.default_factory is not None:
            fields.append((name, reading.form))  # no default: the contract would invent one
        elif info.default is None or isinstance(info.default, str | int):
            fields.append((name, reading.form, info.default))
        else:
            raise UnmappableFieldError(f"{where}: default {info.default!r} not mapped")
    return msgspec.defstruct(
        model.__name__,
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        namespace={"__post_init__": _post_init(model.__name__, readings)},
        module=__name__,
    )


def _post_init(model: str, readings: dict[str, _Reading]) -> Callable[[Any], None]:
    """msgspec calls it after decoding each struct (a ValueError becomes its ValidationError).
    Generated as straight-line code, as dataclasses do: a loop over the fields cost more
    than the checks themselves."""
    scope: dict[str, Any] = {"_DeclinedError": _DeclinedError}
    lines = ["def __post_init__(self):"]
    for name, reading in readings.items():
        if not reading.unstripped and not reading.convert:
            continue
        lines += [f"    v = self.{name}", "    if v is not None:"]
        if reading.unstripped:
            # The contract strips whitespace before any other check (Rust's `trim`, whose
            # White_Space set Python's `strip` contains): a value it would change is its own.
            lines.append("        if v.strip() is not v: raise _DeclinedError")
        expression = "v"
        for number, convert in enumerate(reading.convert):
            scope[f"{name}_{number}"] = convert
            expression = f"{name}_{number}({expression})"
        if reading.convert:
            lines.append(f"        self.{name} = {expression}")
    lines.append("    return None")
    exec(compile("\n".join(lines), f"<{model} reading>", "exec"), scope)  # noqa: S102
    post_init: Callable[[Any], None] = scope["__post_init__"]
    return post_init


# --------------------------------------------------------------------------- the decoder
_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(struct_of(PublishCompleted))


def decode_completed(value: bytes) -> Any | None:
    """The record with the contract's field values (a permalink in its normal form), or
    None when this decoder does not decide (invalid, or valid in a form only the contract
    reads)."""
    if b"\\u" in value or SUB_MICROSECONDS.search(value):
        return None
    try:
        return _DECODER.decode(value)
    except Exception:
        # Whatever this decoder does not foresee is the contract's to judge (invalid UTF-8
        # inside a string, for one, raises UnicodeDecodeError rather than DecodeError).
        return None


def result_row_fast(value: bytes) -> EventRow | None:
    """The row of `readmodel.models.result_row` for a plainly written record, or None."""
    event = decode_completed(value)
    if event is None:
        return None
    r = event.payload
    return event_row(
        r,
        r.error,
        event_id=event.event_id,
        tenant_id=event.tenant_id,
        permalink=r.permalink,
        next_attempt_at=r.next_attempt_at,
        completed_at=r.completed_at,
        requested_at=r.requested_at,
        media=r.media,
        first_comment=r.first_comment,
    )
