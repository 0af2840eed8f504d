"""The benchmarks' history under bench/results/ parses and says what each number is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bench.record import HISTORY, HISTORY_RECORDS, RESULTS, RecordedRun, record_run

REQUIRED = {"date", "part", "metric", "value", "unit", "note"}


def test_the_history_parses_and_every_record_has_the_required_keys() -> None:
    raw = json.loads(HISTORY.read_text(encoding="utf-8"))
    assert isinstance(raw, list)
    assert raw
    for record in raw:
        assert record.keys() >= REQUIRED, record
    HISTORY_RECORDS.validate_python(raw)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in RESULTS.rglob("*.json") if p != HISTORY),
    ids=lambda p: str(p.relative_to(RESULTS)),
)
def test_every_recorded_run_parses_and_names_its_commit(path: Path) -> None:
    run = RecordedRun.model_validate_json(path.read_bytes())
    assert path.parent.name == run.benchmark
    assert path.name.endswith(f"-{run.recorded.commit[:12]}.json")


def test_a_recorded_run_is_the_benchmarks_json_with_date_and_commit(tmp_path: Path) -> None:
    data = {
        "benchmark": "distributor",
        "at": "2026-12-03T09:00:00+00:00",
        "machine": {"cores": 2, "python": "3.11.9"},
        "jobs_per_second": 6861.0,
    }
    when = datetime(2026, 12, 3, 9, 1, 2, tzinfo=UTC)
    commit = "d63f325" + "0" * 33
    path = record_run(data, root=tmp_path, commit=commit, dirty=False, now=when)
    assert path == tmp_path / "distributor" / "2026-12-03T090102Z-d63f32500000.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["jobs_per_second"] == 6861.0
    assert stored["recorded"] == {
        "date": "2026-12-03T09:01:02Z",
        "commit": commit,
        "dirty": False,
    }
    assert RecordedRun.model_validate(stored).benchmark == "distributor"


@pytest.mark.parametrize(
    "broken",
    [
        {"part": "ingest", "metric": "m", "value": 1, "unit": "u", "source": "s", "note": "n"},
        {"date": "2026-11-23", "part": "ingest", "metric": "m", "value": None, "unit": "u",
         "source": "s", "note": "n"},
        {"date": "2026-11-23", "part": "ingest", "metric": "m", "value": 1, "unit": "u",
         "spread": [2, 1], "source": "s", "note": "n"},
        {"date": "2026-11-23", "part": "ingest", "metric": "m", "value": 1, "unit": "u",
         "commit": "not-a-commit", "source": "s", "note": "n"},
    ],
)  # fmt: skip
def test_a_record_without_a_date_number_or_sane_range_is_refused(broken: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        HISTORY_RECORDS.validate_python([broken])
