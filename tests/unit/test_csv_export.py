"""Posts and analytics from the read API as CSV: stable columns, no formulas."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from jobcast.csv_export import (
    ANALYTICS_COLUMNS,
    LIFECYCLE_COLUMNS,
    POST_COLUMNS,
    analytics_csv,
    csv_line,
    posts_csv,
    safe_cell,
)


def _read(lines: list[str]) -> list[dict[str, str]]:
    assert all(line.endswith("\r\n") for line in lines)
    return list(csv.DictReader(io.StringIO("".join(lines), newline="")))


def _post(**changes: Any) -> dict[str, Any]:
    """A `GET /v1/posts` item as the read API serialises it."""
    post: dict[str, Any] = {
        "post_key": "pk-1",
        "job_id": "cook-1",
        "platform": "facebook",
        "connection_id": "0b5e7a52-54a1-4d4e-9d6c-3c1f7c3a3d10",
        "action": "publish",
        "status": "failed",
        "attempt": 2,
        "attempt_count": 3,
        "platform_post_id": None,
        "permalink": None,
        "error": {"error_class": "auth", "code": 190, "subcode": 463, "message": "expired"},
        "next_attempt_at": None,
        "lifecycle": {column: None for column in LIFECYCLE_COLUMNS}
        | {"first_seen_at": "2026-05-01T10:00:00Z", "failed_at": "2026-05-01T10:00:05Z"},
        "updated_at": "2026-05-01T10:00:05Z",
    }
    return post | changes


def test_posts_become_rows_in_a_fixed_column_order() -> None:
    posted = _post(post_key="pk-2", status="posted", error=None,
                   permalink="https://facebook.example/p/1", platform_post_id="1_2")  # fmt: skip
    lines = list(posts_csv([_post(), posted]))
    assert lines[0] == ",".join(POST_COLUMNS) + "\r\n"
    failed, ok = _read(lines)
    assert failed["error_class"] == "auth"
    assert failed["error_code"] == "190"
    assert failed["error_subcode"] == "463"
    assert failed["error_message"] == "expired"
    assert failed["failed_at"] == "2026-05-01T10:00:05Z"
    assert failed["posted_at"] == ""
    assert failed["attempt_count"] == "3"
    assert ok["status"] == "posted"
    assert ok["permalink"] == "https://facebook.example/p/1"
    assert ok["error_class"] == ""


def test_media_and_first_comment_are_flattened() -> None:
    posted = _post(
        status="posted", error=None,
        media={"format": "carousel", "images": 2, "videos": 1},
        first_comment={"status": "failed", "comment_id": None, "attempts": 2,
                       "error": {"error_class": "permanent", "message": "comments are off"}},
    )  # fmt: skip
    row, _ = _read(list(posts_csv([posted, _post()])))
    assert (row["media_format"], row["media_images"], row["media_videos"]) == ("carousel", "2", "1")
    assert (row["first_comment_status"], row["first_comment_attempts"]) == ("failed", "2")
    assert row["first_comment_error"] == "comments are off"
    assert row["first_comment_id"] == ""
    (none,) = _read(list(posts_csv([_post()])))
    assert none["media_format"] == none["first_comment_status"] == ""


def test_a_later_page_has_no_header() -> None:
    lines = list(posts_csv([_post()], header=False))
    assert len(lines) == 1
    assert lines[0].startswith("pk-1,cook-1,facebook,")


def test_text_that_a_spreadsheet_would_evaluate_is_prefixed() -> None:
    hostile = _post(job_id="-2+3", error={"error_class": "permanent", "code": -1,
                    "subcode": None, "message": '=HYPERLINK("http://evil","x")'})  # fmt: skip
    [row] = _read(list(posts_csv([hostile])))
    assert row["job_id"] == "'-2+3"
    assert row["error_message"] == '\'=HYPERLINK("http://evil","x")'
    assert row["error_code"] == "-1"  # a number from the API, not text: left as it is


def test_safe_cell() -> None:
    assert [safe_cell(v) for v in (None, True, False, 0, 2.5, "a", "@x", "\tx", "a=b")] == [
        "", "true", "false", "0", "2.5", "a", "'@x", "'\tx", "a=b",
    ]  # fmt: skip


@given(st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.text()), max_size=6))
def test_any_cells_read_back_as_written_and_none_starts_a_formula(cells: list[object]) -> None:
    [read] = list(csv.reader(io.StringIO(csv_line(cells), newline="")))
    assert read == [safe_cell(c) for c in cells]
    for cell, value in zip(read, cells, strict=True):
        if isinstance(value, str):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
            assert cell.removeprefix("'") == value or cell == value


def test_analytics_groups_become_rows_with_status_counts() -> None:
    body = {
        "group_by": "platform",
        "from": "2026-04-01T00:00:00Z",
        "to": "2026-05-01T00:00:00Z",
        "groups": [
            {
                "key": "instagram",
                "posts": 4,
                "by_status": {"posted": 3, "failed": 1},
                "published": 3,
                "failed": 1,
                "success_rate": 0.75,
                "time_to_publish": {"avg_seconds": 2.5, "p50_seconds": 2.0, "p95_seconds": None},
                "engagement": {"posts_measured": 2, "views": 100, "reach": None, "reactions": 4,
                               "likes": 3, "comments": 1, "shares": 0, "clicks": 7, "saved": 1,
                               "total_interactions": 9, "webhook_comments": 2,
                               "engagement_rate": 0.09},
            }
        ],
    }  # fmt: skip
    lines = list(analytics_csv(body))
    assert lines[0] == ",".join(ANALYTICS_COLUMNS) + "\r\n"
    [row] = _read(lines)
    assert row["group_by"] == "platform"
    assert row["key"] == "instagram"
    assert row["from"] == "2026-04-01T00:00:00Z"
    assert row["success_rate"] == "0.75"
    assert row["time_to_publish_avg_seconds"] == "2.5"
    assert row["time_to_publish_p95_seconds"] == ""
    assert row["views"] == "100"
    assert row["reach"] == ""
    assert row["engagement_rate"] == "0.09"
    assert row["status_posted"] == "3"
    assert row["status_failed"] == "1"
    assert row["status_held"] == "0"


def test_analytics_without_groups_is_a_header() -> None:
    assert list(analytics_csv({"group_by": "day", "groups": []})) == [
        ",".join(ANALYTICS_COLUMNS) + "\r\n"
    ]
