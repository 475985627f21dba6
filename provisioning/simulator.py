"""The local simulator driver: a pretend cloud for the demo. It launches no real server."""

from __future__ import annotations

from owners.hooks import ConnectionResult
from owners.models import Cloud


def test_connection(cloud: Cloud) -> ConnectionResult:
    return ConnectionResult(True, "Simulator: always reachable (no real servers are launched).")
