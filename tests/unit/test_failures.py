"""The one classifier of handler failures: what waits (infrastructure) and what is isolated."""

from __future__ import annotations

import aiohttp
import asyncpg
import asyncpg.exceptions as pg
import pytest
from aiokafka import errors as kafka_errors

from jobcast.failures import describe_failure, is_deterministic, is_infrastructure
from jobcast.http_client import NoAnswerError


def _raised_from(exc: BaseException, cause: BaseException) -> BaseException:
    try:
        raise exc from cause
    except BaseException as caught:
        return caught


def _raised_during(exc: BaseException, context: BaseException) -> BaseException:
    try:
        try:
            raise context
        except BaseException:
            raise exc  # noqa: B904  # the implicit context is what is tested
    except BaseException as caught:
        return caught


def _asyncpg_argument_error() -> BaseException:
    """What asyncpg raises for a value out of the column's range (no server round trip)."""
    return asyncpg.DataError(
        "invalid input for query argument $1: 3000000000 (value out of int32 range)"
    )


INFRASTRUCTURE = [
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(),
    TimeoutError(),
    OSError("network is unreachable"),
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    pg.SerializationError("could not serialize access"),
    pg.DeadlockDetectedError("deadlock detected"),
    pg.TooManyConnectionsError("too many clients"),
    pg.AdminShutdownError("terminating connection due to administrator command"),
    pg.CannotConnectNowError("the database system is starting up"),
    pg.QueryCanceledError("canceling statement due to statement timeout"),
    pg.LockNotAvailableError("could not obtain lock"),
    pg.UndefinedTableError('relation "distributor.jobs" does not exist'),
    pg.InsufficientPrivilegeError("permission denied for table jobs"),
    pg.InvalidPasswordError("password authentication failed"),
    pg.InvalidCatalogNameError('database "jobcast" does not exist'),
    pg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
    pg.InvalidCachedStatementError("cached statement plan is invalid due to a schema change"),
    pg.OutdatedSchemaCacheError("type cache is outdated"),
    asyncpg.InterfaceError("connection is closed"),
    kafka_errors.KafkaConnectionError("no broker"),
    kafka_errors.KafkaTimeoutError(),
    kafka_errors.NotLeaderForPartitionError(),  # retriable by aiokafka's own flag
    kafka_errors.RequestTimedOutError(),
    aiohttp.ServerDisconnectedError(),
    aiohttp.SocketTimeoutError("timed out"),
    aiohttp.ClientPayloadError("response body too large"),
    NoAnswerError("ClientConnectorError"),
]

DETERMINISTIC = [
    _asyncpg_argument_error(),
    pg.NumericValueOutOfRangeError("integer out of range"),
    pg.StringDataRightTruncationError("value too long for type character varying(200)"),
    pg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
    pg.UniqueViolationError("duplicate key value violates unique constraint"),
    pg.CheckViolationError("new row violates check constraint"),
    pg.InvalidTextRepresentationError("invalid input syntax for type uuid"),
    kafka_errors.MessageSizeTooLargeError(),
    pg.FeatureNotSupportedError("not supported"),  # the parent of a stale cached statement
    ValueError("bad value"),
    KeyError("missing"),
    TypeError("unsupported operand"),
    OverflowError("int too large to convert"),
    UnicodeEncodeError("utf-8", "\udc80", 0, 1, "surrogates not allowed"),
    RecursionError("maximum recursion depth exceeded"),
    AssertionError(),
    RuntimeError("flush returned 1 results for 2 items"),
]


@pytest.mark.parametrize("exc", INFRASTRUCTURE, ids=lambda e: type(e).__name__)
def test_infrastructure_failures_are_waited_out(exc: BaseException) -> None:
    assert is_infrastructure(exc)
    assert not is_deterministic(exc)


@pytest.mark.parametrize("exc", DETERMINISTIC, ids=lambda e: type(e).__name__)
def test_failures_of_the_record_itself_are_deterministic(exc: BaseException) -> None:
    assert is_deterministic(exc)
    assert not is_infrastructure(exc)


def test_a_wrapped_infrastructure_failure_is_still_infrastructure() -> None:
    wrapped = _raised_from(RuntimeError("claim failed"), ConnectionResetError())
    assert is_infrastructure(wrapped)
    during = _raised_during(KeyError("x"), pg.ConnectionDoesNotExistError("gone"))
    assert is_infrastructure(during)  # a failure while handling a lost connection: wait


def test_a_context_hidden_with_from_none_does_not_count() -> None:
    def hide_the_lost_connection() -> None:
        try:
            raise ConnectionResetError
        except ConnectionResetError:
            raise ValueError("bad record") from None

    with pytest.raises(ValueError, match="bad record") as caught:
        hide_the_lost_connection()
    assert is_deterministic(caught.value)


def test_exception_groups_are_infrastructure_if_any_member_is() -> None:
    assert is_infrastructure(ExceptionGroup("tasks", [ValueError("x"), TimeoutError()]))
    assert is_deterministic(ExceptionGroup("tasks", [ValueError("x"), KeyError("y")]))
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [OSError("down")])])
    assert is_infrastructure(nested)


def test_a_self_referencing_chain_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert is_deterministic(first)


def test_the_reason_names_the_failure_and_keeps_secrets_out() -> None:
    reason = describe_failure(_asyncpg_argument_error())
    assert reason.startswith("DataError: invalid input for query argument $1")
    assert "int32" in reason
    assert describe_failure(KeyError()) == "KeyError"
    secret = describe_failure(
        RuntimeError("connect postgresql://jobcast:hunter2@db:5432/x failed; access_token=EAAB123")
    )
    assert "hunter2" not in secret
    assert "EAAB123" not in secret
    assert len(describe_failure(ValueError("x" * 10_000))) <= 500


def test_a_broken_str_does_not_break_the_reason() -> None:
    class BrokenStrError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert describe_failure(BrokenStrError()) == "BrokenStrError"
