"""Where a phase's machine CPU went: per process of the private stack, and within each
service per activity (py-spy samples, `bench.activities`).

Processes are read from /proc/<pid>/stat before and after the phase. Postgres backends
come and go, so the postmaster's children are sampled every `SAMPLE_SECONDS` together with
pg_stat_activity, and each backend's CPU goes to the service named by its
`application_name` (`jobcast.db.program_name`); the postmaster, its background workers
and unnamed backends are `postgres (shared)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.activities import activity_shares
from bench.common import machine_cpu_seconds
from bench.proc_cpu import CLOCK_TICKS, all_stats, read_stat

SAMPLE_SECONDS = 1.0
SHARED_POSTGRES = "postgres (shared)"
PROFILER = "profiler (py-spy)"
REST = "rest of machine"
MACHINE = "machine"


@dataclass
class BackendTicks:
    """What the samples saw of the postmaster's children during one phase."""

    first: dict[int, int] = field(default_factory=dict)  # at the phase's start
    last: dict[int, int] = field(default_factory=dict)  # at the latest sample
    app: dict[int, str] = field(default_factory=dict)  # latest non-empty application_name
    alive_at_end: set[int] = field(default_factory=set)


def backend_cpu(
    ticks: BackendTicks, exited_child_ticks: int, label: Callable[[str], str]
) -> dict[str, int]:
    """CPU ticks per group. A backend born during the phase counts from zero; one that
    exited counts until its last sample, and the rest of its life reaches the postmaster's
    cutime, which is shared but for the part already counted."""
    groups: dict[str, int] = {}
    for pid, last in ticks.last.items():
        group = label(ticks.app.get(pid, ""))
        groups[group] = groups.get(group, 0) + last - ticks.first.get(pid, 0)
    exited = sum(last for pid, last in ticks.last.items() if pid not in ticks.alive_at_end)
    groups[SHARED_POSTGRES] = groups.get(SHARED_POSTGRES, 0) + max(0, exited_child_ticks - exited)
    return groups


def postgres_label(services: Mapping[str, str]) -> Callable[[str], str]:
    """application_name → group: `postgres: <service>` for a known program, else shared."""

    def label(application_name: str) -> str:
        name = services.get(application_name)
        return f"postgres: {name}" if name else SHARED_POSTGRES

    return label


class BackendSampler:
    """Samples the postmaster's children and pg_stat_activity until stopped."""

    def __init__(self, postmaster: int, pool: asyncpg.Pool) -> None:
        self.postmaster = postmaster
        self.pool = pool
        self.ticks = BackendTicks()
        start = read_stat(postmaster)
        self.child_ticks_at_start = start.child_ticks + start.ticks if start else 0
        self._stop = asyncio.Event()

    async def sample(self, *, first: bool = False) -> None:
        rows = await self.pool.fetch("SELECT pid, application_name FROM pg_stat_activity")
        for row in rows:
            if row["application_name"]:
                self.ticks.app[row["pid"]] = row["application_name"]
        children = {s.pid: s.ticks for s in all_stats() if s.ppid == self.postmaster}
        if first:
            self.ticks.first = dict(children)
        self.ticks.last.update(children)
        self.ticks.alive_at_end = set(children)

    async def run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SAMPLE_SECONDS)
            await self.sample()

    def stop(self) -> None:
        self._stop.set()

    def groups(self, label: Callable[[str], str]) -> dict[str, float]:
        end = read_stat(self.postmaster)
        # The postmaster's own CPU and what its exited children used are both shared.
        own_and_exited = (end.child_ticks + end.ticks if end else 0) - self.child_ticks_at_start
        ticks = backend_cpu(self.ticks, own_and_exited, label)
        return {name: t / CLOCK_TICKS for name, t in ticks.items()}


@dataclass
class Profile:
    """A py-spy recording of one process, stopped with SIGINT (it then writes its file)."""

    name: str
    process: subprocess.Popen[bytes]
    output: Path

    @classmethod
    def start(cls, name: str, pid: int, out_dir: Path, rate: int) -> Profile:
        output = out_dir / f"{name}.txt"
        command = [py_spy(), "record", "--pid", str(pid), "--format", "raw", "--rate",
                   str(rate), "--nonblocking", "--output", str(output)]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return cls(name, process, output)

    def stop(self) -> tuple[float, dict[str, float], int]:
        """The profiler's own CPU seconds, the activity shares it sampled, and of how many
        samples."""
        stat = read_stat(self.process.pid)
        spent = stat.seconds if stat else 0.0
        self.process.send_signal(signal.SIGINT)
        _, errors = self.process.communicate(timeout=60)
        if not self.output.exists():
            print(f"  py-spy on {self.name} wrote nothing: {errors.decode()[-300:]}")
            return spent, {}, 0
        return spent, *activity_shares(self.output.read_text())


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy not found: install the dev extras, or pass --profile-rate 0")
    return found


@dataclass(frozen=True)
class PhaseCost:
    """One load level's CPU: seconds per process, activity shares per service."""

    name: str
    jobs: int
    seconds: float
    cpu: dict[str, float]
    activities: dict[str, dict[str, float]]
    # Seconds py-spy sampled each service at work: near its `cpu`, the shares are sound.
    sampled: dict[str, float] = field(default_factory=dict)

    def per_job_ms(self) -> dict[str, float]:
        return {k: v * 1000 / self.jobs for k, v in self.cpu.items()} if self.jobs else {}

    def per_second(self) -> dict[str, float]:
        return {k: v / self.seconds for k, v in self.cpu.items()}

    def stack_seconds(self, outside: Collection[str], bench_own: Collection[str]) -> float:
        """The stack's CPU: the machine's less what is not the stack (`outside`: the Graph
        stand-in), the profilers and the rest of the machine. The load generator
        (`bench_own`, with its Postgres backends) counts while it sends jobs, as a client
        would spend it; in a phase without jobs all it does is the bench's own sampling."""
        left = {*outside, PROFILER, REST}
        if not self.jobs:
            left |= {*bench_own, *(f"postgres: {name}" for name in bench_own)}
        return self.cpu.get(MACHINE, 0.0) - sum(self.cpu.get(name, 0.0) for name in left)

    def activity_cpu(self) -> dict[str, float]:
        """`service: activity` → CPU seconds (the service's CPU split by its shares)."""
        return {
            f"{service}: {activity}": self.cpu.get(service, 0.0) * share
            for service, shares in self.activities.items()
            for activity, share in shares.items()
        }


