"""Job files (CSV, JSON Lines) read into rows: every row valid or with its own error."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobcast.job_files import (
    COLUMNS,
    LIST_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    NOT_IN_CSV,
    REQUIRED_COLUMNS,
    JobFileError,
    JobRow,
    format_of,
    job_event,
    parse_job_file,
)
from schemas.jobs import JobPosting
from services.ingest.domain import to_job_event

HEADER = "job_id,title,company,location,employment_type,apply_url"
GOOD = "cook-1,Cook,Warung Laut,Canggu,full_time,https://jobs.example.com/cook"


def _csv(*lines: str, newline: str = "\n") -> bytes:
    return newline.join(lines).encode() + newline.encode()


# -- examples ---------------------------------------------------------------------------


def test_a_csv_row_becomes_a_posting_with_nested_and_list_fields() -> None:
    header = HEADER + ",pay.min_amount,pay.currency,pay.period,tags,"
    header += "platform_settings.instagram.enabled,platform_settings.facebook.extra_hashtags"
    row = GOOD + ",4500000,IDR,month,kitchen; night shift ;,false,#hiring;#bali"
    [parsed] = parse_job_file(_csv(header, row), fmt="csv")
    assert parsed == JobRow(
        line=2,
        payload={
            "job_id": "cook-1",
            "title": "Cook",
            "company": "Warung Laut",
            "location": "Canggu",
            "employment_type": "full_time",
            "apply_url": "https://jobs.example.com/cook",
            "pay": {"min_amount": "4500000", "currency": "IDR", "period": "month"},
            "tags": ["kitchen", "night shift"],
            "platform_settings": {
                "instagram": {"enabled": False},
                "facebook": {"extra_hashtags": ["#hiring", "#bali"]},
            },
        },
        error=None,
    )


def test_empty_cells_mean_not_given() -> None:
    [parsed] = parse_job_file(_csv(HEADER + ",pay.min_amount,description", GOOD + ",,"), fmt="csv")
    assert parsed.payload is not None
    assert "pay" not in parsed.payload
    assert "description" not in parsed.payload


def test_a_bad_row_names_its_line_and_fields_and_spoils_no_other_row() -> None:
    data = _csv(
        HEADER + ",pay.min_amount,pay.currency,pay.period",
        GOOD + ",,,",
        "cook-2,Cook,Warung,Canggu,forever,not a url,-5,idr,month",
        GOOD.replace("cook-1", "cook-3") + ",,,",
    )
    first, bad, last = parse_job_file(data, fmt="csv")
    assert (first.line, first.error) == (2, None)
    assert (last.line, last.error) == (4, None)
    assert bad.line == 3
    assert bad.payload is None
    assert bad.error is not None
    for field in ("employment_type", "apply_url", "pay.min_amount", "pay.currency"):
        assert f"{field}:" in bad.error


def test_bom_crlf_and_blank_lines_are_handled_and_lines_count_physically() -> None:
    data = b"\xef\xbb\xbf" + _csv(
        HEADER, GOOD, "", 'cook-2,"two\r\nlines",W,B,daily,https://e.com/x', GOOD.replace("1", "3"),
        newline="\r\n",
    )  # fmt: skip
    rows = parse_job_file(data, fmt="csv")
    assert [(r.line, r.error) for r in rows] == [(2, None), (4, None), (6, None)]
    assert rows[1].payload is not None
    assert rows[1].payload["title"] == "two\r\nlines"


def test_nul_and_bytes_that_are_not_utf8_are_errors_of_their_row() -> None:
    data = (
        _csv(HEADER, "a,Co\x00ok,W,B,daily,https://e.com/a")
        + b"b,\xff\xfe,W,B,daily,https://e.com/b\n"
    )
    data += _csv(GOOD)
    nul, undecodable, good = parse_job_file(data, fmt="csv")
    assert nul.error == "title: must not contain NUL (U+0000)"
    assert undecodable.error == "title: not valid UTF-8"
    assert (good.line, good.error) == (4, None)


def test_line_separators_inside_text_are_text() -> None:
    title = "Cook\u2028Chef\x85Baker\u2029Cook"
    rows = parse_job_file(_csv(HEADER, f"a,{title},W,B,daily,https://e.com/a"), fmt="csv")
    assert rows[0].payload is not None
    assert rows[0].payload["title"] == title
    line = json.dumps({**_posting("b"), "title": title}, ensure_ascii=False)
    [parsed] = parse_job_file(line.encode(), fmt="jsonl")
    assert parsed.payload is not None
    assert parsed.payload["title"] == title


def test_a_row_with_the_wrong_number_of_cells_is_its_own_error() -> None:
    rows = parse_job_file(_csv(HEADER, "a,b,c", GOOD), fmt="csv")
    assert rows[0] == JobRow(2, None, "the row has 3 cells, the header 6")
    assert rows[1].error is None


def test_an_oversized_cell_is_an_error_of_its_row() -> None:
    rows = parse_job_file(_csv(HEADER, "a," + "x" * 200_000 + ",W,B,daily,https://e.com", GOOD),
                          fmt="csv")  # fmt: skip
    assert rows[0].line == 2
    assert rows[0].error is not None
    assert "unreadable CSV" in rows[0].error
    assert (rows[1].line, rows[1].error) == (3, None)


def test_the_same_job_revision_twice_is_refused_on_the_later_line() -> None:
    rows = parse_job_file(_csv(HEADER + ",revision", GOOD + ",", GOOD + ",2", GOOD + ",1"),
                          fmt="csv")  # fmt: skip
    assert [r.error for r in rows[:2]] == [None, None]
    assert rows[2].error == "job_id cook-1 revision 1 is also on line 2: give each revision once"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (HEADER + ",salary", "unknown column(s) 'salary'"),
        (HEADER + ",title", "column(s) given twice: title"),
        ("job_id,title,company,location", "missing required column(s): employment_type, apply_url"),
    ],
)
def test_an_unusable_header_refuses_the_file(header: str, why: str) -> None:
    with pytest.raises(JobFileError, match=why.replace("(", r"\(").replace(")", r"\)")):
        parse_job_file(_csv(header, GOOD), fmt="csv")


def test_an_empty_csv_file_is_refused() -> None:
    with pytest.raises(JobFileError, match="empty"):
        parse_job_file(b"", fmt="csv")


def test_the_file_size_and_row_count_are_bounded() -> None:
    with pytest.raises(JobFileError, match="over the limit"):
        parse_job_file(b" " * (MAX_FILE_BYTES + 1), fmt="jsonl")
    with pytest.raises(JobFileError, match=f"more than {MAX_ROWS} rows"):
        parse_job_file(b"{}\n" * (MAX_ROWS + 1), fmt="jsonl")
    assert len(parse_job_file(b"{}\n" * MAX_ROWS, fmt="jsonl")) == MAX_ROWS


def test_jsonl_rows_report_json_shape_and_field_errors() -> None:
    lines = [
        json.dumps(_posting("a")),
        "",
        "{not json",
        "[1, 2]",
        json.dumps({**_posting("b"), "salary": 3}),
        "[" * 100_000 + "]" * 100_000,
        json.dumps({**_posting("c"), "title": "x\x00", "description": "[" * 100}),
        json.dumps(_posting("d")) + "\r",
    ]
    rows = parse_job_file("\n".join(lines).encode(), fmt="jsonl")
    assert [(r.line, r.error) for r in rows] == [
        (1, None),
        (3, "not valid JSON: Expecting property name enclosed in double quotes (column 2)"),
        (4, "a line must be one JSON object: a job posting"),
        (5, "salary: not a field of a job posting"),
        (6, "not a job posting: nested too deeply"),
        (7, "title: must not contain NUL (U+0000)"),
        (8, None),
    ]


def test_format_of_a_file_name() -> None:
    assert format_of("Jobs.CSV") == "csv"
    assert format_of("jobs.jsonl") == "jsonl"
    assert format_of("jobs.ndjson") == "jsonl"
    with pytest.raises(JobFileError, match="cannot tell"):
        format_of("jobs.xlsx")


def test_the_columns_cover_every_posting_field() -> None:
    top = {c.split(".")[0] for c in COLUMNS}
    assert top == set(JobPosting.model_fields) - NOT_IN_CSV  # media: JSON Lines only
    assert {"pay.min_amount", "platform_settings.facebook.caption"} <= set(COLUMNS)
    platforms = ("facebook", "instagram", "threads", "linkedin")
    lists = {"tags", *(f"platform_settings.{p}.extra_hashtags" for p in platforms)}
    assert lists == LIST_COLUMNS
    assert set(REQUIRED_COLUMNS) == set(HEADER.split(","))


def test_an_imported_posting_is_a_job_created_event_with_a_stable_id() -> None:
    [row] = parse_job_file(_csv(HEADER, GOOD), fmt="csv")
    assert row.payload is not None
    event = job_event(row.payload)
    accepted = to_job_event(event, uuid4())
    assert accepted.event_type == "job.created"
    assert str(accepted.event_id) == event["event_id"]
    assert job_event(dict(row.payload))["event_id"] == event["event_id"]
    changed = job_event({**row.payload, "title": "Head cook"})
    assert changed["event_id"] != event["event_id"]


# -- properties -------------------------------------------------------------------------

_char = st.characters(exclude_categories=["Cs"], exclude_characters="\x00;")
_word = st.text(_char, min_size=1, max_size=20).filter(lambda s: s == s.strip() and s.strip())


@st.composite
def postings(draw: st.DrawFn) -> dict[str, Any]:
    """Valid postings with odd Unicode in their text and optional nested fields."""
    posting: dict[str, Any] = {
        "job_id": draw(st.from_regex(r"[A-Za-z0-9._:\-]{1,20}", fullmatch=True)),
        "title": draw(_word),
        "company": draw(_word),
        "location": draw(_word),
        "employment_type": draw(st.sampled_from(["full_time", "daily", "internship"])),
        "apply_url": f"https://jobs.example.com/{draw(st.integers(0, 10**6))}",
    }
    if draw(st.booleans()):
        posting["description"] = draw(_word)
    if draw(st.booleans()):
        posting["revision"] = draw(st.integers(1, 2**63 - 1))
    if draw(st.booleans()):
        posting["tags"] = draw(st.lists(_word, min_size=1, max_size=4))
    if draw(st.booleans()):
        posting["pay"] = {"min_amount": str(draw(st.integers(0, 10**9))), "currency": "EUR",
                          "period": "hour"}  # fmt: skip
    if draw(st.booleans()):
        posting["platform_settings"] = {
            "facebook": {"enabled": draw(st.booleans()), "caption": draw(_word)}
        }
    return posting


def _posting(job_id: str) -> dict[str, Any]:
    return {"job_id": job_id, "title": "Cook", "company": "W", "location": "B",
            "employment_type": "daily", "apply_url": "https://e.com/a"}  # fmt: skip


def _as_cells(posting: dict[str, Any]) -> dict[str, str]:
    cells: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        elif isinstance(value, list):
            cells[prefix[:-1]] = ";".join(value)
        else:
            cells[prefix[:-1]] = str(value).lower() if isinstance(value, bool) else str(value)

    walk("", posting)
    return cells


def _write_csv(items: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(_as_cells(p) for p in items)
    return out.getvalue().encode()


def _expected(posting: dict[str, Any]) -> dict[str, object]:
    return JobPosting.model_validate(posting).model_dump(mode="json", exclude_unset=True)


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({(p["job_id"], p.get("revision", 1)): p for p in items}.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(postings(), min_size=1, max_size=5).map(_unique))
def test_valid_postings_survive_a_csv_and_a_jsonl_file(items: list[dict[str, Any]]) -> None:
    expected = [_expected(p) for p in items]
    from_csv = parse_job_file(_write_csv(items), fmt="csv")
    assert [r.payload for r in from_csv] == expected
    jsonl = "\r\n".join(json.dumps(p, ensure_ascii=False) for p in items).encode()
    from_jsonl = parse_job_file(jsonl, fmt="jsonl")
    assert [r.payload for r in from_jsonl] == expected
    assert [r.line for r in from_jsonl] == list(range(1, len(items) + 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(postings(), min_size=2, max_size=5).map(_unique),
    where=st.integers(0, 10),
    field=st.sampled_from(["employment_type", "apply_url", "pay.currency", "revision"]),
)
def test_one_bad_row_is_reported_on_its_line_and_the_rest_parse(
    items: list[dict[str, Any]], where: int, field: str
) -> None:
    where %= len(items)
    rows_cells = [_as_cells(p) for p in items]
    rows_cells[where][field] = "-1"  # a value none of these fields takes
    records = []
    for cells in rows_cells:
        out = io.StringIO()
        csv.DictWriter(out, fieldnames=COLUMNS, restval="").writerow(cells)
        records.append(out.getvalue())
    data = (",".join(COLUMNS) + "\r\n" + "".join(records)).encode()
    rows = parse_job_file(data, fmt="csv")
    assert [r.payload is None for r in rows] == [i == where for i in range(len(items))]
    bad = rows[where]
    assert bad.error is not None
    assert f"{field}:" in bad.error
    breaks = [len(re.findall(r"\r\n|\r|\n", record)) for record in records]
    assert bad.line == 2 + sum(breaks[:where])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: (HEADER + "\n" + t).encode("utf-8", "surrogatepass")),
    fmt=st.sampled_from(["csv", "jsonl"]),
)
def test_any_bytes_give_rows_or_a_file_error(data: bytes, fmt: Any) -> None:
    try:
        rows = parse_job_file(data, fmt=fmt)
    except JobFileError:
        return  # the file as a whole is refused: also a typed answer
    lines = [r.line for r in rows]
    assert lines == sorted(set(lines))
    assert all(1 <= n <= data.count(b"\n") + data.count(b"\r") + 1 for n in lines)
    for row in rows:
        assert (row.payload is None) != (row.error is None)
        if row.payload is not None:
            JobPosting.model_validate(row.payload)
