"""`jobcast jobs import` and `jobcast posts export` refuse bad input before any request
(the commands against the real APIs: tests/integration/test_bulk_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobcast.http_answers import MAX_RETRY_AFTER, refusal_reason, retry_after_seconds
from jobcast_cli.main import app
from tests.fake_answers import answer

# Nothing listens here: a command that reached the network would fail differently.
ENV = {"JOBCAST_API_KEY": "jc_key", "JOBCAST_INGEST_URL": "http://127.0.0.1:9",
       "JOBCAST_READ_API_URL": "http://127.0.0.1:9"}  # fmt: skip


def test_a_file_of_unknown_format_is_refused(tmp_path: Path) -> None:
    sheet = tmp_path / "jobs.xlsx"
    sheet.write_bytes(b"PK")
    result = CliRunner().invoke(app, ["jobs", "import", str(sheet)], env=ENV)
    assert result.exit_code == 2
    assert "cannot tell the format" in result.output


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "jobs.jsonl"
    empty.write_bytes(b"\n\n")
    result = CliRunner().invoke(app, ["jobs", "import", str(empty)], env=ENV)
    assert result.exit_code == 2
    assert "no rows" in result.output


@pytest.mark.parametrize("since", ["2026-05-01T00:00:00", "yesterday"])
def test_an_export_needs_a_time_with_a_zone(since: str) -> None:
    result = CliRunner().invoke(app, ["posts", "export", "--since", since], env=ENV)
    assert result.exit_code == 2
    assert "--since" in result.output


def test_retry_after_and_refusal_reason() -> None:
    assert retry_after_seconds(answer(429, headers={"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(answer(429, headers={"Retry-After": "3600"})) == (MAX_RETRY_AFTER)
    assert retry_after_seconds(answer(429, headers={"Retry-After": "soon"})) == 1.0
    assert retry_after_seconds(answer(429)) == 1.0
    assert refusal_reason(answer(422, json={"detail": "`from` must be before"})) == (
        "`from` must be before"
    )
    assert refusal_reason(answer(502, text="<html>")) == "Bad Gateway"
    field_errors = {"detail": [{"loc": ["body", "title"], "msg": "too long"}, "other"]}
    assert refusal_reason(answer(422, json=field_errors)) == "too long; other"
