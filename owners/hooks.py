"""Hooks the owners app offers to higher apps (provisioning registers cloud drivers here).

Owners may not import provisioning; provisioning registers a connection tester
per driver name in its AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from owners.models import Cloud


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str


ConnectionTester = Callable[["Cloud"], ConnectionResult]
_testers: dict[str, ConnectionTester] = {}


def register_connection_tester(driver: str, tester: ConnectionTester) -> None:
    _testers[driver] = tester


def connection_tester(driver: str) -> ConnectionTester | None:
    return _testers.get(driver)
