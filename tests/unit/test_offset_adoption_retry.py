"""Adopting former groups' offsets waits out a broker without a group coordinator yet (a
fresh broker) instead of starting the group without them; other failures are raised."""

from __future__ import annotations

import pytest
from aiokafka.errors import GroupCoordinatorNotAvailableError, TopicAuthorizationFailedError
from aiokafka.structs import TopicPartition

from jobcast.kafka import adoption
from jobcast.kafka.adoption import FormerGroup, adopt_offsets

FORMER = [FormerGroup("operator.commands", "svc-operator")]


async def test_a_missing_coordinator_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Exception | dict[TopicPartition, int]] = [
        GroupCoordinatorNotAvailableError("no coordinator yet"),
        {TopicPartition("operator.commands", 0): 4},
    ]
    committed: list[dict[TopicPartition, int]] = []

    async def to_adopt(*_: object) -> dict[TopicPartition, int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def commit(_servers: str, _group: str, offsets: dict[TopicPartition, int]) -> bool:
        committed.append(offsets)
        return True

    monkeypatch.setattr(adoption, "_to_adopt", to_adopt)
    monkeypatch.setattr(adoption, "_commit", commit)
    monkeypatch.setattr(adoption, "DEFAULT_RETRY_DELAYS", (0.0,))
    adopted = await adopt_offsets("kafka:9092", "svc", FORMER)
    assert adopted == {TopicPartition("operator.commands", 0): 4}
    assert committed == [adopted]
    assert answers == []


async def test_a_failure_no_wait_can_change_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    async def to_adopt(*_: object) -> dict[TopicPartition, int]:
        raise TopicAuthorizationFailedError("not allowed")

    monkeypatch.setattr(adoption, "_to_adopt", to_adopt)
    with pytest.raises(TopicAuthorizationFailedError):
        await adopt_offsets("kafka:9092", "svc", FORMER)
