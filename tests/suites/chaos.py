"""Chaos: jobs flow through the pipeline while its parts are killed, restarted and failed.

A driver SIGKILLs a random service every few seconds and restarts it, restarts the broker
once and Postgres once, and the Graph sandbox injects timeouts, 5xx answers that still
posted, and rate limits. Afterwards every (job, connection) must have exactly one post on
the platform (the sandbox ledger) or an explicit terminal status that says why, with no
duplicate and no job missing from the read model.

`make chaos` runs the issue's scale (10,000 jobs, 2 tenants, 200 connections); the quick
version is `tests/integration/test_chaos.py`. Both print one verdict line.

    python -m tests.suites.chaos --jobs 10000 --connections 200 [--seed N] [--replay]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from pydantic import SecretStr

from jobcast.crypto import TokenCipher
from jobcast.db import create_pool
from jobcast.graph.hosts import LoginKind
from jobcast.linkedin.little_text import unescape
from jobcast.tenancy import create_tenant, migrate_tenancy
from schemas import Platform
from services.distributor.repo import add_connection, migrate_distributor, set_connection_status
from tests.integration import helpers
from tests.suites.lifecycle import (
    AT_REST,
    Fate,
    PairRows,
    fate_of,
    follow_up_event,
    judge_follow_up,
    unsettled,
)
from tests.suites.replay import ReplayVerdict, replay_everything
from tests.suites.stack import SERVICE_NAMES, OwnInfra, Pipeline, own_stack, run_async

# Where a post is at rest: it is on the platform, or the read model says why not.
TERMINAL = frozenset({"posted", "failed", "skipped", "unconfirmed"})
NOT_POSTED_TERMINAL = frozenset({"failed", "skipped", "unconfirmed"})
JOB_ID_RE = re.compile(r"chaos-[0-9a-f]{8}-\d{6}")


@dataclass(frozen=True)
class Surface:
    """One platform in the sandbox: its ledger list and text field, the operation that
    makes a post, all of its operations, and its account rate-limit code."""

    ledger: str
    text: str
    publish: str
    every: str
    account_rate_limit: int


SURFACES = {
    Platform.FACEBOOK: Surface("fb_posts", "message", "fb.*", "fb.*", 80001),
    Platform.INSTAGRAM: Surface("ig_media", "caption", "ig.media_publish", "ig.*", 80002),
    Platform.THREADS: Surface("threads_media", "text", "threads.publish", "threads.*", 17),
    # LinkedIn's ledger is its own (/_sandbox/linkedin/ledger); its rate limit is a 429.
    Platform.LINKEDIN: Surface("posts", "commentary", "li.posts.create", "li.*", 429),
}


@dataclass(frozen=True)
class ChaosPlan:
    jobs: int = 300
    tenants: int = 2
    connections: int = 20  # in all: split over the tenants, in turn over the platforms
    platforms: tuple[Platform, ...] = (
        Platform.FACEBOOK, Platform.INSTAGRAM, Platform.THREADS, Platform.LINKEDIN,
    )  # fmt: skip
    # Per tenant: connections that need reconnecting (planned, skipped with the reason) and
    # disabled ones (not planned at all: no post, no row).
    needs_reconnect_per_tenant: int = 1
    disabled_per_tenant: int = 1
    batch: int = 25  # jobs per ingest request
    # The lifecycle: every `update_every`th job is updated and every `close_every`th of
    # the rest closed, within `follow_up_within` seconds of its creation being accepted.
    update_every: int = 5
    close_every: int = 7
    follow_up_within: float = 3.0
    submit_seconds: float = 20.0  # submissions are spread over this long
    chaos_seconds: float = 45.0  # kills, restarts and faults stop after this long
    kill_every: tuple[float, float] = (2.0, 5.0)  # pause between kill-and-restart rounds
    min_kills: int = 5  # the window is stretched until this many (a slow machine restarts slowly)
    broker_restart_at: float = 0.3  # share of the chaos window
    postgres_restart_at: float = 0.6
    fault_every: float = 0.7  # seconds between injected faults
    # Rate limits stop early: Meta's 80001/80002 and app-level code 4 hold an account (or
    # the whole app) for at least a minute. Without `long_rate_limits` only the codes that
    # name no regain time are used (held for PUBLISH_RATE_LIMIT_BLOCK_SECONDS).
    rate_limits_until: float = 0.5  # share of the chaos window
    long_rate_limits: bool = False
    settle_seconds: float = 180.0  # after chaos, how long everything may take to finish
    seed: int = 0


@dataclass(frozen=True)
class Connection:
    connection_id: UUID
    platform: Platform
    account_id: str
    status: str  # active, needs_reconnect or disabled

    @property
    def enabled(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Tenant:
    tenant_id: UUID
    api_key: str
    connections: list[Connection]


@dataclass
class ChaosLog:
    """What the driver did to the pipeline."""

    kills: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)  # died without being killed
    broker_restarts: int = 0
    postgres_restarts: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    failed_starts: Counter[str] = field(default_factory=Counter)
    submit_retries: int = 0
    submitted: int = 0
    restart_seconds: list[float] = field(default_factory=list)


@dataclass
class Verdict:
    jobs: int
    tenants: int
    connections: int
    enabled: int
    expected: int  # (job, connection) pairs
    outcomes: Counter[str]
    on_platform: int
    duplicates: list[str]
    missing: list[str]  # pairs with no read-model row
    jobs_missing: list[str]  # jobs with no read-model row at all
    inconsistent: list[str]  # ledger and read model disagree, or no reason given
    follow_ups: Counter[Fate]  # jobs updated or closed after their creation
    changes: Counter[str]  # how their edits and deletes ended ("edit edited": n)
    chaos: ChaosLog
    seconds: float
    tenants_used: list[Tenant] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.missing or self.jobs_missing or self.inconsistent)

    def line(self) -> str:
        c = self.chaos
        outcome = ", ".join(f"{n} {s}" for s, n in sorted(self.outcomes.items()))
        changes = ", ".join(f"{n} {s}" for s, n in sorted(self.changes.items())) or "no edits"
        return (
            f"CHAOS {'PASS' if self.ok else 'FAIL'}: {self.jobs} jobs, {self.tenants} tenants, "
            f"{self.connections} connections ({self.enabled} active), "
            f"{self.follow_ups[Fate.UPDATED]} updated and {self.follow_ups[Fate.CLOSED]} closed"
            f" → {self.expected} posts: "
            f"{outcome}; {changes}; {self.on_platform} on the platform; "
            f"{len(self.duplicates)} duplicates, {len(self.jobs_missing)} jobs and "
            f"{len(self.missing)} posts missing from the read model, "
            f"{len(self.inconsistent)} inconsistent; chaos: {c.kills.total()} kills, "
            f"{c.crashes.total()} crashes, {c.broker_restarts} broker and "
            f"{c.postgres_restarts} Postgres restarts, {c.faults.total()} faults, "
            f"{c.submit_retries} ingest retries; {self.seconds:.0f} s"
        )

    def details(self, limit: int = 10) -> str:
        parts = []
        for name in ("duplicates", "missing", "jobs_missing", "inconsistent"):
            items: list[str] = getattr(self, name)
            if items:
                parts.append(f"{name} ({len(items)}): " + "; ".join(items[:limit]))
        c = self.chaos
        parts.append(f"kills {dict(c.kills)}, crashes {dict(c.crashes)}, faults {dict(c.faults)}")
        return "\n".join(parts)


def job_ids(run_id: str, plan: ChaosPlan) -> list[str]:
    return [f"chaos-{run_id}-{n:06d}" for n in range(plan.jobs)]


def fate(job_id: str, plan: ChaosPlan) -> Fate:
    return fate_of(int(job_id.rsplit("-", 1)[1]), plan.update_every, plan.close_every)


def batches_of(ids: list[str], plan: ChaosPlan) -> list[tuple[int, list[str]]]:
    """The ingest requests: (tenant index, job ids), tenants taking turns."""
    chunks = [ids[i : i + plan.batch] for i in range(0, len(ids), plan.batch)]
    return [(n % plan.tenants, chunk) for n, chunk in enumerate(chunks)]


def job_event(job_id: str) -> dict[str, Any]:
    # Our own event id: a request retried after a timeout or a kill is a duplicate, not new.
    return {**helpers.job_event(job_id), "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, job_id))}


async def setup_tenants(pool: asyncpg.Pool, secret_key: str, plan: ChaosPlan) -> list[Tenant]:
    """Tenants with connections, a few of each tenant's not active."""
    await migrate_tenancy(pool)
    await migrate_distributor(pool)
    cipher = TokenCipher(SecretStr(secret_key))
    tenants = []
    per_tenant = max(2, plan.connections // plan.tenants)
    for t in range(plan.tenants):
        tenant, api_key = await create_tenant(pool, f"chaos-{t}-{uuid.uuid4().hex[:6]}")
        connections = []
        for n in range(per_tenant):
            platform = plan.platforms[n % len(plan.platforms)]
            account_id = account_id_for(platform, t, n)
            stored = await add_connection(
                pool, cipher, tenant_id=tenant.tenant_id, platform=platform,
                account_id=account_id, token=f"token-{account_id}",
                login=helpers.LOGINS.get(platform, LoginKind.FACEBOOK),
            )  # fmt: skip
            status = "active"
            if n < plan.needs_reconnect_per_tenant:
                status = "needs_reconnect"
            elif n < plan.needs_reconnect_per_tenant + plan.disabled_per_tenant:
                status = "disabled"
            if status != "active":
                await set_connection_status(pool, stored.connection_id, tenant.tenant_id, status)
            connections.append(Connection(stored.connection_id, platform, account_id, status))
        tenants.append(Tenant(tenant.tenant_id, api_key, connections))
    return tenants


def account_id_for(platform: Platform, tenant: int, n: int) -> str:
    """A fresh account id on `platform` (a LinkedIn organization's is a number)."""
    if platform is Platform.LINKEDIN:
        return f"9{tenant}{n:04d}{uuid.uuid4().int % 10**8:08d}"
    return f"{platform.value[:2]}{tenant}{n:04d}{uuid.uuid4().hex[:6]}"


class Driver:
    """Submits the jobs and breaks things while they flow."""

    def __init__(
        self, plan: ChaosPlan, infra: OwnInfra, pipeline: Pipeline, tenants: list[Tenant]
    ) -> None:
        self.plan = plan
        self.infra = infra
        self.pipeline = pipeline
        self.tenants = tenants
        self.log = ChaosLog()
        self.random = random.Random(plan.seed)
        self.accounts = [c for t in tenants for c in t.connections if c.enabled]

    async def submit(self, ids: list[str]) -> None:
        """Post every job through ingest, paced over `submit_seconds`; retry until accepted."""
        url = f"{self.pipeline.url('ingest')}/v1/job-events"
        batches = batches_of(ids, self.plan)
        interval = self.plan.submit_seconds / max(1, len(batches))
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with httpx.AsyncClient(timeout=10) as http:
            sends = []
            for n, (tenant, batch) in enumerate(batches):
                await asyncio.sleep(max(0.0, start + n * interval - loop.time()))
                sends.append(
                    asyncio.create_task(self._send(http, url, self.tenants[tenant], batch))
                )
            await asyncio.gather(*sends)

    async def _send(
        self, http: httpx.AsyncClient, url: str, tenant: Tenant, batch: list[str]
    ) -> None:
        """The batch's creations, then (after a moment) its updates and closures."""
        await self._post(http, url, tenant, [job_event(job_id) for job_id in batch])
        self.log.submitted += len(batch)
        fates = {job_id: fate(job_id, self.plan) for job_id in batch}
        follow_ups = [
            follow_up_event(job_id, job_fate)
            for job_id, job_fate in fates.items()
            if job_fate is not Fate.CREATED
        ]
        if follow_ups:
            await asyncio.sleep(self.random.uniform(0.0, self.plan.follow_up_within))
            await self._post(http, url, tenant, follow_ups)

    async def _post(
        self, http: httpx.AsyncClient, url: str, tenant: Tenant, events: list[dict[str, Any]]
    ) -> None:
        """Until ingest accepts them all (repeats of accepted events count as accepted)."""
        body = {"events": events}
        headers = {"Authorization": f"Bearer {tenant.api_key}"}
        delay = 0.2
        while True:
            with contextlib.suppress(httpx.HTTPError):
                response = await http.post(url, json=body, headers=headers)
                if response.status_code == 202:
                    accepted = response.json()["accepted"]
                    assert len(accepted) == len(events), response.text
                    return
            # Ingest killed, the broker or Postgres restarting: the same events again.
            self.log.submit_retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def break_things(self, until: float) -> None:
        """Kill a random service every few seconds (it restarts on its own time, like under
        a supervisor) and restart the broker and Postgres once each, until `until`."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        broker_at = start + (until - start) * self.plan.broker_restart_at
        postgres_at = start + (until - start) * self.plan.postgres_restart_at
        coming_back: dict[str, asyncio.Task[None]] = {}
        while True:
            now = loop.time()
            if self.log.broker_restarts == 0 and now >= broker_at:
                await asyncio.to_thread(self.infra.restart_kafka)
                self.log.broker_restarts += 1
            elif self.log.postgres_restarts == 0 and now >= postgres_at:
                await asyncio.to_thread(self.infra.restart_postgres)
                self.log.postgres_restarts += 1
            elif now >= until and self.log.kills.total() >= self.plan.min_kills:
                break
            else:
                await self.revive_crashed(skip=coming_back)
                up = [n for n in SERVICE_NAMES if n not in coming_back]
                if up:
                    name = self.random.choice(up)
                    await asyncio.to_thread(self.pipeline.services[name].stop, kill=True)
                    self.log.kills[name] += 1
                    coming_back[name] = asyncio.create_task(self._bring_back(name, coming_back))
            await asyncio.sleep(self.random.uniform(*self.plan.kill_every))
        await asyncio.gather(*coming_back.values())

    async def _bring_back(self, name: str, coming_back: dict[str, asyncio.Task[None]]) -> None:
        started = time.monotonic()
        process = self.pipeline.services[name]
        url = f"{self.pipeline.url(name)}/readyz"
        try:
            while True:
                await asyncio.to_thread(process.start)
                try:
                    await asyncio.to_thread(process.wait_ready, url, 180.0)
                    break
                except RuntimeError:  # exited while starting (e.g. Postgres was down)
                    self.log.failed_starts[name] += 1
                    await asyncio.sleep(1.0)
            self.log.restart_seconds.append(time.monotonic() - started)
        finally:
            coming_back.pop(name, None)

    async def revive_crashed(self, skip: Collection[str] = ()) -> None:
        """A service that died without being killed is a finding: count it, restart it."""
        for name in self.pipeline.dead():
            if name in skip:
                continue
            self.log.crashes[name] += 1
            tail = self.pipeline.services[name].log_tail(15)
            print(f"chaos: {name} died without being killed:\n{tail}")
            await self._bring_back(name, {})

    async def inject_faults(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        rate_limits_until = loop.time() + (until - loop.time()) * self.plan.rate_limits_until
        async with httpx.AsyncClient(timeout=10) as http:
            while loop.time() < until:
                account = self.random.choice(self.accounts)
                kind, rule = self._fault(account, rate_limits=loop.time() < rate_limits_until)
                response = await http.post(
                    f"{self.pipeline.endpoints.graph_api_url}/_sandbox/faults",
                    json={"account_id": account.account_id, **rule},
                )
                response.raise_for_status()
                self.log.faults[kind] += 1
                await asyncio.sleep(self.plan.fault_every)
            await http.delete(f"{self.pipeline.endpoints.graph_api_url}/_sandbox/faults")

    def _fault(self, account: Connection, *, rate_limits: bool) -> tuple[str, dict[str, Any]]:
        surface = SURFACES[account.platform]
        publish = surface.publish
        kinds = ["timeout_after_create", "timeout", "500_after_create"]
        kind = self.random.choice([*kinds, "rate_limit"] if rate_limits else kinds)
        if kind == "timeout_after_create":  # the post exists; the publisher timed out
            return kind, {"action": "timeout", "after_create": True, "timeout_s": 2.5,
                          "operation": publish, "method": "POST"}  # fmt: skip
        if kind == "timeout":  # slow, then a 500 code 2: nothing was created
            return kind, {"action": "timeout", "timeout_s": 2.5, "operation": publish,
                          "method": "POST"}  # fmt: skip
        if kind == "500_after_create":  # "please retry" from a call that did post
            return kind, {"action": "http_500_after_create", "operation": publish,
                          "method": "POST"}  # fmt: skip
        if account.platform is Platform.LINKEDIN:  # a 429 that names no daily limit
            return f"{kind}_429", {"action": "error", "code": 429, "http_status": 429,
                      "message": "Too many requests", "operation": "li.*",
                      "times": self.random.randint(1, 3)}  # fmt: skip
        codes = [32, 613, 17]
        if self.plan.long_rate_limits:
            codes += [surface.account_rate_limit, 4]
        code = self.random.choice(codes)
        return f"{kind}_{code}", {"action": "error", "code": code,
                      "operation": surface.every,
                      "times": self.random.randint(1, 3)}  # fmt: skip


async def follow_ups_unapplied(
    pool: asyncpg.Pool, tenant_ids: list[UUID], fates: dict[str, Fate]
) -> int:
    """Updates and closes ingest accepted that the distributor has not applied yet: still
    in `jobs.events` (a distributor restarting), so their edits and deletes are not even
    planned, and nothing else shows them as on their way."""
    closed = [job for job, fate in fates.items() if fate is Fate.CLOSED]
    updated = [job for job, fate in fates.items() if fate is Fate.UPDATED]
    count = await pool.fetchval(
        """SELECT count(*) FROM unnest($2::text[], $3::bool[]) AS f(job_id, closes)
           WHERE NOT EXISTS (
               SELECT FROM distributor.jobs j
               WHERE j.tenant_id = ANY($1::uuid[]) AND j.job_id = f.job_id
                 AND (CASE WHEN f.closes THEN j.closed_at IS NOT NULL
                           ELSE j.revision >= 2 END))""",
        tenant_ids,
        closed + updated,
        [True] * len(closed) + [False] * len(updated),
    )
    return int(count)


async def wait_settled(
    pool: asyncpg.Pool,
    tenants: list[Tenant],
    expected: int,
    timeout: float,
    fates: dict[str, Fate],
) -> dict[str, int]:
    """Until every expected (job, connection) has a publish row at rest and nothing is on
    its way (lifecycle.unsettled: planned, claimed, or sent without a final row; and
    `fates`' updates and closes applied by the distributor)."""
    tenant_ids = [t.tenant_id for t in tenants]
    deadline = time.monotonic() + timeout
    last_report = 0.0
    statuses: dict[str, int] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            rows = await pool.fetch(
                "SELECT status, count(*) AS n FROM metrics.job_posts"
                " WHERE tenant_id = ANY($1::uuid[]) AND action = 'publish' GROUP BY status",
                tenant_ids,
            )
            statuses = {r["status"]: r["n"] for r in rows}
            rows_at_rest = sum(n for s, n in statuses.items() if s in AT_REST)
            # The exact checks read every row (a million in the full run): only once the
            # count of rows at rest (never below the pairs at rest) says it may be over.
            if rows_at_rest >= expected:
                at_rest = await pool.fetchval(
                    "SELECT count(DISTINCT (job_id, connection_id)) FROM metrics.job_posts"
                    " WHERE tenant_id = ANY($1::uuid[]) AND action = 'publish'"
                    " AND status = ANY($2::text[])",
                    tenant_ids,
                    sorted(AT_REST),
                )
                if (
                    at_rest >= expected
                    and await unsettled(pool, tenant_ids) == 0
                    and await follow_ups_unapplied(pool, tenant_ids, fates) == 0
                ):
                    return statuses
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                print(f"chaos: {rows_at_rest}/{expected} posts at rest, {statuses}")
        await asyncio.sleep(1.0 if expected < 100_000 else 5.0)  # a count over 1M rows costs
    return statuses


async def ledger_by_job(
    http: httpx.AsyncClient, sandbox: str, account: Connection
) -> dict[str, list[str]]:
    """The texts of each job's live posts on one account, per the sandbox."""
    surface = SURFACES[account.platform]
    kind = surface.ledger
    if account.platform is Platform.LINKEDIN:
        url, params = f"{sandbox}/_sandbox/linkedin/ledger", {
            "organization_id": account.account_id, "include_deleted": "false"}  # fmt: skip
    else:
        url, params = f"{sandbox}/_sandbox/ledger", {
            "account_id": account.account_id, "kind": kind, "include_deleted": "false"}  # fmt: skip
    response = await http.get(url, params=params)
    response.raise_for_status()
    found: dict[str, list[str]] = {}
    for item in response.json()[kind]:
        if item.get("reply_to_id"):
            continue  # a Threads reply is a comment, no post
        text = item.get(surface.text) or ""
        if account.platform is Platform.LINKEDIN:
            text = unescape(text)  # the commentary as sent is little text
        match = JOB_ID_RE.search(text)
        found.setdefault(match.group(0) if match else f"<unknown: {text[:40]!r}>", []).append(text)
    return found


def _judge(
    connection: Connection, row: asyncpg.Record, count: int, *, closed: bool = False
) -> str | None:
    """What is wrong with one post's outcome (None: on the platform once, or a reason).
    A closed job's post may be gone (deleted): lifecycle.judge_follow_up judges that."""
    status = row["status"]
    said_why = bool(row["error_message"] or row["error_class"])
    if connection.status == "needs_reconnect":
        return None if status == "skipped" and said_why and not count else f"{status}, {count}"
    # Cancelled is judged with the job's closure (lifecycle.judge_follow_up).
    if status not in TERMINAL and status != "cancelled":
        return f"still {status}"
    if status == "posted" and count != 1 and not closed:
        return f"read model says posted, the platform has {count}"
    if status in NOT_POSTED_TERMINAL and not said_why:
        return f"{status} without a reason"
    if status in ("failed", "skipped") and count:
        return f"{status}, but on the platform"
    return None


async def verify(
    pool: asyncpg.Pool,
    plan: ChaosPlan,
    *,
    sandbox: str,
    tenants: list[Tenant],
    batches: list[tuple[int, list[str]]],
    log: ChaosLog,
    started: float,
) -> Verdict:
    """Compare the platform (ledger), the read model and the plan, pair by pair."""
    rows = await pool.fetch(
        "SELECT job_id, connection_id, action, status, error_class, error_message"
        " FROM metrics.job_posts WHERE tenant_id = ANY($1::uuid[])",
        [t.tenant_id for t in tenants],
    )
    by_pair: dict[tuple[str, UUID], PairRows] = {}
    for r in rows:
        by_pair.setdefault((r["job_id"], r["connection_id"]), PairRows()).add(r)
    outcomes: Counter[str] = Counter()
    duplicates: list[str] = []
    missing: list[str] = []
    inconsistent: list[str] = []
    jobs_seen: set[str] = {r["job_id"] for r in rows if r["action"] == "publish"}
    on_platform = 0
    expected = 0
    ids = [job_id for _, batch in batches for job_id in batch]
    fates = Counter(fate(job_id, plan) for job_id in ids)
    async with httpx.AsyncClient(timeout=300) as http:
        for t_index, tenant in enumerate(tenants):
            mine = [job_id for t, batch in batches if t == t_index for job_id in batch]
            for connection in tenant.connections:
                posted = await ledger_by_job(http, sandbox, connection)
                on_platform += sum(len(texts) for texts in posted.values())
                strangers = set(posted) - set(mine)
                inconsistent += [f"{connection.account_id}: unexpected post {s}" for s in strangers]
                for job_id in mine:
                    where = f"{job_id} on {connection.platform.value} {connection.account_id}"
                    live = posted.get(job_id, [])
                    count = len(live)
                    pair = by_pair.get((job_id, connection.connection_id))
                    row, doubled = pair.current_publish() if pair else (None, None)
                    if count > 1:
                        duplicates.append(f"{where}: {count} posts")
                    if connection.status == "disabled":  # never planned: nothing at all
                        if row is not None or count:
                            inconsistent.append(f"{where}: disabled, yet {count} posts / a row")
                        continue
                    expected += 1
                    if row is None or pair is None:
                        missing.append(where)
                        continue
                    job_fate = fate(job_id, plan)
                    closed = job_fate is Fate.CLOSED
                    problem = doubled or _judge(connection, row, count, closed=closed)
                    if not problem and job_fate is not Fate.CREATED and connection.enabled:
                        problem = judge_follow_up(job_fate, connection.platform, row, pair, live)
                    outcomes[row["status"]] += 1
                    if problem:
                        inconsistent.append(f"{where} ({job_fate}): {problem}")
    return Verdict(
        jobs=len(ids),
        tenants=len(tenants),
        connections=sum(len(t.connections) for t in tenants),
        enabled=sum(c.enabled for t in tenants for c in t.connections),  # active ones
        expected=expected,
        outcomes=outcomes,
        on_platform=on_platform,
        duplicates=duplicates,
        missing=missing,
        jobs_missing=[j for j in ids if j not in jobs_seen],
        inconsistent=inconsistent,
        follow_ups=Counter({f: n for f, n in fates.items() if f is not Fate.CREATED}),
        changes=Counter(f"{r['action']} {r['status']}" for r in rows if r["action"] != "publish"),
        chaos=log,
        seconds=time.monotonic() - started,
        tenants_used=tenants,
    )


async def run_chaos_on(plan: ChaosPlan, infra: OwnInfra, pipeline: Pipeline) -> Verdict:
    """Run the plan against a started stack and judge the outcome."""
    started = time.monotonic()
    pool = await create_pool(infra.database_url, max_size=4)
    try:
        tenants = await setup_tenants(pool, pipeline.endpoints.secret_key, plan)
    finally:
        await pool.close()  # Postgres restarts under chaos; this pool would not survive it
    ids = job_ids(uuid.uuid4().hex[:8], plan)
    batches = batches_of(ids, plan)
    driver = Driver(plan, infra, pipeline, tenants)
    until = asyncio.get_running_loop().time() + plan.chaos_seconds
    submitting = asyncio.create_task(driver.submit(ids))
    await asyncio.gather(driver.break_things(until), driver.inject_faults(until))
    await submitting
    await driver.revive_crashed()
    expected = sum(
        len(batch) * sum(c.status != "disabled" for c in tenants[t].connections)
        for t, batch in batches
    )
    pool = await create_pool(infra.database_url, max_size=4)
    try:
        fates = {job_id: fate(job_id, plan) for job_id in ids}
        await wait_settled(pool, tenants, expected, plan.settle_seconds, fates)
        await driver.revive_crashed()
        return await verify(
            pool, plan, sandbox=pipeline.endpoints.graph_api_url, tenants=tenants, batches=batches,
            log=driver.log, started=started,
        )  # fmt: skip
    finally:
        await pool.close()


def run_chaos(plan: ChaosPlan) -> Verdict:
    """Start a private stack, run the plan on it, return the verdict."""
    with own_stack(prefix="jobcast-chaos-") as (infra, pipeline):
        return run_async(run_chaos_on(plan, infra, pipeline))


async def _replay_after(infra: OwnInfra, pipeline: Pipeline, verdict: Verdict) -> ReplayVerdict:
    pool = await create_pool(infra.database_url, max_size=4)
    try:
        accounts = [c.account_id for t in verdict.tenants_used for c in t.connections]
        return await replay_everything(pipeline, pool, accounts, timeout=3600)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--submit-seconds", type=float, default=300.0)
    parser.add_argument("--chaos-seconds", type=float, default=600.0)
    parser.add_argument("--settle-seconds", type=float, default=6 * 3600.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--replay", action="store_true", help="then rewind every group")
    args = parser.parse_args()
    plan = ChaosPlan(
        jobs=args.jobs, tenants=args.tenants, connections=args.connections,
        submit_seconds=args.submit_seconds, chaos_seconds=args.chaos_seconds,
        settle_seconds=args.settle_seconds, seed=args.seed,
    )  # fmt: skip
    print(f"chaos: {plan}")
    with own_stack(prefix="jobcast-chaos-") as (infra, pipeline):
        verdict = run_async(run_chaos_on(plan, infra, pipeline))
        print(verdict.line())
        if not verdict.ok:
            print(verdict.details())
        replayed = None
        if args.replay:  # the same history, every group rewound: nothing may change
            replayed = run_async(_replay_after(infra, pipeline, verdict))
            print(replayed.line())
            if not replayed.ok:
                print(replayed.details())
    raise SystemExit(0 if verdict.ok and (replayed is None or replayed.ok) else 1)


if __name__ == "__main__":
    main()
