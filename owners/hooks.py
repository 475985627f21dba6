"""Hooks the owners app offers to higher apps (provisioning registers cloud drivers here).

Owners may not import provisioning; provisioning registers a connection tester
per driver name in its AppConfig.ready().
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from owners.models import Cloud


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str


class ConnectionTester(Protocol):
    """A driver's connection test: try the cloud's credentials and endpoints, say what happened.

    Called by owners.services.cloud_test_connection outside any transaction; an exception is reported
    to the owner as an unexpected failure.
    """

    def __call__(self, cloud: Cloud, /) -> ConnectionResult: ...


_testers: dict[str, ConnectionTester] = {}


def register_connection_tester(driver: str, tester: ConnectionTester) -> None:
    _testers[driver] = tester


def connection_tester(driver: str) -> ConnectionTester | None:
    return _testers.get(driver)


class StandbyCensus(Protocol):
    """Per standby pool id, how many of its servers are in each pool state now (provisioning's Server rows)."""

    def __call__(self, pool_ids: list[int], /) -> dict[int, dict[str, int]]: ...


_standby_census: list[StandbyCensus] = []


def register_standby_census(census: StandbyCensus) -> None:
    """Provisioning registers its count of pool servers (owners' API shows it; owners cannot import it)."""
    _standby_census[:] = [census]


def standby_census(pool_ids: list[int]) -> dict[int, dict[str, int]]:
    """The registered census, or no counts when provisioning is not installed."""
    if not _standby_census:
        return {pk: {} for pk in pool_ids}
    return _standby_census[0](pool_ids)
