"""What was replayed (schema `dlq`): one row per dead letter, claimed before it is sent.

A row is claimed (`sending`) in its own committed statement before the record goes to the
broker, and marked `replayed` once the broker acknowledged it. The claim is what makes a
second replay send nothing: only a dead letter with no row, or a `failed` one, can be
claimed without `--again`. A replay that dies between the broker's acknowledgement and the
mark leaves `sending` behind: the record may or may not be in its topic, so it is never
re-sent on a guess (the operator looks for its x-dlq-replay-of header, then uses --again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from jobcast.db import migrate, migrations_of
from jobcast_cli.dlq.records import DeadLetter, DeadLetterId

REPLAYED = "replayed"
SENDING = "sending"
FAILED = "failed"


async def migrate_dlq(pool: asyncpg.Pool) -> None:
    """Create or update the replay ledger."""
    await migrate(pool, "dlq", migrations_of("jobcast_cli.dlq"))


@dataclass(frozen=True, slots=True)
class ReplayState:
    dead_letter: DeadLetterId  # the one replayed: another group's, for the same record
    state: str
    actor: str
    claimed_at: datetime
    replayed_at: datetime | None
    target_partition: int | None
    target_offset: int | None
    sends: int
    error: str | None

    def describe(self, letter: DeadLetterId) -> str:
        """One line about dead letter `letter` for `dlq list` / `dlq show` / `dlq replay`."""
        via = "" if letter == self.dead_letter else f" as {self.dead_letter} (the same record)"
        if self.state == REPLAYED and self.replayed_at is not None:
            return (
                f"replayed{via} {self.replayed_at:%Y-%m-%d %H:%M:%S}Z by {self.actor}"
                f" -> partition {self.target_partition} offset {self.target_offset}"
                + (f" (sent {self.sends} times)" if self.sends > 1 else "")
            )
        if self.state == SENDING:
            return (
                f"in doubt: a replay{via} by {self.actor} at"
                f" {self.claimed_at:%Y-%m-%d %H:%M:%S}Z did not finish"
            )
        return f"failed: {self.error or 'the broker refused it'}"


async def states_of(
    pool: asyncpg.Pool, letters: Sequence[DeadLetter]
) -> dict[DeadLetterId, ReplayState]:
    """What the ledger says of each of `letters`: its own row, else the row of another
    dead letter of the same record that went back (or is in doubt). Dead letters whose
    record was never replayed are left out."""
    if not letters:
        return {}
    origins = [d.origin for d in letters]
    rows = await pool.fetch(
        """SELECT w.t AS w_topic, w.p AS w_partition, w.o AS w_offset, r.*
             FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[],
                         $5::text[], $6::int[], $7::bigint[], $8::bytea[])
                  AS w(t, p, o, ms, ot, op, oo, sha)
             JOIN dlq.replays r
               ON (r.dlq_topic = w.t AND r.dlq_partition = w.p AND r.dlq_offset = w.o
                   AND r.parked_at_ms = w.ms)
               OR (r.original_topic = w.ot AND r.original_partition = w.op
                   AND r.original_offset = w.oo AND r.value_sha256 = w.sha
                   AND r.state <> 'failed')""",
        *_columns([d.id for d in letters]), [d.timestamp_ms for d in letters],
        [o.topic if o else None for o in origins], [o.partition if o else None for o in origins],
        [o.offset if o else None for o in origins], [o.digest if o else None for o in origins],
    )  # fmt: skip
    states: dict[DeadLetterId, ReplayState] = {}
    for r in rows:
        letter = DeadLetterId(r["w_topic"], r["w_partition"], r["w_offset"])
        state = ReplayState(
            DeadLetterId(r["dlq_topic"], r["dlq_partition"], r["dlq_offset"]),
            r["state"], r["actor"], r["claimed_at"], r["replayed_at"],
            r["target_partition"], r["target_offset"], r["sends"], r["error"],
        )  # fmt: skip
        if _rank(state, letter) > _rank(states.get(letter), letter):
            states[letter] = state
    return states


def _rank(state: ReplayState | None, letter: DeadLetterId) -> int:
    """Which row speaks for a dead letter: its own first, then one that went back."""
    if state is None:
        return 0
    if state.dead_letter == letter:
        return 3
    return 2 if state.state == REPLAYED else 1


async def claim(
    pool: asyncpg.Pool, letters: Sequence[DeadLetter], *, actor: str, again: bool
) -> set[DeadLetterId]:
    """Claim `letters` for sending; the claimed ones are returned. Without `again` only
    those never replayed (or whose replay failed) are claimed; concurrent replays claim
    each dead letter once between them. A row of another record at the same place (the
    DLQ topic was created anew) is taken over."""
    if not letters:
        return set()
    origins = [d.origin for d in letters]
    rows = await pool.fetch(
        """INSERT INTO dlq.replays AS r (dlq_topic, dlq_partition, dlq_offset, parked_at_ms,
                                         original_topic, original_partition, original_offset,
                                         value_sha256, state, actor)
           SELECT t, p, o, ms, ot, op, oo, sha, 'sending', $9
             FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[],
                         $5::text[], $6::int[], $7::bigint[], $8::bytea[])
                  AS w(t, p, o, ms, ot, op, oo, sha)
           ON CONFLICT (dlq_topic, dlq_partition, dlq_offset) DO UPDATE
              SET state = 'sending', actor = EXCLUDED.actor, claimed_at = now(), error = NULL,
                  parked_at_ms = EXCLUDED.parked_at_ms, original_topic = EXCLUDED.original_topic,
                  original_partition = EXCLUDED.original_partition,
                  original_offset = EXCLUDED.original_offset,
                  value_sha256 = EXCLUDED.value_sha256,
                  sends = CASE WHEN r.parked_at_ms = EXCLUDED.parked_at_ms THEN r.sends ELSE 0 END
            WHERE r.state = 'failed' OR $10 OR r.parked_at_ms <> EXCLUDED.parked_at_ms
        RETURNING dlq_topic, dlq_partition, dlq_offset""",
        *_columns([d.id for d in letters]), [d.timestamp_ms for d in letters],
        [d.original_topic or "" for d in letters], [o.partition if o else None for o in origins],
        [o.offset if o else None for o in origins], [d.digest for d in letters],
        actor, again,
    )  # fmt: skip
    return {DeadLetterId(r["dlq_topic"], r["dlq_partition"], r["dlq_offset"]) for r in rows}


async def mark_replayed(pool: asyncpg.Pool, sent: Sequence[tuple[DeadLetterId, int, int]]) -> None:
    """Record where each claimed dead letter went: (id, partition, offset)."""
    if not sent:
        return
    await pool.execute(
        """UPDATE dlq.replays r
              SET state = 'replayed', replayed_at = now(), sends = r.sends + 1,
                  target_partition = w.tp, target_offset = w.tof
             FROM unnest($1::text[], $2::int[], $3::bigint[], $4::int[], $5::bigint[])
                  AS w(t, p, o, tp, tof)
            WHERE r.dlq_topic = w.t AND r.dlq_partition = w.p AND r.dlq_offset = w.o""",
        *_columns([i for i, _, _ in sent]), [p for _, p, _ in sent], [o for _, _, o in sent],
    )  # fmt: skip


async def mark_failed(pool: asyncpg.Pool, failed: Sequence[tuple[DeadLetterId, str]]) -> None:
    """The broker refused these: nothing went, so a later replay may send them (one that
    went before, under --again, stays replayed)."""
    if not failed:
        return
    await pool.execute(
        """UPDATE dlq.replays r
              SET state = CASE WHEN r.sends > 0 THEN 'replayed' ELSE 'failed' END, error = w.e
             FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[]) AS w(t, p, o, e)
            WHERE r.dlq_topic = w.t AND r.dlq_partition = w.p AND r.dlq_offset = w.o""",
        *_columns([i for i, _ in failed]), [error for _, error in failed],
    )  # fmt: skip


def _columns(ids: Sequence[DeadLetterId]) -> tuple[list[str], list[int], list[int]]:
    return [i.topic for i in ids], [i.partition for i in ids], [i.offset for i in ids]
