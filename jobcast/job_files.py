"""Job files: a CSV or JSON Lines file of job postings, read into rows for the ingest API
(pure, no I/O).

Each row becomes a `JobPosting` payload checked against the contract, or an error that
names its line and field; one bad row never spoils the others. Problems of the file as a
whole (too large, too many rows, an unusable CSV header) raise `JobFileError` before any
row is read, so an import sends all of a file's good rows or none of them.

CSV: a header row of column names (`COLUMNS`, any order, any subset holding the required
ones); a nested field is a dotted column (`pay.min_amount`,
`platform_settings.instagram.caption`), a list field holds its items separated by `;`
(`tags`, `platform_settings.facebook.extra_hashtags`), and an empty cell means "not given"
(the contract's default); `media` (a list of objects) has no CSV form. JSON Lines: one
posting per line, as the `payload` of a `job.created` event (`docs/bulk.md`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_origin
from uuid import UUID, uuid5

from pydantic import TypeAdapter, ValidationError

from schemas.jobs import JobPosting, Pay, PlatformSettings
from schemas.platforms import Platform

JobFileFormat = Literal["csv", "jsonl"]

MAX_FILE_BYTES = 10 * 1024 * 1024
"""The largest job file read: an upload or a CLI import, held in memory at once."""

MAX_ROWS = 10_000
"""The most job rows one file may hold (split a larger export into several files)."""

LIST_SEPARATOR = ";"
"""Separates the items of a list field in a CSV cell (`tags`: `kitchen;night shift`)."""

_POSTING: TypeAdapter[JobPosting] = TypeAdapter(JobPosting)
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
_NUL_PATTERN = r"^[^\x00]*$"  # schemas.bounds.Text's pattern
IMPORT_NAMESPACE = UUID("5d7c0f0e-7b36-4a57-9a0b-5f3f3c1b0a11")
"""Names the event ids of imported rows: `uuid5(IMPORT_NAMESPACE, canonical posting)`."""


class JobFileError(ValueError):
    """The file as a whole cannot be read (its size, row count or CSV header)."""


@dataclass(frozen=True)
class JobRow:
    """One posting of a job file: its payload if valid, else why not (never both)."""

    line: int  # 1-based line where the row starts (a CSV header is line 1)
    payload: dict[str, object] | None
    error: str | None


# Lists of objects (photos and videos) do not fit a cell: JSON Lines carries them.
NOT_IN_CSV = frozenset({"media"})


def _columns() -> tuple[str, ...]:
    columns: list[str] = []
    for name in JobPosting.model_fields:
        if name in NOT_IN_CSV:
            continue
        if name == "pay":
            columns += [f"pay.{field}" for field in Pay.model_fields]
        elif name == "platform_settings":
            columns += [
                f"platform_settings.{platform.value}.{field}"
                for platform in Platform
                for field in PlatformSettings.model_fields
                if field not in NOT_IN_CSV
            ]
        else:
            columns.append(name)
    return tuple(columns)


def _list_columns() -> frozenset[str]:
    lists = {
        n
        for n, f in JobPosting.model_fields.items()
        if get_origin(f.annotation) is list and n not in NOT_IN_CSV
    }
    lists |= {
        f"platform_settings.{platform.value}.{name}"
        for platform in Platform
        for name, field in PlatformSettings.model_fields.items()
        if get_origin(field.annotation) is list
    }
    return frozenset(lists)


COLUMNS = _columns()
"""Every CSV column, in the contract's order (derived from `JobPosting`, so they agree)."""

REQUIRED_COLUMNS = tuple(n for n, f in JobPosting.model_fields.items() if f.is_required())
LIST_COLUMNS = _list_columns()


def format_of(filename: str) -> JobFileFormat:
    """The format a file name implies: `.csv`, or `.jsonl` / `.ndjson`."""
    lowered = filename.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise JobFileError(f"cannot tell the format of {filename!r}: name it .csv or .jsonl")


