"""`jobcast replay`: move a stopped consumer group's offsets back, so it reprocesses the log.

Every jobcast consumer is idempotent, so replaying is safe; it is how a fixed bug is
re-applied to old events or a service's state is rebuilt in place. The group must have
no live members: offsets of a running group would be overwritten by its next commit
(and Kafka refuses the commit anyway). With `--dry-run` nothing is written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from jobcast.kafka import topic_partitions
from jobcast.settings import CommonSettings

replay = typer.Typer(
    help="Reset a stopped consumer group's offsets (to the earliest, or to a time)."
)

_STOPPED_STATES = frozenset({"Empty", "Dead"})


class GroupActiveError(Exception):
    """The group has members: replaying now would race their commits."""


@dataclass(frozen=True, slots=True)
class Move:
    topic: str
    partition: int
    current: int | None  # None: the group never committed here
    new: int

    @property
    def delta(self) -> int | None:
        return None if self.current is None else self.new - self.current


def plan_moves(
    current: dict[TopicPartition, int | None],
    targets: dict[TopicPartition, int | None],
    ends: dict[TopicPartition, int],
) -> list[Move]:
    """Where each partition goes. A target of None (no record at or after the time) is
    the partition's end: nothing there to replay."""
    moves = []
    for tp in sorted(targets, key=lambda t: (t.topic, t.partition)):
        target = targets[tp]
        moves.append(
            Move(tp.topic, tp.partition, current.get(tp), ends[tp] if target is None else target)
        )
    return moves


def describe_state(description: Any) -> tuple[str, int]:
    """(state, member count) from aiokafka's raw DescribeGroups response for one group."""
    group = description.groups[0]
    # (error_code, group, state, protocol_type, protocol, members, ...)
    return str(group[2]), len(group[5])


async def _group_state(admin: AIOKafkaAdminClient, group: str) -> tuple[str, int]:
    (description,) = await admin.describe_consumer_groups([group])
    return describe_state(description)


async def reset_group(
    bootstrap: str,
    group: str,
    *,
    topics: list[str],
    to_datetime: datetime | None,
    dry_run: bool,
) -> list[Move]:
    """Compute (and unless `dry_run`, commit) the group's new offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        state, members = await _group_state(admin, group)
        if members or state not in _STOPPED_STATES:
            raise GroupActiveError(
                f"group {group!r} is active (state {state}, {members} member(s)):"
                " stop its consumers first"
            )
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    current: dict[TopicPartition, int | None] = {
        tp: meta.offset if meta.offset >= 0 else None for tp, meta in committed.items()
    }
    wanted = topics or sorted({tp.topic for tp in current})
    if not wanted:
        raise ValueError(f"group {group!r} has no committed offsets: name the topics (--topic)")

    partitions = await topic_partitions(bootstrap, wanted)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = dict(await consumer.end_offsets(partitions))
        targets: dict[TopicPartition, int | None]
        if to_datetime is None:
            targets = dict(await consumer.beginning_offsets(partitions))
        else:
            stamp = int(to_datetime.timestamp() * 1000)
            found_times = await consumer.offsets_for_times({tp: stamp for tp in partitions})
            targets = {tp: (o.offset if o is not None else None) for tp, o in found_times.items()}
        moves = plan_moves(current, targets, ends)
        if not dry_run:
            # A manually assigned consumer commits as a "simple" member: Kafka accepts it
            # only while the group has no members, so a group started meanwhile refuses it.
            await consumer.commit(
                {TopicPartition(m.topic, m.partition): OffsetAndMetadata(m.new, "") for m in moves}
            )
        return moves
    finally:
        await consumer.stop()


@replay.callback(invoke_without_command=True)
def replay_command(
    group: Annotated[str, typer.Option("--group", help="The consumer group (e.g. metrics)")],
    to_earliest: Annotated[
        bool, typer.Option("--to-earliest", help="Back to the first record still kept")
    ] = False,
    to_datetime: Annotated[
        datetime | None,
        typer.Option(
            "--to-datetime",
            help="Back to the first record at or after this time (ISO 8601, with zone)",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z"],
        ),
    ] = None,
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Only these topics (default: every topic it committed)"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show current → new offsets; change nothing")
    ] = False,
) -> None:
    """Reset a stopped consumer group to the earliest offsets or to a point in time."""
    if to_earliest == (to_datetime is not None):
        typer.echo("give exactly one of --to-earliest and --to-datetime", err=True)
        raise typer.Exit(2)
    settings = CommonSettings()
    try:
        moves = asyncio.run(
            reset_group(
                settings.kafka_bootstrap_servers, group, topics=list(topic or []),
                to_datetime=to_datetime, dry_run=dry_run,
            )
        )  # fmt: skip
    except (GroupActiveError, ValueError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    verb = "would move" if dry_run else "moved"
    typer.echo(f"{verb} group {group!r}:")
    for m in moves:
        current = "-" if m.current is None else str(m.current)
        delta = "" if m.delta is None else f" ({m.delta:+d})"
        typer.echo(f"  {m.topic}[{m.partition}]  {current} -> {m.new}{delta}")
    if dry_run:
        typer.echo("dry run: nothing changed")
