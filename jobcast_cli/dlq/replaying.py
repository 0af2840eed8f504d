"""Sending dead letters back to their topics, each at most once unless forced.

Each record goes back as it came: the original value, key and headers (without the
`x-dlq-*` ones), to the topic and partition it was consumed from, with `x-dlq-replay-of`
naming the dead letter. The ledger (`jobcast_cli.dlq.ledger`) is claimed first, so a dead
letter already replayed, or being replayed by someone else, is not sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from jobcast.failures import describe_failure, is_infrastructure
from jobcast_cli.dlq.ledger import FAILED, ReplayState, claim, mark_failed, mark_replayed
from jobcast_cli.dlq.records import (
    DeadLetter,
    DeadLetterId,
    Origin,
    by_offset,
    replay_headers,
    why_not_replayable,
)

_CHUNK = 500  # dead letters claimed, sent and marked together


@dataclass(slots=True)
class ReplayPlan:
    """What a replay would do with the dead letters it selected."""

    to_send: list[DeadLetter] = field(default_factory=list)
    refused: list[tuple[DeadLetter, str]] = field(default_factory=list)
    done_before: list[tuple[DeadLetter, ReplayState]] = field(default_factory=list)
    # Another group's dead letter of a record sent in this replay: it goes once, for all.
    same_record: list[tuple[DeadLetter, DeadLetter]] = field(default_factory=list)


def plan_replay(
    letters: Iterable[DeadLetter],
    states: dict[DeadLetterId, ReplayState],
    partitions: dict[str, int],
    *,
    again: bool,
) -> ReplayPlan:
    """Sort `letters` into those to send (in the order they were parked), those that cannot
    be (truncated, origin unknown or gone), those the ledger has (skipped unless `again`)
    and those whose record another one sends. `partitions`: the partition count of each
    original topic that exists."""
    plan = ReplayPlan()
    sending: dict[Origin, DeadLetter] = {}
    for letter in by_offset(letters):
        why = why_not_replayable(letter)
        if why is None and letter.original_topic not in partitions:
            why = f"its topic {letter.original_topic!r} does not exist (any more)"
        state = states.get(letter.id)
        origin = letter.origin
        if why is not None:
            plan.refused.append((letter, why))
        elif state is not None and state.state != FAILED and not again:
            plan.done_before.append((letter, state))
        elif origin is not None and origin in sending:
            plan.same_record.append((letter, sending[origin]))
        else:
            plan.to_send.append(letter)
            if origin is not None:
                sending[origin] = letter
    return plan


def target_partition(letter: DeadLetter, partitions: dict[str, int]) -> int | None:
    """The partition the record was consumed from, when the topic still has it; else None
    (the key decides, as it did for the original producer)."""
    partition = letter.original_partition
    topic = letter.original_topic
    if partition is None or topic is None or not 0 <= partition < partitions.get(topic, 0):
        return None
    return partition


@dataclass(slots=True)
class ReplayOutcome:
    sent: list[tuple[DeadLetter, int, int]] = field(default_factory=list)  # partition, offset
    taken: list[DeadLetter] = field(default_factory=list)  # claimed meanwhile by another replay
    failed: list[tuple[DeadLetter, str]] = field(default_factory=list)  # nothing went
    # The broker did not answer in time: it may have the record. Left claimed (`sending`),
    # so no later replay re-sends it on a guess.
    in_doubt: list[tuple[DeadLetter, str]] = field(default_factory=list)


async def send_replays(
    bootstrap: str,
    pool: asyncpg.Pool,
    letters: Sequence[DeadLetter],
    partitions: dict[str, int],
    *,
    actor: str,
    again: bool,
) -> ReplayOutcome:
    """Claim, send and record `letters` (from `plan_replay`), a chunk at a time."""
    outcome = ReplayOutcome()
    if not letters:
        return outcome
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id="jobcast-cli-dlq", enable_idempotence=True
    )
    await producer.start()
    try:
        for start in range(0, len(letters), _CHUNK):
            chunk = letters[start : start + _CHUNK]
            claimed = await claim(pool, chunk, actor=actor, again=again)
            outcome.taken += [d for d in chunk if d.id not in claimed]
            going = [d for d in chunk if d.id in claimed]
            sent, failed, in_doubt = await _send(producer, going, partitions)
            await mark_replayed(pool, [(d.id, p, o) for d, p, o in sent])
            await mark_failed(pool, [(d.id, why) for d, why in failed])
            outcome.sent += sent
            outcome.failed += failed
            outcome.in_doubt += in_doubt
    finally:
        await producer.stop()
    return outcome


_Failures = list[tuple[DeadLetter, str]]


async def _send(
    producer: AIOKafkaProducer, letters: list[DeadLetter], partitions: dict[str, int]
) -> tuple[list[tuple[DeadLetter, int, int]], _Failures, _Failures]:
    """Hand every record to the producer, then wait for all acknowledgements: sent (with
    partition and offset), failed (nothing went) and in doubt."""
    acks: list[tuple[DeadLetter, asyncio.Future[Any]]] = []
    failed: _Failures = []
    in_doubt: _Failures = []
    for letter in letters:
        try:
            ack = await producer.send(
                letter.original_topic or "",
                letter.value,
                key=letter.key,
                headers=replay_headers(letter),
                partition=target_partition(letter, partitions),
            )
        except Exception as exc:  # refused before it left (too large, ...): nothing went
            failed.append((letter, describe_failure(exc)))
        else:
            acks.append((letter, ack))
    results = await asyncio.gather(*(ack for _, ack in acks), return_exceptions=True)
    sent = []
    for (letter, _), result in zip(acks, results, strict=True):
        if isinstance(result, BaseException):
            # A timeout or lost connection may come after the broker wrote it; a refusal
            # (too large, not authorized) means it did not.
            lost = in_doubt if is_infrastructure(result) else failed
            lost.append((letter, describe_failure(result)))
        else:
            sent.append((letter, int(result.partition), int(result.offset)))
    return sent, failed, in_doubt
