from __future__ import annotations

# The engine's shared fixtures: a frozen calendar and hooks without billing's or provisioning's receivers.
from tests.market_fixtures import NOW, _engine_only, _frozen_calendar, notified

__all__ = ["NOW", "_engine_only", "_frozen_calendar", "notified"]
