"""The distributor's clock: real time, optionally shifted for tests of far-off schedules.

Scheduling across a DST change cannot wait for a real one, so tests shift the clock by
writing a number of seconds to the file named by `DISTRIBUTOR_CLOCK_OFFSET_FILE`. Without
that setting the clock is the system clock, untouched.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


class Clock:
    """UTC now, plus an offset read from a file (re-read at most every 50 ms)."""

    def __init__(self, offset_file: Path | None = None) -> None:
        self._file = offset_file
        self._offset = 0.0
        self._checked = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._current_offset())

    def _current_offset(self) -> float:
        if self._file is None:
            return 0.0
        mono = time.monotonic()
        if mono - self._checked >= 0.05:
            self._checked = mono
            try:
                self._offset = float(self._file.read_text().strip() or 0)
            except (OSError, ValueError):
                self._offset = 0.0
        return self._offset
