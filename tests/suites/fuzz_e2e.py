"""Extreme-but-valid events end to end: odd records must not stall anything.

Odd job events (tests/suites/extreme.py: every field at the contract's limits, the largest
events, malformed ones, odd Kafka headers) go in through `POST /v1/job-events` (single and
batched) and raw on `jobs.incoming`, interleaved with normal jobs of another tenant. Then:

- every normal job is posted on both of its accounts;
- every odd event is posted, refused at the edge (a 4xx, a `rejected` outcome, the broker
  refusing a record too large), dead-lettered with an `x-dlq-reason`, or handled with
  nothing to post (closed, scheduled beyond the run, no platform enabled) or with a post
  that ended with a stated reason — never a 5xx, never lost, never stuck;
- every consumer group's lag (committed offset vs log end, from Kafka's admin) is back to
  0 before the settle window ends;
- every service's `/readyz`, polled throughout, says why whenever it is not ready, is
  not ready while its group is stalled, and is ready at the end.

`make fuzz-e2e` runs 10,000 odd events on a private Kafka + Postgres; the quick version is
tests/integration/test_fuzz_extreme.py. Both print one verdict line; the events are fixed
by `--seed` (the job ids carry the run's tag, nothing else changes).

    python -m tests.suites.fuzz_e2e --events 10000 [--normal 500] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.structs import TopicPartition

from devtools.stack import SERVICES, Endpoints
from jobcast.db import create_pool
from jobcast.kafka import topic_partitions
from jobcast.topics import CONSUMED, JOBS_INCOMING, dead_letter_topic
from schemas import headers as h
from tests.integration import helpers
from tests.suites.extreme import Campaign, OddEvent, Route, cases_in, generate
from tests.suites.lifecycle import AT_REST
from tests.suites.offsets import log_ends
from tests.suites.stack import LOAD_ENV, own_stack, run_async

# Readiness must own up to a stalled consumer within 10 s here (the services' default is a
# minute); a run waits `quiet_seconds` (more than that) without progress before judging.
STACK_ENV = {**LOAD_ENV, "JOBCAST_STALL_SECONDS": "10"}
RUN_HEADER = "x-fuzz-run"
CASE_HEADER = "x-fuzz-case"
PLATFORMS_PER_JOB = 2  # each tenant has one Facebook Page and one Instagram account
ODD_BATCH = 20  # odd events per batched request


# -- the verdict (pure) --------------------------------------------------------------------------


class Outcome(StrEnum):
    POSTED = "posted"
    REFUSED = "refused"
    DEAD_LETTERED = "dead-lettered"
    APPLIED = "handled without a post"  # closed, scheduled beyond the run, nothing planned
    GAVE_REASON = "not posted, with a reason"  # a post failed or was skipped, saying why
    # Findings:
    EDGE_ERROR = "edge errors"  # a 5xx, a dropped connection, a producer error
    STUCK = "stuck"  # accepted; a post still on its way when the run ended
    UNHANDLED = "unhandled"  # accepted; neither handled nor dead-lettered
    NO_REASON = "without a reason"  # a dead letter or a failed post that does not say why


FINE = frozenset(
    {Outcome.POSTED, Outcome.REFUSED, Outcome.DEAD_LETTERED, Outcome.APPLIED, Outcome.GAVE_REASON}
)
# Distributor plan states that need no more work from anyone during the run.
PLAN_AT_REST = frozenset({"later", "held", "awaiting_approval", "cancelled"})


@dataclass(frozen=True)
class Edge:
    """What the front door said: accepted, refused (4xx, `rejected`, too large) or error."""

    status: str
    detail: str = ""


@dataclass(frozen=True)
class Letter:
    topic: str  # the dead-letter topic
    group: str
    reason: str


@dataclass
class Trace:
    """Everything found about one odd event."""

    edge: Edge
    letters: list[Letter] = field(default_factory=list)
    known: bool = False  # the distributor has the job
    planned: list[str] = field(default_factory=list)  # its posts' plan states ("later": not due)
    results: list[tuple[str, str]] = field(default_factory=list)  # read model: (status, reason)


def judge_event(trace: Trace) -> tuple[Outcome, str]:
    """How one odd event ended, and a detail for the report."""
    if trace.edge.status == "error":
        return Outcome.EDGE_ERROR, trace.edge.detail
    if trace.edge.status == "refused":
        return Outcome.REFUSED, trace.edge.detail
    if trace.letters:
        return _judge_letters(trace.letters)
    if not trace.known:
        return Outcome.UNHANDLED, "accepted, but the distributor never had the job"
    return _judge_posts(trace)


def _judge_letters(letters: list[Letter]) -> tuple[Outcome, str]:
    silent = [f"{x.topic} ({x.group})" for x in letters if not x.reason.strip()]
    if silent:
        return Outcome.NO_REASON, "dead letter without x-dlq-reason in " + ", ".join(silent)
    first = letters[0]
    return Outcome.DEAD_LETTERED, f"{first.topic} ({first.group}): {first.reason[:120]}"


def _judge_posts(trace: Trace) -> tuple[Outcome, str]:
    """A job the distributor has: its posts at rest (posted, or ended saying why), or none
    to make yet (closed, scheduled beyond the run); anything else is still on its way."""
    results = [(s, r) for s, r in trace.results if s != "scheduled"]
    moving = [s for s, _ in results if s not in AT_REST]
    due = [s for s in trace.planned if s not in PLAN_AT_REST and s != "sent"]
    if moving or due or len(results) < trace.planned.count("sent"):
        return Outcome.STUCK, f"plan {sorted(trace.planned)}, read model {sorted(results)}"
    if any(s == "posted" for s, _ in results):
        return Outcome.POSTED, ""
    silent = [s for s, r in results if not r.strip()]
    if silent:
        return Outcome.NO_REASON, f"{', '.join(silent)} without a reason"
    if results:
        return Outcome.GAVE_REASON, "; ".join(f"{s}: {r[:80]}" for s, r in results)
    return Outcome.APPLIED, f"plan {sorted(trace.planned)}"


@dataclass(frozen=True)
class ReadySample:
    """One `/readyz` answer: ready or not, and why; `ready` None when nothing answered."""

    service: str
    ready: bool | None
    reason: str = ""
    down: bool = False  # the connection was refused: the process is gone


def owner(group: str, services: Iterable[str] = SERVICES) -> str:
    """The service a consumer group belongs to (its longest name the group starts with)."""
    found = [s for s in services if group == s or group.startswith(f"{s}-")]
    return max(found, key=len) if found else group


@dataclass
class Observed:
    """What a run saw, for `judge`."""

    events: list[OddEvent]
    traces: dict[int, Trace]
    normal: dict[str, list[str]]  # normal job id → its posts' read-model statuses
    normal_letters: list[str] = field(default_factory=list)  # normal jobs dead-lettered
    lag_samples: list[dict[str, int]] = field(default_factory=list)
    final_lag: dict[str, int] = field(default_factory=dict)
    lag_zero_after: float | None = None  # seconds after the last send, every group at 0
    ready_samples: list[ReadySample] = field(default_factory=list)
    final_ready: dict[str, ReadySample] = field(default_factory=dict)
    seconds: float = 0.0
    seed: int = 0


@dataclass
class Verdict:
    events: int
    outcomes: Counter[Outcome]
    normal: int
    normal_posted: int
    max_lag: int
    lag_zero_after: float | None
    stalled: dict[str, int]
    polls: int
    not_ready: int
    findings: list[str]
    seconds: float
    seed: int
    # Dead letters by topic, group and the reason's head (e.g. a handler_failed among them
    # is a valid event some handler could not take: worth a look even in a passing run).
    letter_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.findings

    def line(self) -> str:
        fine = ", ".join(f"{self.outcomes[o]} {o.value}" for o in Outcome if o in FINE)
        bad = ", ".join(f"{self.outcomes[o]} {o.value}" for o in Outcome if o not in FINE)
        if self.stalled:
            lag = "stalled: " + ", ".join(f"{g} lag {n}" for g, n in sorted(self.stalled.items()))
        elif self.lag_zero_after is not None:
            lag = f"every group back to lag 0 {self.lag_zero_after:.0f} s after the last send"
        else:
            lag = "lag not measured"
        problems = len([f for f in self.findings if f.startswith("readiness")])
        return (
            f"FUZZ-E2E {'PASS' if self.ok else 'FAIL'}: {self.events} odd events ({fine}; "
            f"{bad}), {self.normal_posted}/{self.normal} normal jobs posted, max lag "
            f"{self.max_lag}, {lag}, readiness: {self.polls} polls, {self.not_ready} not ready, "
            f"{problems} problems; {self.seconds:.0f} s, seed {self.seed}"
        )

    def details(self, limit: int = 60) -> str:
        shown = self.findings[:limit]
        more = len(self.findings) - len(shown)
        return "\n".join([*shown, *([f"... and {more} more"] if more else [])])


def judge(seen: Observed) -> Verdict:
    """The run's verdict: what each odd event came to, whether normal jobs were posted,
    whether any group stalled, whether readiness told the truth."""
    outcomes: Counter[Outcome] = Counter()
    findings: list[str] = []
    offending: list[tuple[int, str]] = []
    order = list(Outcome)
    letter_kinds: Counter[str] = Counter()
    for event in seen.events:
        trace = seen.traces.get(event.case, Trace(Edge("error", "never sent")))
        outcome, detail = judge_event(trace)
        outcomes[outcome] += 1
        for letter in trace.letters[:1]:
            head = letter.reason.split(":", 1)[0][:60]
            letter_kinds[f"{letter.topic} ({letter.group}): {head}"] += 1
        if outcome not in FINE:
            line = f"{outcome.value}: {event.describe()} — {detail[:200]}"
            offending.append((order.index(outcome), line))
    posted = [j for j, s in seen.normal.items() if s.count("posted") >= PLATFORMS_PER_JOB]
    unposted = sorted(set(seen.normal) - set(posted))
    if unposted:
        shown = "; ".join(f"{j} {sorted(seen.normal[j])}" for j in unposted[:5])
        findings.append(f"normal jobs not posted: {len(unposted)}/{len(seen.normal)} ({shown})")
    findings += [f"normal job dead-lettered: {letter}" for letter in seen.normal_letters]
    stalled = {g: n for g, n in seen.final_lag.items() if n > 0}
    findings += [
        f"stalled: group {g} ({owner(g)}) still {n} behind" for g, n in sorted(stalled.items())
    ]
    if not seen.final_lag:
        findings.append("lag: no consumer group was measured at the end")
    findings += _readiness_findings(seen, stalled)
    # Last, worst first: the pipeline-wide findings lead the report.
    findings += [line for _, line in sorted(offending, key=lambda pair: pair[0])]
    max_lag = max((sum(s.values()) for s in seen.lag_samples), default=0)
    return Verdict(
        events=len(seen.events), outcomes=outcomes, normal=len(seen.normal),
        normal_posted=len(posted), max_lag=max_lag, lag_zero_after=seen.lag_zero_after,
        stalled=stalled, polls=len(seen.ready_samples),
        not_ready=sum(s.ready is False for s in seen.ready_samples), findings=findings,
        seconds=seen.seconds, seed=seen.seed, letter_kinds=letter_kinds,
    )  # fmt: skip


def _readiness_findings(seen: Observed, stalled: dict[str, int]) -> list[str]:
    found: list[str] = []
    silent = Counter(s.service for s in seen.ready_samples if s.ready is False and not s.reason)
    found += [f"readiness: {name} said not ready without a reason {n} times"
              for name, n in sorted(silent.items())]  # fmt: skip
    down = Counter(s.service for s in seen.ready_samples if s.down)
    found += [f"readiness: {name} refused connections {n} times (process down)"
              for name, n in sorted(down.items())]  # fmt: skip
    if not seen.final_ready:
        found.append("readiness: not polled at the end")
    for name, sample in sorted(seen.final_ready.items()):
        if not sample.ready:
            found.append(f"readiness: {name} not ready at the end ({sample.reason or 'no reason'})")
    for group in sorted(stalled):
        at_end = seen.final_ready.get(owner(group))
        if at_end is not None and at_end.ready:
            found.append(f"readiness: {owner(group)} said ready while {group} was stalled")
    return found


# -- the run (I/O) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class E2EPlan:
    events: int = 300
    normal: int = 30
    seed: int = 0
    concurrency: int = 8  # HTTP requests in flight
    normal_batch: int = 5
    settle_seconds: float = 90.0  # after the last send, for everything to come to rest
    quiet_seconds: float = 30.0  # ... unless nothing moved for this long (a stall)
    ready_every: float = 1.0
    lag_every: float = 3.0


@dataclass
class Party:
    tenant_id: uuid.UUID
    auth: dict[str, str]


async def _party(pool: asyncpg.Pool, endpoints: Endpoints) -> Party:
    auth, accounts = await helpers.new_tenant(pool, endpoints)
    tenant_id = await pool.fetchval(
        "SELECT tenant_id FROM distributor.connections WHERE account_id = $1",
        next(iter(accounts.values())),
    )
    return Party(tenant_id, auth)


class Monitor:
    """Polls readiness and consumer lag, and collects dead letters, while the run goes."""

    def __init__(self, endpoints: Endpoints, plan: E2EPlan, run: str) -> None:
        self.endpoints = endpoints
        self.plan = plan
        self.run = run
        self.ready_samples: list[ReadySample] = []
        self.lag_samples: list[dict[str, int]] = []
        self.lag_errors: list[str] = []
        self.letters: dict[int, list[Letter]] = {}
        self.normal_letters: list[str] = []
        self.stop = asyncio.Event()
        self._normal_re = re.compile(rb"n" + run.encode() + rb"-\d{5}")

    async def readiness(self, http: httpx.AsyncClient) -> dict[str, ReadySample]:
        answers = await asyncio.gather(*(self._ready(http, name) for name in SERVICES))
        return {a.service: a for a in answers}

    async def _ready(self, http: httpx.AsyncClient, name: str) -> ReadySample:
        try:
            response = await http.get(f"{self.endpoints.url(name)}/readyz", timeout=5.0)
        except httpx.ConnectError:
            return ReadySample(name, None, "connection refused", down=True)
        except httpx.HTTPError as exc:
            return ReadySample(name, None, type(exc).__name__)
        try:
            body = response.json()
        except ValueError:
            body = {}
        reason = ""
        if isinstance(body, dict):
            failed = body.get("failed") or body.get("reason") or body.get("reasons") or ""
            reason = ", ".join(map(str, failed)) if isinstance(failed, list) else str(failed)
        return ReadySample(name, response.status_code == 200, reason)

    async def poll_readiness(self) -> None:
        async with httpx.AsyncClient() as http:
            while not self.stop.is_set():
                self.ready_samples += (await self.readiness(http)).values()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.plan.ready_every)

    async def poll_lag(self) -> None:
        while not self.stop.is_set():
            try:
                self.lag_samples.append(await group_lag(self.endpoints.kafka_bootstrap_servers))
            except (KafkaError, OSError, TimeoutError) as exc:
                self.lag_errors.append(repr(exc)[:200])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.plan.lag_every)

    async def collect_letters(self, since: dict[TopicPartition, int]) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.endpoints.kafka_bootstrap_servers,
            fetch_max_bytes=16 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
        )  # fmt: skip
        await consumer.start()
        try:
            consumer.assign(list(since))
            for partition, offset in since.items():
                consumer.seek(partition, offset)
            while not self.stop.is_set():
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        self._letter(record)
            # Whatever arrived up to now, too.
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    self._letter(record)
        finally:
            await consumer.stop()

    def _letter(self, record: Any) -> None:
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers or ()}
        letter = Letter(record.topic, headers.get(h.DLQ_GROUP, ""), headers.get(h.DLQ_REASON, ""))
        cases = cases_in(record.value or b"", self.run)
        if headers.get(RUN_HEADER) == self.run and headers.get(CASE_HEADER, "").isdigit():
            cases.add(int(headers[CASE_HEADER]))
        for case in cases:
            self.letters.setdefault(case, []).append(letter)
        for job in set(self._normal_re.findall(record.value or b"")):
            self.normal_letters.append(f"{job.decode()} in {record.topic}: {letter.reason[:120]}")


async def group_lag(bootstrap: str) -> dict[str, int]:
    """Records behind per consumer group, over every partition of every topic it commits
    on (a partition it never committed counts from the log start)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = [str(g[0]) for g in await admin.list_consumer_groups()]
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: m.offset for tp, m in offsets.items() if m.offset >= 0}
        topics = sorted({tp.topic for c in committed.values() for tp in c})
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [
        TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
    ]
    if not partitions:
        return dict.fromkeys(committed, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    lag: dict[str, int] = {}
    for group, offsets in committed.items():
        mine = {tp.topic for tp in offsets}
        lag[group] = sum(
            max(0, ends[tp] - offsets.get(tp, starts[tp])) for tp in partitions if tp.topic in mine
        )
    return lag


class Sender:
    """Sends the odd events and the normal jobs, interleaved, and notes each edge answer."""

    def __init__(
        self, endpoints: Endpoints, plan: E2EPlan, odd: Party, normal: Party, run: str
    ) -> None:
        self.endpoints = endpoints
        self.plan = plan
        self.odd = odd
        self.normal = normal
        self.run = run
        self.edges: dict[int, Edge] = {}
        self.normal_problems: list[str] = []
        self._slots = asyncio.Semaphore(plan.concurrency)
        self._tasks: list[asyncio.Task[None]] = []

    def normal_ids(self) -> list[str]:
        return [f"n{self.run}-{n:05d}" for n in range(self.plan.normal)]

    async def send_all(self, events: Sequence[OddEvent]) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.endpoints.kafka_bootstrap_servers,
            max_request_size=16 * 1024 * 1024, acks="all", linger_ms=5,
        )  # fmt: skip
        await producer.start()
        try:
            async with httpx.AsyncClient(timeout=60) as http:
                for step in interleave(events, self.normal_ids(), self.plan.normal_batch):
                    if isinstance(step, NormalBatch):
                        await self._spawn(self._normal(http, producer, step.jobs))
                    elif isinstance(step, OddBatch):
                        await self._spawn(self._batch(http, step.events))
                    elif step.route is Route.INCOMING:
                        await self._spawn(self._record(producer, step))
                    else:
                        await self._spawn(self._single(http, step))
                await asyncio.gather(*self._tasks)
        finally:
            await producer.stop()

    async def _spawn(self, work: Any) -> None:
        await self._slots.acquire()

        async def run() -> None:
            try:
                await work
            finally:
                self._slots.release()

        self._tasks.append(asyncio.create_task(run()))

    async def _post(self, http: httpx.AsyncClient, body: bytes, auth: dict[str, str]) -> Any:
        url = f"{self.endpoints.url('ingest')}/v1/job-events"
        headers = {**auth, "Content-Type": "application/json"}
        for _ in range(30):
            response = await http.post(url, content=body, headers=headers)
            if response.status_code != 429:
                return response
            await asyncio.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
        return response

    async def _single(self, http: httpx.AsyncClient, event: OddEvent) -> None:
        try:
            response = await self._post(http, event.body, self.odd.auth)
        except httpx.HTTPError as exc:
            self.edges[event.case] = Edge("error", f"HTTP {type(exc).__name__}")
            return
        if response.status_code == 202:
            status = response.json()["results"][0]["status"]
            self.edges[event.case] = _outcome_edge(status, response.json()["results"][0])
        else:
            self.edges[event.case] = _status_edge(response)

    async def _batch(self, http: httpx.AsyncClient, events: list[OddEvent]) -> None:
        body = b'{"events":[' + b",".join(e.body for e in events) + b"]}"
        try:
            response = await self._post(http, body, self.odd.auth)
        except httpx.HTTPError as exc:
            for event in events:
                self.edges[event.case] = Edge("error", f"HTTP {type(exc).__name__} (batch)")
            return
        if response.status_code != 202:
            for event in events:
                self.edges[event.case] = _status_edge(response, batch=True)
            return
        for event, result in zip(events, response.json()["results"], strict=True):
            self.edges[event.case] = _outcome_edge(result["status"], result)

    async def _record(self, producer: AIOKafkaProducer, event: OddEvent) -> None:
        try:
            await producer.send_and_wait(
                JOBS_INCOMING, event.body, key=event.tag.encode(), headers=list(event.headers)
            )
        except MessageSizeTooLargeError:
            self.edges[event.case] = Edge("refused", "the broker refused a record too large")
            return
        except (KafkaError, ValueError, TypeError) as exc:
            self.edges[event.case] = Edge("error", f"producer: {type(exc).__name__}: {exc}"[:200])
            return
        self.edges[event.case] = Edge("accepted", "on jobs.incoming")

    async def _normal(
        self, http: httpx.AsyncClient, producer: AIOKafkaProducer, jobs: list[str]
    ) -> None:
        """Normal jobs must get in: over HTTP in a batch, or raw on `jobs.incoming`."""
        events = [
            {**helpers.job_event(job), "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, job))}
            for job in jobs
        ]
        if int(jobs[0].rsplit("-", 1)[1]) // self.plan.normal_batch % 2:
            now = datetime.now(UTC).isoformat()
            for event in events:
                upstream = {**event, "tenant_id": str(self.normal.tenant_id),
                            "schema_version": 1, "occurred_at": now}  # fmt: skip
                key = event["payload"]["job_id"].encode()
                try:
                    await producer.send_and_wait(
                        JOBS_INCOMING, json.dumps(upstream).encode(), key=key
                    )
                except KafkaError as exc:
                    self.normal_problems.append(f"normal job not sent to jobs.incoming: {exc!r}")
            return
        body = json.dumps({"events": events}).encode()
        for attempt in range(5):
            try:
                response = await self._post(http, body, self.normal.auth)
                if response.status_code == 202:
                    return
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                problem = f"HTTP {type(exc).__name__}"
            await asyncio.sleep(0.5 * (attempt + 1))
        self.normal_problems.append(f"normal jobs {jobs[0]}.. refused by ingest: {problem}")


def _outcome_edge(status: str, result: dict[str, Any]) -> Edge:
    if status == "rejected":
        fields = ", ".join(str(e.get("field", "")) for e in result.get("errors", []))[:160]
        return Edge("refused", f"rejected ({fields})")
    if status == "duplicate":  # its event id was accepted before: published once, not again
        return Edge("refused", "a repeated event id (deduplicated)")
    return Edge("accepted", status)


def _status_edge(response: httpx.Response, *, batch: bool = False) -> Edge:
    where = " (batch)" if batch else ""
    if 400 <= response.status_code < 500:
        return Edge("refused", f"HTTP {response.status_code}{where}")
    return Edge("error", f"HTTP {response.status_code}{where}: {response.text[:120]}")


@dataclass(frozen=True)
class NormalBatch:
    jobs: list[str]


@dataclass(frozen=True)
class OddBatch:
    events: list[OddEvent]


Step = OddEvent | OddBatch | NormalBatch


def interleave(events: Sequence[OddEvent], normal: list[str], batch: int) -> list[Step]:
    """Sending order: odd events in case order (batched ones grouped, ≤ 20 a request),
    with a batch of normal jobs after every share of them."""
    steps: list[Step] = []
    pending: list[OddEvent] = []
    chunks = [NormalBatch(normal[i : i + batch]) for i in range(0, len(normal), batch)]
    every = max(1, len(events) // max(1, len(chunks)))
    for n, event in enumerate(events):
        if event.route is Route.HTTP_BATCH:
            pending.append(event)
            if len(pending) == ODD_BATCH:
                steps.append(OddBatch(pending))
                pending = []
        else:
            steps.append(event)
        if n % every == every - 1 and chunks:
            steps.append(chunks.pop(0))
    if pending:
        steps.append(OddBatch(pending))
    steps.extend(chunks)
    return steps


async def _traces(
    pool: asyncpg.Pool, run: str, *, odd: Party, events: Sequence[OddEvent], sender: Sender,
    monitor: Monitor,
) -> dict[int, Trace]:  # fmt: skip
    jobs = await pool.fetch(
        "SELECT job_id FROM distributor.jobs WHERE tenant_id = $1", odd.tenant_id
    )
    plans = await pool.fetch(
        """SELECT job_id, CASE WHEN state = 'scheduled' AND due_at > now() + interval '1 minute'
                               THEN 'later' ELSE state END AS state
           FROM distributor.posts WHERE tenant_id = $1 AND action = 'publish'""",
        odd.tenant_id,
    )
    rows = await pool.fetch(
        """SELECT job_id, status, coalesce(error_class, '') || ' ' || coalesce(error_message, '')
                  AS reason
           FROM metrics.job_posts WHERE tenant_id = $1 AND action = 'publish'""",
        odd.tenant_id,
    )
    traces = {
        e.case: Trace(sender.edges.get(e.case, Edge("error", "no answer")),
                      list(monitor.letters.get(e.case, ())))
        for e in events
    }  # fmt: skip

    def case_of(job_id: str) -> int | None:
        found = cases_in(job_id.encode(), run)
        return next(iter(found)) if found else None

    for row in jobs:
        if (case := case_of(row["job_id"])) in traces:
            traces[case].known = True
    for row in plans:
        if (case := case_of(row["job_id"])) in traces:
            traces[case].planned.append(row["state"])
    for row in rows:
        if (case := case_of(row["job_id"])) in traces:
            traces[case].results.append((row["status"], row["reason"].strip()))
    return traces


async def _normal_statuses(
    pool: asyncpg.Pool, party: Party, ids: list[str]
) -> dict[str, list[str]]:
    rows = await pool.fetch(
        "SELECT job_id, status FROM metrics.job_posts"
        " WHERE tenant_id = $1 AND action = 'publish' AND job_id = ANY($2::text[])",
        party.tenant_id, ids,
    )  # fmt: skip
    found: dict[str, list[str]] = {job: [] for job in ids}
    for row in rows:
        found[row["job_id"]].append(row["status"])
    return found


async def run_campaign(plan: E2EPlan, endpoints: Endpoints, database_url: str) -> Verdict:
    """Generate, send, watch, settle, judge — against a started pipeline."""
    started = time.monotonic()
    run = uuid.uuid4().hex[:6]
    pool = await create_pool(database_url, max_size=4)
    try:
        odd, normal = await _party(pool, endpoints), await _party(pool, endpoints)
        campaign = Campaign(plan.events, plan.seed, run, odd.tenant_id)
        events = await asyncio.to_thread(generate, campaign)
        print(f"fuzz-e2e: {len(events)} odd events {campaign.stats}, seed {plan.seed}, run {run}")
        bootstrap = endpoints.kafka_bootstrap_servers
        dlqs = [dead_letter_topic(spec.name) for spec in CONSUMED]
        since = await log_ends(bootstrap, await topic_partitions(bootstrap, dlqs))
        monitor = Monitor(endpoints, plan, run)
        watching = [
            asyncio.create_task(monitor.poll_readiness()),
            asyncio.create_task(monitor.poll_lag()),
            asyncio.create_task(monitor.collect_letters(since)),
        ]
        sender = Sender(endpoints, plan, odd, normal, run)
        await sender.send_all(events)
        sent_at = time.monotonic()
        print(f"fuzz-e2e: sent in {sent_at - started:.0f} s; settling")
        traces, statuses, lag, zero_after = await _settle(
            pool, plan, run=run, odd=odd, normal=normal, events=events, sender=sender,
            monitor=monitor, sent_at=sent_at,
        )  # fmt: skip
        async with httpx.AsyncClient() as http:
            final_ready = await monitor.readiness(http)
        monitor.stop.set()
        await asyncio.gather(*watching, return_exceptions=True)
        traces = await _traces(pool, run, odd=odd, events=events, sender=sender, monitor=monitor)
        seen = Observed(
            events=events, traces=traces, normal=statuses,
            normal_letters=monitor.normal_letters + sender.normal_problems,
            lag_samples=monitor.lag_samples, final_lag=lag, lag_zero_after=zero_after,
            ready_samples=monitor.ready_samples, final_ready=final_ready,
            seconds=time.monotonic() - started, seed=plan.seed,
        )  # fmt: skip
        return judge(seen)
    finally:
        await pool.close()


async def _settle(
    pool: asyncpg.Pool, plan: E2EPlan, *, run: str, odd: Party, normal: Party,
    events: Sequence[OddEvent], sender: Sender, monitor: Monitor, sent_at: float,
) -> tuple[dict[int, Trace], dict[str, list[str]], dict[str, int], float | None]:  # fmt: skip
    """Until every odd event is at rest, every normal job posted and every group at lag 0,
    or the settle window is over, or nothing moved for `quiet_seconds` (a stall: waiting
    longer only makes the run longer); the last look at each."""
    deadline = sent_at + plan.settle_seconds
    last_report = 0.0
    last_state: object = None
    last_change = time.monotonic()
    bootstrap = sender.endpoints.kafka_bootstrap_servers
    while True:
        traces = await _traces(pool, run, odd=odd, events=events, sender=sender, monitor=monitor)
        statuses = await _normal_statuses(pool, normal, sender.normal_ids())
        try:
            lag = await group_lag(bootstrap)
        except (KafkaError, OSError, TimeoutError) as exc:
            monitor.lag_errors.append(repr(exc)[:200])
            lag = {}
        zero = bool(lag) and not any(lag.values())
        moving = Counter(
            o
            for o, _ in map(judge_event, traces.values())
            if o in (Outcome.STUCK, Outcome.UNHANDLED)
        )
        waiting = sum(s.count("posted") < PLATFORMS_PER_JOB for s in statuses.values())
        now = time.monotonic()
        if zero and not moving and not waiting:
            return traces, statuses, lag, now - sent_at
        state = (sorted(lag.items()), sorted(moving.items()), waiting)
        if state != last_state:
            last_state, last_change = state, now
        if now >= deadline or now - last_change >= plan.quiet_seconds:
            return traces, statuses, lag, None
        if now - last_report > 15:
            last_report = now
            behind = {g: n for g, n in lag.items() if n}
            print(
                f"fuzz-e2e: waiting: {dict(moving)} odd, {waiting} normal jobs, lag {behind}"
                + (f" (last lag error: {monitor.lag_errors[-1]})" if monitor.lag_errors else "")
            )
        await asyncio.sleep(2.0)


def run_private(plan: E2EPlan) -> Verdict:
    """A private Kafka + Postgres and pipeline (odd events may wedge consumers: nobody
    else's tests should be stuck behind them), the campaign on it, the verdict."""
    with own_stack(env=STACK_ENV, prefix="jobcast-fuzz-e2e-") as (infra, pipeline):
        return run_async(run_campaign(plan, pipeline.endpoints, infra.database_url))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--normal", type=int, default=500)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--settle-seconds", type=float, default=600.0)
    parser.add_argument("--quiet-seconds", type=float, default=120.0)
    args = parser.parse_args()
    plan = E2EPlan(
        events=args.events, normal=args.normal, seed=args.seed,
        settle_seconds=args.settle_seconds, quiet_seconds=args.quiet_seconds,
    )  # fmt: skip
    print(f"fuzz-e2e: {plan}")
    verdict = run_private(plan)
    print(verdict.line())
    for kind, count in verdict.letter_kinds.most_common(12):
        print(f"  dead-lettered {count:>5}  {kind}")
    if not verdict.ok:
        print(verdict.details())
    raise SystemExit(0 if verdict.ok else 1)


if __name__ == "__main__":
    main()
