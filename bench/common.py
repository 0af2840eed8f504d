"""Shared pieces of the benchmarks: results as a table and as JSON, process memory."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.record import record_run, recording_asked

RESULTS_DIR = Path(".jobcast/bench")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time all cores spent busy (not idle or waiting on I/O) since boot, in seconds."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def report(name: str, rows: list[tuple[str, str, str]], data: dict[str, Any]) -> Path:
    """Print a table (metric, value, target) and write the JSON next to earlier runs; with
    `BENCH_RECORD=1`, also into the repository's history (`bench.record`)."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{name} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    for metric, value, target in rows:
        print(f"  {metric:<{width}}  {value:>14}  {target}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    data = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            # How busy the machine was as the run ended: a run beside other work is slower.
            "load_average": os.getloadavg(),
        },
        **data,
    }
    path.write_text(json.dumps(data, indent=2, default=str))
    print(f"  (JSON: {path})")
    if recording_asked():
        print(f"  (recorded: {record_run(json.loads(path.read_text()))})")
    return path
