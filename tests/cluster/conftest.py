"""Fixtures for the multi-node tests: a fresh PostgreSQL database, a Redis db and queue of
their own per test (tests never see each other's messages), RabbitMQ for the smoke test."""

from __future__ import annotations

import random
import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.databases import postgres_database, unavailable

REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)


def reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    if not reachable(REDIS):
        unavailable(f"Redis at {REDIS[0]}:{REDIS[1]} is not reachable")
    return f"redis://{REDIS[0]}:{REDIS[1]}/{random.randint(1, 15)}"


@pytest.fixture
def amqp_url() -> str:
    if not reachable(RABBITMQ):
        unavailable(f"RabbitMQ at {RABBITMQ[0]}:{RABBITMQ[1]} is not reachable")
    return f"amqp://guest:guest@{RABBITMQ[0]}:{RABBITMQ[1]}//"


@pytest.fixture
def queue_name() -> str:
    return f"va-test-{uuid.uuid4().hex[:10]}"
