"""Publisher lanes: an account's jobs spread over `ways` lanes, a job always in one."""

from __future__ import annotations

import uuid

import pytest

from jobcast.kafka import ConsumedRecord
from schemas import Platform, PostContent, PublishCommand, PublishRequested, make_post_key
from services.publishing.lanes import job_lanes

COMMANDS = "publish.facebook"


def command_record(job_id: str, connection: uuid.UUID, text: str = "Barista") -> ConsumedRecord:
    tenant = uuid.uuid4()
    command = PublishCommand(
        post_key=make_post_key(tenant, job_id, connection, 1), platform=Platform.FACEBOOK,
        connection_id=connection, account_id="1234", job_id=job_id, revision=1,
        content=PostContent(text=text),
    )  # fmt: skip
    value = PublishRequested(tenant_id=tenant, payload=command).model_dump_json().encode()
    return ConsumedRecord(COMMANDS, 0, 0, str(connection).encode(), value, (), 0)


def test_a_jobs_commands_share_a_lane_and_jobs_spread_over_the_accounts_lanes() -> None:
    lane_of = job_lanes(4, COMMANDS)
    account = uuid.uuid4()
    same = {lane_of(command_record("job-1", account, text)) for text in ("a", "b", "c")}
    assert len(same) == 1
    spread = {lane_of(command_record(f"job-{n}", account)) for n in range(200)}
    assert len(spread) == 4
    other = {lane_of(command_record(f"job-{n}", uuid.uuid4())) for n in range(4)}
    assert not other & spread


def test_one_way_is_the_account_lane() -> None:
    account = uuid.uuid4()
    lanes = {job_lanes(1, COMMANDS)(command_record(f"job-{n}", account)) for n in range(20)}
    assert len(lanes) == 1


def test_text_cannot_fake_the_job_id() -> None:
    lane_of = job_lanes(64, COMMANDS)
    account = uuid.uuid4()
    honest = lane_of(command_record("job-1", account, 'x "job_id": "job-99"'))
    assert honest == lane_of(command_record("job-1", account))


def test_a_record_without_a_job_id_still_gets_a_lane() -> None:
    record = ConsumedRecord("publish.facebook", 0, 5, b"acct", b"not json", (), 0)
    assert job_lanes(4, COMMANDS)(record).endswith("/0")
    with pytest.raises(ValueError, match="at least one lane"):
        job_lanes(0, COMMANDS)


def test_an_operator_command_never_shares_an_accounts_lane() -> None:
    # Operator commands are keyed by tenant: even a key equal to an account's stays apart.
    account = uuid.uuid4()
    command = command_record("job-1", account)
    operator = ConsumedRecord("operator.commands", 0, 0, command.key, b"{}", (), 0)
    for ways in (1, 4):
        lane_of = job_lanes(ways, COMMANDS)
        assert lane_of(operator) != lane_of(command)
        assert lane_of(operator) == lane_of(
            ConsumedRecord("operator.commands", 2, 9, command.key, b"[]", (), 0)
        )
