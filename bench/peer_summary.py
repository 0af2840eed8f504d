"""The side-by-side bench's arithmetic: one run's figures, the jobcast ÷ peer ratios of
each pair of runs, and the medians. Pure: `bench.peer` measures, this computes."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import percentile

PEER = "peer"
JOBCAST = "jobcast"
# Final statuses in each system: every post ends in one of them, or the run is unfinished.
FINAL = {PEER: ("posted", "failed"), JOBCAST: ("posted", "failed", "cancelled", "skipped")}


def run_order(pairs: int) -> list[str]:
    """Alternated, the peer first: peer, jobcast, peer, jobcast, ..."""
    if pairs < 1:
        raise ValueError(f"need at least one pair of runs, not {pairs}")
    return [PEER, JOBCAST] * pairs


@dataclass(frozen=True)
class RunFigures:
    """What one run of one system measured."""

    system: str
    jobs: int
    seconds: float  # first request sent → every post final
    machine_cpu: float  # /proc/stat busy seconds over the run
    sandbox_cpu: float  # the Graph stand-in's, excluded from the machine's
    stack_cpu: float  # the system's own process trees (Postgres backends, pool children)
    load_generator_cpu: float  # this bench process
    latencies_ms: Sequence[float]  # accepted → posted, one per posted post
    graph_calls: int
    statuses: dict[str, int]
    load_average: float  # the machine's 1-minute load as the run ended
    graph_operations: dict[str, int] = field(default_factory=dict)
    processes: Sequence[str] = ()  # the process trees counted as the system's own
    process_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per tree

    @property
    def expected_posts(self) -> int:
        return 2 * self.jobs  # a Facebook Page and an Instagram account per tenant

    @property
    def final_posts(self) -> int:
        return sum(n for status, n in self.statuses.items() if status in FINAL[self.system])

    @property
    def complete(self) -> bool:
        """Every post reached a final status and none failed: only then are rates honest."""
        return self.final_posts == self.expected_posts and self.statuses.get("failed", 0) == 0

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds

    @property
    def cpu_ms_per_job(self) -> float:
        """Machine CPU per job, the Graph stand-in excluded."""
        return (self.machine_cpu - self.sandbox_cpu) * 1000 / self.jobs

    @property
    def stack_cpu_ms_per_job(self) -> float:
        """The system's processes and the load generator only: what other work on the machine
        cannot inflate."""
        return (self.stack_cpu + self.load_generator_cpu) * 1000 / self.jobs

    @property
    def p99_ms(self) -> float:
        return percentile(list(self.latencies_ms), 99) if self.latencies_ms else math.nan

    @property
    def p50_ms(self) -> float:
        return percentile(list(self.latencies_ms), 50) if self.latencies_ms else math.nan

    @property
    def graph_calls_per_job(self) -> float:
        return self.graph_calls / self.jobs

    def figures(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in FIGURES}


# The compared figures: attribute → (label, unit).
FIGURES: dict[str, tuple[str, str]] = {
    "jobs_per_second": ("jobs/s", "jobs/s"),
    "cpu_ms_per_job": ("machine CPU per job, Graph stand-in excluded", "ms"),
    "stack_cpu_ms_per_job": ("  own processes + load generator", "ms"),
    "p99_ms": ("accepted → posted p99", "ms"),
    "p50_ms": ("accepted → posted p50", "ms"),
    "graph_calls_per_job": ("Graph calls per job", ""),
}


def pairs(runs: Sequence[RunFigures]) -> list[tuple[RunFigures, RunFigures]]:
    """(peer, jobcast) runs in the order they ran: the n-th peer run with the n-th jobcast."""
    peer = [r for r in runs if r.system == PEER]
    jobcast = [r for r in runs if r.system == JOBCAST]
    if len(peer) != len(jobcast):
        raise ValueError(f"{len(peer)} peer runs against {len(jobcast)} jobcast runs")
    return list(zip(peer, jobcast, strict=True))


def ratios(peer: RunFigures, jobcast: RunFigures) -> dict[str, float]:
    """jobcast ÷ peer for each figure of one pair of runs."""
    theirs, ours = peer.figures(), jobcast.figures()
    return {key: ours[key] / theirs[key] if theirs[key] else math.nan for key in FIGURES}


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))


def summary(runs: Sequence[RunFigures]) -> dict[str, dict[str, Spread]]:
    """Per figure: each system's median and spread, and the pairwise ratios'."""
    matched = pairs(runs)
    per_pair = [ratios(peer, jobcast) for peer, jobcast in matched]
    return {
        key: {
            PEER: Spread.of([p.figures()[key] for p, _ in matched]),
            JOBCAST: Spread.of([j.figures()[key] for _, j in matched]),
            "ratio": Spread.of([r[key] for r in per_pair]),
        }
        for key in FIGURES
    }


def run_json(run: RunFigures) -> dict[str, Any]:
    return {
        "system": run.system, "jobs": run.jobs, "seconds": run.seconds,
        **run.figures(),
        "cpu_seconds": {"machine": run.machine_cpu, "graph_sandbox": run.sandbox_cpu,
                        "own_processes": run.stack_cpu, "load_generator": run.load_generator_cpu},
        "graph_calls": run.graph_calls, "graph_operations": run.graph_operations,
        "statuses": run.statuses, "expected_posts": run.expected_posts,
        "complete": run.complete, "load_average_1m": run.load_average,
        "own_processes": list(run.processes),
        "cpu_ms_per_job_by_process": {name: 1000 * seconds / run.jobs
                                      for name, seconds in run.process_cpu.items()},
    }  # fmt: skip
