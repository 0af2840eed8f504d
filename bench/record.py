"""The benchmarks' history in the repository: `bench/results/`.

`history.json` holds the measurements made before runs were recorded (one `Measurement`
each, from docs/performance.md and commit messages of that time). A run with
`BENCH_RECORD=1` in its environment also copies its JSON to
`bench/results/<part>/<date>-<commit>.json` (a `RecordedRun`), so later numbers come with
the commit they measured. Both kinds are checked by tests/unit/test_bench_results.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

RESULTS = Path(__file__).resolve().parent / "results"
HISTORY = RESULTS / "history.json"
RECORD_ENV = "BENCH_RECORD"

CommitId = Annotated[str, Field(pattern=r"^[0-9a-f]{7,40}$")]


class Measurement(BaseModel):
    """One number of the history: a single run's, or the median of the runs it names."""

    model_config = ConfigDict(extra="forbid")

    date: datetime | date  # UTC; a day alone when the time was not written down
    part: str = Field(min_length=1)  # the benchmark (`publish-facebook`, `distributor`...)
    metric: str = Field(min_length=1)
    value: float | None  # None: only a range was reported (`spread`)
    unit: str = Field(min_length=1)
    spread: tuple[float, float] | None = None  # lowest and highest run
    runs: int | None = Field(default=None, ge=1)
    commit: CommitId | None = None
    source: str = Field(min_length=1)
    note: str = Field(min_length=1)

    @model_validator(mode="after")
    def _a_number_or_a_range(self) -> Self:
        if self.value is None and self.spread is None:
            raise ValueError("a measurement needs a value, a spread, or both")
        if self.spread is not None and self.spread[0] > self.spread[1]:
            raise ValueError("spread is (lowest, highest)")
        return self


class Recorded(BaseModel):
    date: datetime
    commit: CommitId
    dirty: bool  # the checkout had uncommitted changes: the commit is not all it ran


class RecordedRun(BaseModel):
    """A benchmark's JSON as it wrote it, plus where and when it was recorded."""

    model_config = ConfigDict(extra="allow")

    benchmark: str = Field(min_length=1)
    at: datetime
    machine: dict[str, Any]
    recorded: Recorded


HISTORY_RECORDS: TypeAdapter[list[Measurement]] = TypeAdapter(list[Measurement])


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=RESULTS.parent, capture_output=True, text=True, check=True
    ).stdout.strip()


def recording_asked() -> bool:
    return os.environ.get(RECORD_ENV, "") not in ("", "0")


def record_run(
    data: dict[str, Any],
    *,
    root: Path = RESULTS,
    commit: str | None = None,
    dirty: bool | None = None,
    now: datetime | None = None,
) -> Path:
    """Copy a benchmark's JSON (as `bench.common.report` wrote it) into the history."""
    now = now or datetime.now(UTC)
    commit = commit or _git("rev-parse", "HEAD")
    if dirty is None:
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    run = RecordedRun.model_validate(
        {**data, "recorded": {"date": now, "commit": commit, "dirty": dirty}}
    )
    path = root / run.benchmark / f"{now:%Y-%m-%dT%H%M%SZ}-{commit[:12]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    return path
