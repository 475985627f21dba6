from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def fast_simulator(settings):  # type: ignore[no-untyped-def]
    settings.SIMULATOR_LAUNCH_SECONDS = 0
    settings.SIMULATOR_RESIZE_SECONDS = 0
    settings.SIMULATOR_FAIL_RATE = 0
    settings.PROVISIONING_LEAD_SECONDS = 60
    settings.PROVISIONING_ACTIVE_TIMEOUT_SECONDS = 5
    settings.METERING_INTERVAL_SECONDS = 60
    return settings


@pytest.fixture
def sim_offering(owner, fast_simulator):  # type: ignore[no-untyped-def]
    offer = factories.offering(owner, publish=True, allowed_images=["ubuntu-24.04", "debian-12"])
    factories.price(owner, offer, profile="Medium")
    return offer