@dataclass
class Stack:
    """The processes a phase is attributed to."""

    processes: dict[str, int]  # name → pid: services, sandbox, Kafka, load generator
    profiled: dict[str, int]  # the services py-spy samples
    postmaster: int | None
    program_of: dict[str, str]  # application_name → service name
    pool: asyncpg.Pool
    out_dir: Path
    profile_rate: int = 100


@contextlib.asynccontextmanager
async def attributed(stack: Stack, name: str, result: list[PhaseCost]) -> AsyncIterator[None]:
    """Measure the body as a phase; the caller sets the job count on the appended cost
    (`with_jobs`). The phase's CPU includes the profilers' own, reported apart."""
    loop = asyncio.get_running_loop()
    # Kept after the run: the stacks behind each share, for a flame graph or a closer look.
    out_dir = stack.out_dir / f"{len(result) + 1}-{re.sub(r'[^a-z0-9]+', '-', name).strip('-')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    profiles = [
        Profile.start(service, pid, out_dir, stack.profile_rate)
        for service, pid in stack.profiled.items()
        if stack.profile_rate > 0
    ]
    sampler = BackendSampler(stack.postmaster, stack.pool) if stack.postmaster else None
    if sampler is not None:
        await sampler.sample(first=True)
    sampling = loop.create_task(sampler.run()) if sampler is not None else None
    before = {n: read_stat(pid) for n, pid in stack.processes.items()}
    machine_before = machine_cpu_seconds()
    started = loop.time()
    yield
    seconds = loop.time() - started
    machine = machine_cpu_seconds() - machine_before
    cpu: dict[str, float] = {}
    for n, pid in stack.processes.items():
        end, start = read_stat(pid), before[n]
        cpu[n] = (end.seconds - start.seconds) if end and start else 0.0
    activities: dict[str, dict[str, float]] = {}
    profiler_cpu = 0.0
    sampled: dict[str, float] = {}
    for profile in profiles:
        spent, shares, samples = profile.stop()
        profiler_cpu += spent
        activities[profile.name] = shares
        sampled[profile.name] = samples / stack.profile_rate
    cpu[PROFILER] = profiler_cpu
    if sampler is not None and sampling is not None:
        sampler.stop()
        await sampling
        cpu.update(sampler.groups(postgres_label(stack.program_of)))
    cpu[REST] = max(0.0, machine - sum(cpu.values()))
    cpu[MACHINE] = machine
    result.append(PhaseCost(name, 0, seconds, cpu, activities, sampled))


def with_jobs(costs: list[PhaseCost], jobs: int) -> None:
    """Set the job count of the phase just measured."""
    last = costs[-1]
    costs[-1] = dataclasses.replace(last, jobs=jobs)


def attribution_rows(
    costs: list[PhaseCost],
    stack: Callable[[PhaseCost], float],
    top: int = 12,
) -> list[tuple[str, str, str]]:
    """The table: the stack (`stack`: its CPU seconds in a phase), per process, then the
    busiest service activities, as ms per job at each load level; the idle phase (no jobs)
    as ms of CPU per second."""
    loaded = [c for c in costs if c.jobs]
    idle = [c for c in costs if not c.jobs]
    header = " / ".join(c.name for c in loaded) + (" ms/job" if loaded else "")
    idle_header = " / ".join(f"{c.name} ms/s" for c in idle)

    def row(name: str, tables: Callable[[PhaseCost], dict[str, float]]) -> tuple[str, str, str]:
        per_job = [1000 * tables(c).get(name, 0.0) / c.jobs for c in loaded]
        per_second = [1000 * tables(c).get(name, 0.0) / c.seconds for c in idle]
        return (f"  {name}", _joined(per_job), _joined(per_second))

    def busiest(table: dict[str, float]) -> list[str]:
        return sorted(table, key=lambda k: -table[k])

    first = loaded[0] if loaded else costs[0]
    rows = [
        ("the stack", _joined([1000 * stack(c) / c.jobs for c in loaded]),
         _joined([1000 * stack(c) / c.seconds for c in idle])),
        ("CPU by process", header, idle_header),
    ]  # fmt: skip
    rows += [row(name, lambda c: c.cpu) for name in busiest(first.cpu)]
    rows.append(("CPU by service activity (top)", header, idle_header))
    idle_top = [n for c in idle for n in busiest(c.activity_cpu())[:5]]
    names = dict.fromkeys([*busiest(first.activity_cpu())[:top], *idle_top])
    rows += [row(name, PhaseCost.activity_cpu) for name in names]
    rows.append(("py-spy's coverage", " / ".join(c.name for c in costs), ""))
    for service in first.sampled:
        coverage = [c.sampled.get(service, 0.0) / max(c.cpu.get(service, 0.0), 1e-9) for c in costs]
        rows.append(
            (f"  {service}: sampled ÷ measured", " / ".join(f"{v:.0%}" for v in coverage), "")
        )
    return rows


def _joined(values: list[float]) -> str:
    return " / ".join(f"{v:,.2f}" for v in values)
