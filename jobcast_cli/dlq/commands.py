"""`jobcast dlq`: list, show and replay the dead letters of every `<topic>.dlq`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
from aiokafka.errors import KafkaError

from jobcast.db import create_pool
from jobcast.failures import describe_failure
from jobcast.settings import CommonSettings
from jobcast_cli.dlq.ledger import ReplayState, migrate_dlq, states_of
from jobcast_cli.dlq.reading import READ_SECONDS, Found, partition_counts, read_dead_letters
from jobcast_cli.dlq.records import (
    DeadLetter,
    DeadLetterId,
    Selection,
    by_offset,
    dlq_topic_of,
    newest_first,
    parse_moment,
    preview_value,
    printable_key,
    safe_text,
    shown_headers,
    summary,
    table,
)
from jobcast_cli.dlq.replaying import plan_replay, send_replays
from jobcast_cli.ops import default_actor

T = TypeVar("T")

dlq = typer.Typer(
    help="Dead letters (<topic>.dlq): list, show, and replay them once the cause is fixed.",
    no_args_is_help=True,
)

TopicOption = Annotated[
    list[str] | None,
    typer.Option("--topic", help="A topic or its .dlq (repeatable; default: every *.dlq)"),
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Parked at or after: ISO 8601 (UTC if no zone) or 90s/15m/2h/3d"),
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Parked before: ISO 8601 or a duration ago")
]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Part of x-dlq-reason (any case)")
]
SecondsOption = Annotated[
    float, typer.Option("--read-seconds", help="Stop reading the topics after this long")
]


def _run(work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(work)`; Kafka or Postgres out of reach is said in one line (exit 1)."""
    try:
        return asyncio.run(work)
    except (KafkaError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        typer.echo(f"failed: {describe_failure(exc)}", err=True)
        raise typer.Exit(1) from None


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_moment(text, datetime.now(UTC))
    except ValueError as exc:
        typer.echo(f"{option}: {exc}", err=True)
        raise typer.Exit(2) from None


def _ids(texts: Sequence[str]) -> frozenset[DeadLetterId]:
    try:
        return frozenset(DeadLetterId.parse(t) for t in texts)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _read(
    topics: Sequence[str] | None,
    selection: Selection,
    *,
    newest: int | None = None,
    keep_values: bool = True,
    read_seconds: float = READ_SECONDS,
) -> Found:
    settings = CommonSettings()
    wanted = sorted({dlq_topic_of(t) for t in topics}) if topics else None
    found = _run(
        read_dead_letters(
            settings.kafka_bootstrap_servers, wanted, selection,
            newest=newest, keep_values=keep_values, read_seconds=read_seconds,
        )
    )  # fmt: skip
    for topic in found.missing_topics:
        typer.echo(f"no topic {topic}: nothing was dead-lettered there yet", err=True)
    if not found.complete:
        typer.echo(
            f"stopped reading after {read_seconds:g}s: older or newer dead letters may be"
            " missing (--read-seconds)",
            err=True,
        )
    return found


def _ledger(letters: Sequence[DeadLetter]) -> dict[DeadLetterId, ReplayState] | None:
    """What the replay ledger says of `letters`; None (with a warning) if Postgres is not
    reachable: listing and showing work from Kafka alone."""

    async def run() -> dict[DeadLetterId, ReplayState]:
        pool = await create_pool(
            CommonSettings().database_url.get_secret_value(), min_size=1, max_size=1
        )
        try:
            if await pool.fetchval("SELECT to_regclass('dlq.replays') IS NULL"):
                return {}  # no replay has ever run here
            return await states_of(pool, letters)
        finally:
            await pool.close()

    if not letters:
        return {}
    try:
        return asyncio.run(run())
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        typer.echo(f"replay status unknown (Postgres: {type(exc).__name__})", err=True)
        return None


def _status(states: dict[DeadLetterId, ReplayState] | None, letter: DeadLetter) -> str:
    if states is None:
        return "?"
    state = states.get(letter.id)
    return "-" if state is None else state.state


def _size(letter: DeadLetter) -> str:
    if letter.truncated_from is None:
        return f"{letter.size}B"
    return f"{letter.size}B (cut from {letter.truncated_from}B)"


def _origin(letter: DeadLetter) -> str:
    if letter.original_topic is None:
        return "?"
    return (
        f"{safe_text(letter.original_topic)}[{letter.original_partition}]@{letter.original_offset}"
    )


@dlq.command("list")
def dlq_list(
    *,
    topic: TopicOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    reason: ReasonOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many")] = 50,
    by_offsets: Annotated[
        bool, typer.Option("--by-offset", help="In parked order per partition, oldest first")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array")] = False,
    read_seconds: SecondsOption = READ_SECONDS,
) -> None:
    """Dead letters, newest first: where they were parked, where they came from, why."""
    selection = Selection(_moment(since, "--since"), _moment(until, "--until"), reason)
    # The newest N overall are among the newest N of each partition, unless a filter other
    # than time skips some: then everything since --since is read.
    newest = limit if not by_offsets and reason is None and until is None else None
    found = _read(topic, selection, newest=newest, keep_values=False, read_seconds=read_seconds)
    ordered = by_offset(found.letters) if by_offsets else newest_first(found.letters)
    shown = ordered[:limit]
    states = _ledger(shown)
    if as_json:
        rows = [{**summary(d), "replay": _status(states, d)} for d in shown]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not shown:
        typer.echo("no dead letters", err=True)
        return
    lines = table(
        [
            ["ID", "PARKED (UTC)", "FROM", "GROUP", "SIZE", "KEY", "REPLAY", "REASON"],
            *(
                [
                    str(d.id),
                    f"{d.time:%Y-%m-%d %H:%M:%S}",
                    _origin(d),
                    safe_text(d.group or "?"),
                    _size(d),
                    printable_key(d.key, limit=40),
                    _status(states, d),
                    summary(d)["reason"][:200],
                ]
                for d in shown
            ),
        ]
    )
    typer.echo("\n".join(lines))
    if len(shown) == limit:
        typer.echo(f"(at most {limit} shown: --limit N for more)", err=True)


@dlq.command("show")
def dlq_show(
    target: Annotated[str, typer.Argument(help="A DLQ topic, or an id like jobs.events.dlq:0:12")],
    partition: Annotated[int | None, typer.Argument(help="Partition (with a topic)")] = None,
    offset: Annotated[int | None, typer.Argument(help="Offset (with a topic)")] = None,
    *,
    full: Annotated[bool, typer.Option("--full", help="The whole value, however long")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="As one JSON object")] = False,
    read_seconds: SecondsOption = READ_SECONDS,
) -> None:
    """Everything about one dead letter: headers, reason, and its value (secrets redacted)."""
    if (partition is None) != (offset is None):
        typer.echo("give DLQ_TOPIC PARTITION OFFSET, or one id", err=True)
        raise typer.Exit(2)
    text = target if partition is None else f"{target}:{partition}:{offset}"
    (wanted,) = _ids([text])
    found = _read(None, Selection(ids=frozenset({wanted})), read_seconds=read_seconds)
    if not found.letters:
        typer.echo(
            f"no dead letter at {wanted} (not written yet, or removed by retention)", err=True
        )
        raise typer.Exit(2)
    (letter,) = found.letters
    states = _ledger([letter])
    state = None if states is None else states.get(letter.id)
    replay = "unknown" if states is None else state.describe(letter.id) if state else "not replayed"
    value = preview_value(letter.value, full=full)
    if as_json:
        typer.echo(json.dumps(_shown(letter, replay, value.text, value.cut), indent=2))
        return
    fields = [
        ("id", str(letter.id)),
        ("parked", f"{letter.time:%Y-%m-%d %H:%M:%S.%f}"[:-3] + "Z"),
        ("from", _origin(letter)),
        ("group", safe_text(letter.group or "?")),
        ("reason", summary(letter)["reason"]),
        ("key", printable_key(letter.key, limit=1000)),
        ("size", _size(letter)),
        ("replay", replay),
    ]
    if letter.replay_of:
        fields.append(("replay of", safe_text(letter.replay_of)))
    for name, shown in fields:
        typer.echo(f"{name + ':':<11}{shown}")
    typer.echo("headers:")
    for name, shown in shown_headers(letter).items():
        typer.echo(f"  {name}: {shown}")
    typer.echo(f"value ({value.kind}, {letter.size} bytes):")
    typer.echo(value.text)
    if value.cut:
        typer.echo(f"… {value.cut} more characters (--full shows them)")


def _shown(letter: DeadLetter, replay: str, value: str, cut: int) -> dict[str, Any]:
    return {
        **summary(letter),
        "replay": replay,
        "headers": shown_headers(letter),
        "value": value,
        "value_cut_chars": cut,
    }


@dlq.command("replay")
def dlq_replay(
    *,
    topic: TopicOption = None,
    dead_letter: Annotated[
        list[str] | None,
        typer.Option("--id", help="Just this one, e.g. jobs.events.dlq:0:12 (repeatable)"),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    reason: ReasonOption = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every dead letter (when no other option selects)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be sent; send and record nothing")
    ] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Send even those replayed (or in doubt) before")
    ] = False,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who replays (default: cli:<user>@<host>)")
    ] = None,
    read_seconds: SecondsOption = READ_SECONDS,
) -> None:
    """Send dead letters back to their topics as they came (once the cause is fixed).

    Each goes once: a second replay skips it unless --again.

    Exit status: 0 all selected went (now or before); 1 some failed to send;
    2 some cannot be replayed (truncated, origin unknown), or nothing was named.
    """
    if not (topic or dead_letter or since or until or reason or every):
        typer.echo(
            "name what to replay: --topic, --id, --since/--until, --reason or --all", err=True
        )
        raise typer.Exit(2)
    selection = Selection(
        _moment(since, "--since"), _moment(until, "--until"), reason, _ids(dead_letter or [])
    )
    found = _read(topic, selection, read_seconds=read_seconds)
    missing_ids = selection.ids - {d.id for d in found.letters}
    for lost in sorted(missing_ids):
        typer.echo(f"refused {lost}: no such dead letter", err=True)
    settings = CommonSettings()

    async def run() -> int:
        pool = await create_pool(settings.database_url.get_secret_value(), max_size=2)
        try:
            await migrate_dlq(pool)
            return await _replay(
                settings.kafka_bootstrap_servers, pool, found.letters,
                actor=actor or default_actor(), again=again, dry_run=dry_run,
            )  # fmt: skip
        finally:
            await pool.close()

    status = _run(run())
    raise typer.Exit(2 if missing_ids and status == 0 else status)


