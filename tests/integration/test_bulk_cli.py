"""`jobcast jobs import` and `jobcast posts|analytics export` against the running pipeline:
a CSV with a bad row imports its good rows (their posts appear) and reports the bad one by
line; importing again sends nothing twice; the export pages through every post as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner, Result

from devtools.stack import Endpoints
from jobcast.csv_export import POST_COLUMNS
from jobcast_cli.main import app
from tests.integration.helpers import new_tenant, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def _cli(env: dict[str, str], *args: str) -> Result:
    # The commands run their own event loop: off this test's loop, in a thread.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_import_a_csv_then_export_its_posts(
    db: asyncpg.Pool, pipeline: Endpoints, tmp_path: Path
) -> None:
    auth, _ = await new_tenant(db, pipeline)
    env = {
        "JOBCAST_API_KEY": auth["Authorization"].removeprefix("Bearer "),
        "JOBCAST_INGEST_URL": pipeline.url("ingest"),
        "JOBCAST_READ_API_URL": pipeline.url("metrics"),
    }
    run = uuid.uuid4().hex[:8]
    cook, waiter = f"cook-{run}", f"waiter-{run}"
    jobs_file = tmp_path / "jobs.csv"
    jobs_file.write_bytes(
        "\ufeffjob_id,title,company,location,employment_type,apply_url,tags,pay.min_amount,"
        "pay.currency,pay.period\r\n"
        f"{cook},Line cook,Warung Laut,\"Canggu, Bali\",daily,https://jobs.example.com/{cook},"
        "kitchen;night,150000,IDR,day\r\n"
        f"bad-{run},Dishwasher,Warung Laut,Canggu,sometimes,https://jobs.example.com/x,,,,\r\n"
        f"{waiter},Waiter,Warung Laut,Canggu,part_time,https://jobs.example.com/{waiter},,,,\r\n"
        .encode()
    )  # fmt: skip

    imported = await _cli(env, "jobs", "import", str(jobs_file), "--batch-size", "2")
    assert imported.exit_code == 1, imported.output
    assert "line 3: rejected: employment_type: Input should be" in imported.stdout
    assert "3 rows: 2 accepted, 0 already imported, 1 rejected" in imported.stdout
    assert env["JOBCAST_API_KEY"] not in imported.output

    async with httpx.AsyncClient(timeout=10) as http:
        for job_id in (cook, waiter):
            posts = await wait_for_posts(http, pipeline, auth, job_id, 2)  # Facebook + Instagram
            assert {p["platform"] for p in posts} == {"facebook", "instagram"}
        listed = (await http.get(f"{pipeline.url('metrics')}/v1/posts", headers=auth)).json()

    again = await _cli(env, "jobs", "import", str(jobs_file))
    assert "3 rows: 0 accepted, 2 already imported, 1 rejected" in again.stdout

    exported = await _cli(env, "posts", "export", "--page-size", "1")  # a page per post
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.splitlines()[0] == ",".join(POST_COLUMNS)
    rows = _csv_rows(exported.stdout)
    assert sorted((r["job_id"], r["platform"]) for r in rows) == [
        (cook, "facebook"), (cook, "instagram"), (waiter, "facebook"), (waiter, "instagram"),
    ]  # fmt: skip
    assert len({r["post_key"] for r in rows}) == 4
    # Every field the read API gives a post has its column (the objects flattened).
    item: dict[str, Any] = listed["posts"][0]
    nested = ("error", "lifecycle", "media", "first_comment")
    fields = {k for k in item if k not in nested} | set(item["lifecycle"])
    fields |= {f"media_{k}" for k in item["media"] or {"format": 0, "images": 0, "videos": 0}}
    assert fields <= set(POST_COLUMNS)
    assert {"first_comment_status", "first_comment_id"} <= set(POST_COLUMNS)

    only_facebook = await _cli(env, "posts", "export", "--platform", "facebook")
    assert {r["platform"] for r in _csv_rows(only_facebook.stdout)} == {"facebook"}
    assert len(_csv_rows(only_facebook.stdout)) == 2

    analytics = await _cli(env, "analytics", "export", "--group-by", "platform")
    assert analytics.exit_code == 0, analytics.output
    by_platform = {r["key"]: r for r in _csv_rows(analytics.stdout)}
    assert set(by_platform) == {"facebook", "instagram"}
    assert {r["posts"] for r in by_platform.values()} == {"2"}


async def test_a_refused_key_and_a_bad_file_are_reported(
    pipeline: Endpoints, tmp_path: Path
) -> None:
    env = {"JOBCAST_API_KEY": "jc_not_a_key", "JOBCAST_INGEST_URL": pipeline.url("ingest"),
           "JOBCAST_READ_API_URL": pipeline.url("metrics")}  # fmt: skip
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(
        '{"job_id": "a", "title": "Cook", "company": "W", "location": "B",'
        ' "employment_type": "daily", "apply_url": "https://e.com/a"}\n'
    )
    refused = await _cli(env, "jobs", "import", str(jobs_file))
    assert refused.exit_code == 1
    assert "line 1: not sent: the ingest API refused the key (401)" in refused.stdout
    assert "jc_not_a_key" not in refused.output

    odd = tmp_path / "jobs.csv"
    odd.write_text("job_id,salary\n1,2\n")
    unusable = await _cli(env, "jobs", "import", str(odd))
    assert unusable.exit_code == 2
    assert "unknown column(s) 'salary'" in unusable.output

    export = await _cli(env, "posts", "export")
    assert export.exit_code == 2
    assert "the read API refused: 401" in export.output
