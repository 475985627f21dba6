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
