"""Shared pieces of the benchmarks: results as a table and as JSON, process memory."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(".jobcast/bench")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def report(name: str, rows: list[tuple[str, str, str]], data: dict[str, Any]) -> Path:
    """Print a table (metric, value, target) and write the JSON next to earlier runs."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{name} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    for metric, value, target in rows:
        print(f"  {metric:<{width}}  {value:>14}  {target}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    data = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        **data,
    }
    path.write_text(json.dumps(data, indent=2, default=str))
    print(f"  (JSON: {path})")
    return path
