from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.transit import servers


@pytest.fixture(scope="session")
def pg_tls() -> Iterator[servers.Postgres]:
    with servers.postgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def redis_tls() -> Iterator[servers.Redis]:
    with servers.redis() as r:
        yield r