def parse_job_file(data: bytes, *, fmt: JobFileFormat) -> list[JobRow]:
    """Every row of a job file, in file order, each valid or with its error.

    Raises JobFileError for the file as a whole: over `MAX_FILE_BYTES`, more than
    `MAX_ROWS` rows, or a CSV header with unknown, repeated or missing columns.
    """
    if len(data) > MAX_FILE_BYTES:
        raise JobFileError(f"the file is {len(data)} bytes, over the limit of {MAX_FILE_BYTES}")
    # Bytes that are not UTF-8 survive decoding as lone surrogates, so the rows holding
    # them get an error of their own instead of the whole file failing.
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    rows = _csv_rows(text) if fmt == "csv" else _jsonl_rows(text)
    parsed: list[JobRow] = []
    seen: dict[tuple[object, object], int] = {}
    for line, content in rows:
        if len(parsed) == MAX_ROWS:
            raise JobFileError(f"more than {MAX_ROWS} rows: split the file")
        row = _checked(line, content)
        if row.payload is not None:
            key = (row.payload["job_id"], row.payload.get("revision", 1))
            if key in seen:
                row = JobRow(line, None, f"job_id {key[0]} revision {key[1]} is also on line "
                             f"{seen[key]}: give each revision once")  # fmt: skip
            else:
                seen[key] = line
        parsed.append(row)
    return parsed


def job_event(payload: Mapping[str, object]) -> dict[str, object]:
    """The ingest API's body for one imported posting: a `job.created` event whose id is
    derived from the posting, so importing a file again is answered `duplicate` for the
    rows already accepted instead of sending them twice."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {
        "event_type": "job.created",
        "event_id": str(uuid5(IMPORT_NAMESPACE, canonical)),
        "payload": dict(payload),
    }


# A row's content before validation: a posting-shaped object, or why there is none.
_Content = dict[str, Any] | str


def _checked(line: int, content: _Content) -> JobRow:
    if isinstance(content, str):
        return JobRow(line, None, content)
    try:
        posting = _POSTING.validate_python(content)
    except ValidationError as exc:
        return JobRow(line, None, "; ".join(_describe(e) for e in exc.errors(include_url=False)))
    return JobRow(line, posting.model_dump(mode="json", exclude_unset=True), None)


def _describe(error: Mapping[str, Any]) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    where = where.removeprefix(".") or "row"
    ctx = error.get("ctx") or {}
    if error["type"] == "string_pattern_mismatch" and ctx.get("pattern") == _NUL_PATTERN:
        return f"{where}: must not contain NUL (U+0000)"
    if error["type"] == "extra_forbidden":
        return f"{where}: not a field of a job posting"
    return f"{where}: {error['msg']}"


def _jsonl_rows(text: str) -> Iterator[tuple[int, _Content]]:
    # Lines end at "\n" only (a "\r" before it is dropped): U+2028 and the like are
    # characters inside a posting's text, not line breaks, as JSON itself treats them.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        yield number, _json_posting(line)


def _json_posting(line: str) -> _Content:
    if _UNDECODABLE.search(line):
        return "the line is not valid UTF-8"
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:  # a posting nests 3 deep; this is thousands
        return "not a job posting: nested too deeply"
    if not isinstance(value, dict):
        return "a line must be one JSON object: a job posting"
    return value


def _csv_rows(text: str) -> Iterator[tuple[int, _Content]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    header = _header(reader)
    ended = reader.line_num
    while True:
        start = ended + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a cell over csv.field_size_limit(); the reader goes on
            ended = reader.line_num
            yield start, f"unreadable CSV: {exc}"
            continue
        ended = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        yield start, _csv_posting(header, cells)


def _header(reader: Iterator[list[str]]) -> list[str]:
    try:
        names = [name.strip() for name in next(reader)]
    except StopIteration:
        raise JobFileError("the file is empty: a CSV file starts with a header row") from None
    except csv.Error as exc:
        raise JobFileError(f"the header row is unreadable: {exc}") from None
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        shown = ", ".join(repr(n[:60]) for n in unknown[:5])
        raise JobFileError(f"unknown column(s) {shown}; the columns are: {', '.join(COLUMNS)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise JobFileError(f"column(s) given twice: {', '.join(repeated)}")
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if missing:
        raise JobFileError(f"missing required column(s): {', '.join(missing)}")
    return names


def _csv_posting(header: list[str], cells: list[str]) -> _Content:
    if len(cells) != len(header):
        return f"the row has {len(cells)} cells, the header {len(header)}"
    posting: dict[str, Any] = {}
    for column, cell in zip(header, cells, strict=True):
        if _UNDECODABLE.search(cell):
            return f"{column}: not valid UTF-8"
        if not cell.strip():
            continue
        value: object = cell
        if column in LIST_COLUMNS:
            value = [item for item in cell.split(LIST_SEPARATOR) if item.strip()]
        *parents, leaf = column.split(".")
        node = posting
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return posting
