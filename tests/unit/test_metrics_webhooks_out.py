"""The webhook dispatcher on the public-only client: a delivery to a URL that is, or
resolves to, a non-public address is never sent and is dead at once with its reason."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import SecretStr

from jobcast.crypto import TokenCipher, generate_key
from services.metrics.webhooks.delivery import WebhookDispatcher, _Due
from tests.unit.test_public_http import FakeNetwork, FakeResolver, client

pytestmark = pytest.mark.timeout(10)


class RecordingPool:
    """Stands in for asyncpg.Pool: records the dispatcher's updates."""

    def __init__(self) -> None:
        self.executed: list[tuple[str, tuple[Any, ...]]] = []

    async def execute(self, query: str, *args: Any) -> str:
        self.executed.append((query, args))
        return "UPDATE 1"


def due(cipher: TokenCipher, url: str, attempts: int = 0) -> _Due:
    return _Due(
        delivery_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        event_type="post.posted",
        body='{"type":"post.posted"}',
        attempts=attempts,
        url=url,
        secret_ciphertext=cipher.encrypt("whsec_test"),
    )


async def deliver(url: str, answers: dict[str, list[list[str]]]) -> tuple[RecordingPool, Any]:
    cipher = TokenCipher(SecretStr(generate_key()))
    pool = RecordingPool()
    network = FakeNetwork()
    async with client(FakeResolver(answers), network) as http:
        dispatcher = WebhookDispatcher(pool=pool, cipher=cipher, http=http)  # type: ignore[arg-type]
        await dispatcher.deliver(due(cipher, url))
    return pool, network


@pytest.mark.parametrize(
    ("url", "answers", "reason"),
    [
        ("https://hooks.example.com/a", {"hooks.example.com": [["10.0.0.5"]]},
         "refused: hooks.example.com resolves to 10.0.0.5, a private address"),
        ("https://meta.example.com/", {"meta.example.com": [["169.254.169.254"]]},
         "refused: meta.example.com resolves to 169.254.169.254, a link-local address"),
        # Registered before registration refused such URLs: refused at delivery.
        ("https://127.1/hook", {}, "refused: 127.0.0.1 is a loopback address"),
        ("https://0x7f000001/hook", {}, "refused: 127.0.0.1 is a loopback address"),
        ("http://kafka:9092/", {"kafka": [["172.18.0.3"]]},
         "refused: kafka resolves to 172.18.0.3, a private address"),
    ],
)  # fmt: skip
async def test_a_refused_destination_is_dead_at_once_with_its_reason(
    url: str, answers: dict[str, list[list[str]]], reason: str
) -> None:
    pool, network = await deliver(url, answers)
    assert network.connects == []
    [(query, args)] = pool.executed
    _, attempts, status, recorded, retry_in = args
    assert "UPDATE metrics.webhook_deliveries" in query
    assert (attempts, status, recorded, retry_in) == (1, None, reason, None)  # None: dead


async def test_a_public_destination_is_delivered() -> None:
    pool, network = await deliver(
        "https://hooks.example.com/a", {"hooks.example.com": [["93.184.216.34"]]}
    )
    assert network.connects == [("93.184.216.34", 443)]
    [(query, args)] = pool.executed
    assert "state = 'delivered'" in query
    assert args[1] == 204


async def test_a_name_that_does_not_resolve_is_retried_not_dead() -> None:
    pool, network = await deliver("https://gone.example.com/a", {})
    [(_, args)] = pool.executed
    assert network.connects == []
    assert args[3] == "no answer: ClientConnectorDNSError"
    assert args[4] is not None  # a retry delay: tried again later
