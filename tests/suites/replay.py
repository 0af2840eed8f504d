"""Replay: rewind every consumer group to the earliest offset and let the pipeline run again.

The platform (the sandbox ledger) must not change and the read model must be identical,
row for row: every consumer is idempotent (docs/architecture.md, "Delivery"). The groups are rewound
with what `jobcast replay --group G --to-earliest` runs (`jobcast_cli.replay.reset_group`),
which refuses a group that still has members, so the services are stopped first.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from jobcast_cli.replay import reset_group
from tests.suites import offsets
from tests.suites.stack import Pipeline

Rows = list[tuple[str, ...]]


@dataclass
class Snapshot:
    ledger: dict[str, Any]  # account id → everything the sandbox holds for it
    tables: dict[str, Rows]  # metrics table → its rows, sorted
    last_call: int  # the sandbox's newest call sequence number


@dataclass
class ReplayVerdict:
    groups: dict[str, int]  # group → records it read again
    ledger_items: int
    tables: dict[str, int]  # compared table → rows
    unstable: list[str]  # tables that change by themselves (timers), not compared
    ledger_changes: list[str] = field(default_factory=list)
    table_changes: list[str] = field(default_factory=list)
    graph_writes: list[str] = field(default_factory=list)  # POST/DELETE calls while replaying
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.ledger_changes or self.table_changes or self.graph_writes)

    def line(self) -> str:
        rows = sum(self.tables.values())
        skipped = f" ({', '.join(self.unstable)} not compared: timers)" if self.unstable else ""
        return (
            f"REPLAY {'PASS' if self.ok else 'FAIL'}: {len(self.groups)} groups rewound, "
            f"{sum(self.groups.values())} records read again; ledger "
            f"{'unchanged' if not self.ledger_changes else 'CHANGED'} ({self.ledger_items} "
            f"items), read model {'identical' if not self.table_changes else 'CHANGED'} "
            f"({len(self.tables)} tables, {rows} rows){skipped}; {len(self.graph_writes)} "
            f"Graph writes during the replay; {self.seconds:.0f} s"
        )

    def details(self, limit: int = 10) -> str:
        return "\n".join(
            [
                *self.ledger_changes[:limit],
                *self.table_changes[:limit],
                *self.graph_writes[:limit],
                f"groups: {self.groups}",
            ]
        )


async def read_model(pool: asyncpg.Pool) -> dict[str, Rows]:
    """Every table of the `metrics` schema, rows as sorted text tuples."""
    names = await pool.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'metrics' AND table_type = 'BASE TABLE' ORDER BY 1"
    )
    tables = {}
    for record in names:
        name = record["table_name"]
        rows = await pool.fetch(f'SELECT * FROM metrics."{name}"')
        tables[name] = sorted(tuple(str(v) for v in row.values()) for row in rows)
    return tables


async def snapshot(pool: asyncpg.Pool, sandbox: str, accounts: Sequence[str]) -> Snapshot:
    async with httpx.AsyncClient(timeout=120) as http:
        ledger = {}
        for account in accounts:
            response = await http.get(f"{sandbox}/_sandbox/ledger", params={"account_id": account})
            response.raise_for_status()
            ledger[account] = response.json()
            response = await http.get(
                f"{sandbox}/_sandbox/linkedin/ledger", params={"organization_id": account}
            )
            response.raise_for_status()
            ledger[f"{account} on LinkedIn"] = response.json()
        calls = (await http.get(f"{sandbox}/_sandbox/calls", params={"limit": 1})).json()
    last = calls["calls"][-1]["seq"] if calls["calls"] else 0
    return Snapshot(ledger, await read_model(pool), int(last))


async def wait_caught_up(
    bootstrap: str, groups: Sequence[str], pool: asyncpg.Pool, timeout: float
) -> dict[str, int]:
    """Until every group has read everything and no publish claim is pending (3 s quiet)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    behind: dict[str, int] = {}
    while time.monotonic() < deadline:
        behind = await offsets.lag(bootstrap, groups)
        pending = await pool.fetchval(
            "SELECT count(*) FROM publishing.post_claims WHERE state IN"
            " ('in_progress', 'retry_scheduled')"
            " OR (state = 'unconfirmed' AND next_attempt_at IS NOT NULL)"
        )
        quiet = quiet + 1 if not any(behind.values()) and not pending else 0
        if quiet >= 3:
            return behind
        await asyncio.sleep(1.0)
    raise TimeoutError(f"consumers still behind after {timeout:.0f} s: {behind}")


def _differences(before: Snapshot, after: Snapshot, tables: Sequence[str]) -> tuple[list[str], ...]:
    ledger = [
        f"ledger of {account} changed: {len(json.dumps(before.ledger[account]))} →"
        f" {len(json.dumps(after.ledger[account]))} bytes"
        for account in before.ledger
        if before.ledger[account] != after.ledger[account]
    ]
    changed = []
    for name in tables:
        old, new = set(before.tables[name]), set(after.tables.get(name, []))
        if old != new:
            changed.append(
                f"metrics.{name}: {len(old - new)} rows gone, {len(new - old)} new or changed,"
                f" e.g. {sorted(new - old)[:1] or sorted(old - new)[:1]}"
            )
    return ledger, changed


async def replay_everything(
    pipeline: Pipeline, pool: asyncpg.Pool, accounts: Sequence[str], *, timeout: float = 300
) -> ReplayVerdict:
    """Snapshot, stop, rewind every group, restart, catch up, snapshot again, compare."""
    started = time.monotonic()
    bootstrap = pipeline.endpoints.kafka_bootstrap_servers
    sandbox = pipeline.endpoints.graph_api_url
    groups = await offsets.groups(bootstrap)
    await wait_caught_up(bootstrap, groups, pool, timeout)
    before = await snapshot(pool, sandbox, accounts)
    await asyncio.sleep(2.0)
    again = await snapshot(pool, sandbox, accounts)
    unstable = sorted(n for n in before.tables if before.tables[n] != again.tables.get(n))
    compared = [n for n in again.tables if n not in unstable]

    await asyncio.to_thread(pipeline.stop_services)
    for group in groups:
        if await offsets.committed(bootstrap, group):  # else it never read a record
            # What `jobcast replay --group G --to-earliest` runs (in process: 11 CLI
            # start-ups would cost ~20 s); it refuses a group that still has members.
            await reset_group(bootstrap, group, topics=[], to_datetime=None, dry_run=False)
    to_replay = await offsets.lag(bootstrap, groups)
    await asyncio.to_thread(pipeline.start_services)
    await wait_caught_up(bootstrap, groups, pool, timeout)
    after = await snapshot(pool, sandbox, accounts)

    async with httpx.AsyncClient(timeout=60) as http:
        calls = (await http.get(f"{sandbox}/_sandbox/calls", params={"limit": 100_000})).json()
    writes = [
        f"{c['method']} {c['path']} ({c['operation']}, {c['account_id']})"
        for c in calls["calls"]
        if c["seq"] > again.last_call and c["method"] in ("POST", "DELETE")
    ]
    ledger_changes, table_changes = _differences(again, after, compared)
    return ReplayVerdict(
        groups=to_replay,
        ledger_items=sum(sum(v.get("counts", {}).values()) for v in again.ledger.values()),
        tables={n: len(again.tables[n]) for n in compared},
        unstable=unstable,
        ledger_changes=ledger_changes,
        table_changes=table_changes,
        graph_writes=writes,
        seconds=time.monotonic() - started,
    )
