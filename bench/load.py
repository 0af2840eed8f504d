"""The load the end-to-end benches send: tenants with their accounts, jobs cut into batches,
and a fixed number of requests in flight.

Pure planning plus one sender; what a request looks like (URL, body, credentials) is the
caller's, so jobcast's ingest and the Celery peer's intake get the same load.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TenantAccounts:
    """A tenant with one Facebook Page and the Instagram account linked to it; `token` is
    the Page token, which the Graph API also accepts for the linked Instagram account."""

    name: str
    page_id: str
    instagram_id: str
    token: str


def tenant_accounts(count: int, prefix: str = "bench") -> list[TenantAccounts]:
    """`count` tenants with fresh, distinct account ids (15 digits, like Meta's)."""
    if count < 1:
        raise ValueError(f"need at least one tenant, not {count}")
    tenants = []
    for _ in range(count):
        page, instagram = str(uuid.uuid4().int)[:15], str(uuid.uuid4().int)[:15]
        tenants.append(TenantAccounts(f"{prefix}-{uuid.uuid4().hex[:8]}", page, instagram,
                                      f"{prefix}-{page}"))  # fmt: skip
    return tenants


@dataclass(frozen=True)
class Jobs:
    """Job ids that share a prefix no other load has: a database finds them with a cheap
    `LIKE` (matching a list of thousands of ids, polled, costs more than the work)."""

    prefix: str
    ids: tuple[str, ...]

    @classmethod
    def new(cls, count: int, tag: str) -> Jobs:
        prefix = f"{tag}-{uuid.uuid4().hex[:10]}-"
        return cls(prefix, tuple(f"{prefix}{n}" for n in range(count)))

    @property
    def pattern(self) -> str:
        """`LIKE` pattern of these jobs' ids (the prefix holds no `%` or `_`)."""
        return f"{self.prefix}%"


@dataclass(frozen=True)
class Batch:
    """One request: jobs for one tenant (an index into the tenants)."""

    tenant: int
    job_ids: tuple[str, ...]


def batch_plan(job_ids: Sequence[str], tenants: int, size: int) -> list[Batch]:
    """The jobs in order, `size` to a batch, tenants taking turns batch by batch."""
    if tenants < 1 or size < 1:
        raise ValueError(f"tenants and batch size must be positive, not {tenants} and {size}")
    return [
        Batch(n % tenants, tuple(job_ids[start : start + size]))
        for n, start in enumerate(range(0, len(job_ids), size))
    ]


async def send_batches(
    batches: Sequence[Batch], send: Callable[[Batch], Awaitable[None]], in_flight: int
) -> None:
    """Send every batch, in order, with at most `in_flight` requests outstanding."""
    queue: asyncio.Queue[Batch] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def sender() -> None:
        while not queue.empty():
            await send(queue.get_nowait())

    await asyncio.gather(*(sender() for _ in range(in_flight)))
