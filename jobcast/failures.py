"""Which failures go away by waiting, and which will fail the same way on every try.

Every consumer and every group commit asks this one question when a handler raises. An
infrastructure failure (the database or broker unreachable, a timeout, a serialization
conflict or deadlock) is retried in place: the record is good and must not be skipped. Any
other failure (a value the database refuses, a decode or overflow error, a bug that one odd
record trips) would fail again on every retry and stall every record behind it: that one
record is isolated (dead-lettered with the reason) and the rest go on.
"""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import asyncpg
import asyncpg.exceptions as pg
import asyncpg.exceptions._base as pg_client
from aiokafka import errors as kafka_errors

from jobcast.http_client import NoAnswerError
from jobcast.logs import redact_text

# No answer from an HTTP peer (refused, reset, timed out, cut off mid-body): aiohttp's
# exceptions, and ours that stand for them (`jobcast.http_client`).
_HTTP_TRANSIENT = (
    NoAnswerError,
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
)

# Postgres classes 08 (connection), 40 (rollback: serialization, deadlock), 53 (resources),
# 57 (operator intervention: shutdown, cancel, cannot connect now), 58 (system I/O), and a
# lock not granted (55P03): all clear up without the record changing.
_POSTGRES_TRANSIENT: tuple[type[BaseException], ...] = (
    pg.PostgresConnectionError,
    pg.TransactionRollbackError,
    pg.InsufficientResourcesError,
    pg.OperatorInterventionError,
    pg.PostgresSystemError,
    pg.LockNotAvailableError,
    pg.InternalClientError,  # protocol desync, outdated statement cache: a new try heals it
    # Not the record, the environment: the SQL and the schema disagree (a table or column
    # missing mid-deploy, a privilege revoked: class 42), the login or database is refused
    # (28, 3D, 3F), the server is a read-only replica after a failover (25006), a session
    # timed out (25P03). Dead-lettering would empty the topic; waiting keeps every record.
    pg.SyntaxOrAccessError,
    pg.InvalidAuthorizationSpecificationError,
    pg.InvalidCatalogNameError,
    pg.InvalidSchemaNameError,
    pg.ReadOnlySQLTransactionError,
    pg.IdleInTransactionSessionTimeoutError,
    # A migration ran under us (e.g. a column widened): the prepared statement is stale
    # inside a transaction, or the object is busy with DDL. The next try plans afresh.
    pg.InvalidCachedStatementError,
    pg.ObjectInUseError,
)
# asyncpg's client-side errors that depend on the values sent, not on the server's state.
_ASYNCPG_DETERMINISTIC: tuple[type[BaseException], ...] = (
    pg_client.DataError,  # "invalid input for query argument": e.g. out of int32 range
    pg.ClientConfigurationError,
    pg.UnsupportedClientFeatureError,
    pg.UnsupportedServerFeatureError,
)
_KAFKA_TRANSIENT: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.ProducerClosed,
)
_REASON_CHARS = 500


def is_infrastructure(exc: BaseException) -> bool:
    """True when `exc`, or anything that caused it, is a failure of infrastructure."""
    return any(_transient(link) for link in _chain(exc))


def is_deterministic(exc: BaseException) -> bool:
    """True when retrying the same input cannot help: the record is to be isolated."""
    return not is_infrastructure(exc)


def describe_failure(exc: BaseException) -> str:
    """A short reason for a dead letter or a log: the exception's type and message,
    secret-looking text redacted, cut to a readable length."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not fail the dead letter that reports it
        message = ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return redact_text(text)[:_REASON_CHARS]


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "another operation is in progress": the connection's
        # state, not the record. Its value-dependent subclasses are listed apart.
        return not isinstance(exc, _ASYNCPG_DETERMINISTIC)
    if isinstance(exc, kafka_errors.KafkaError):
        return isinstance(exc, _KAFKA_TRANSIENT) or bool(getattr(exc, "retriable", False))
    return isinstance(exc, (OSError, TimeoutError, *_HTTP_TRANSIENT, *_POSTGRES_TRANSIENT))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups (each once).

    A context hidden with `raise ... from None` is left out: its author said it is not
    why this failed."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        if isinstance(link, BaseExceptionGroup):
            todo.extend(link.exceptions)
        if link.__cause__ is not None:
            todo.append(link.__cause__)
        if link.__context__ is not None and not link.__suppress_context__:
            todo.append(link.__context__)