async def _replay(
    bootstrap: str,
    pool: asyncpg.Pool,
    letters: list[DeadLetter],
    *,
    actor: str,
    again: bool,
    dry_run: bool,
) -> int:
    topics = {d.original_topic for d in letters if d.original_topic is not None}
    partitions = await partition_counts(bootstrap, topics)
    states = await states_of(pool, letters)
    plan = plan_replay(letters, states, partitions, again=again)
    for letter, why in plan.refused:
        typer.echo(f"refused {letter.id}: {why}", err=True)
    for letter, state in plan.done_before:
        typer.echo(f"skipped {letter.id}: {state.describe(letter.id)} (--again sends it anyway)")
    for letter, sent_as in plan.same_record:
        typer.echo(
            f"skipped {letter.id}: the same record as {sent_as.id}, sent once for all groups"
        )
    skipped = len(plan.done_before) + len(plan.same_record)
    if dry_run:
        for letter in plan.to_send:
            typer.echo(f"would send {letter.id} -> {_origin(letter)}  {_size(letter)}")
        typer.echo(
            f"dry run: {len(plan.to_send)} would be sent, {skipped} skipped,"
            f" {len(plan.refused)} refused; nothing sent"
        )
        return 2 if plan.refused else 0
    outcome = await send_replays(
        bootstrap, pool, plan.to_send, partitions, actor=actor, again=again
    )
    for letter, partition, offset in outcome.sent:
        typer.echo(f"sent {letter.id} -> {letter.original_topic}[{partition}]@{offset}")
    for letter in outcome.taken:
        typer.echo(f"skipped {letter.id}: another replay claimed it meanwhile")
    for letter, why in outcome.failed:
        typer.echo(f"failed {letter.id}: {why} (nothing went; replay it again later)", err=True)
    for letter, why in outcome.in_doubt:
        typer.echo(
            f"in doubt {letter.id}: {why} (it may have arrived: look for x-dlq-replay-of in"
            f" {letter.original_topic}, then --again if it did not)",
            err=True,
        )
    typer.echo(
        f"{len(outcome.sent)} sent, {skipped + len(outcome.taken)} skipped,"
        f" {len(plan.refused)} refused, {len(outcome.failed) + len(outcome.in_doubt)} failed"
    )
    if outcome.failed or outcome.in_doubt:
        return 1
    return 2 if plan.refused else 0
