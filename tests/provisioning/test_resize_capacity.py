"""A resize moves the booking's claim: the engine's capacity trigger refuses one that overbooks the offering."""

from __future__ import annotations

import pytest

from marketplace.lib.errors import ConflictError
from owners.models import SliceProfile
from provisioning import services
from provisioning.models import Server
from scheduling.models import Booking
from tests import factories
from tests.provisioning.helpers import booking, ensure_predefined_profiles

pytestmark = pytest.mark.django_db(transaction=True)


def test_resize_beyond_free_capacity_is_refused_and_changes_nothing(owner, renter, fast_simulator):  # type: ignore[no-untyped-def]
    ensure_predefined_profiles()
    offering = factories.offering(owner, publish=True, vcpus=2, ram_mib=8192)
    factories.price(owner, offering, profile="Medium")
    mine = booking(renter, offering)
    booking(factories.renter(), offering)  # the other vCPU is taken for the same period
    services.server_launch(booking_id=mine.pk)
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    with pytest.raises(ConflictError, match="no capacity"):
        services.booking_change_profile(actor=renter, booking_id=mine.pk, profile_id=medium.pk)
    mine.refresh_from_db()
    assert (mine.profile.name, mine.vcpus) == ("Small", 1)
    assert Server.objects.get(booking=mine).state == "active"
    assert Booking.objects.get(pk=mine.pk).state == "running"


def test_resize_reprices_the_rest_and_a_refused_resize_puts_profile_and_price_back(
    owner, renter, fast_simulator, monkeypatch
):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    import time_machine

    from marketplace.lib import clock
    from provisioning.drivers.simulator import SimulatorDriver
    from scheduling import services as engine
    from scheduling.services import PricePeriod
    from tests.provisioning.helpers import fund

    ensure_predefined_profiles()
    offering = factories.offering(owner, publish=True)  # Small at 0.10 per minute
    factories.price(owner, offering, profile="Medium", price_per_unit=30)
    fund(renter, 10_000)
    start = clock.now().replace(microsecond=0)
    mine = booking(renter, offering, starts_at=start)  # ten minutes of Small: 1.00
    services.server_launch(booking_id=mine.pk)
    medium = SliceProfile.objects.get(owner=None, name="Medium")
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        server = services.booking_change_profile(actor=renter, booking_id=mine.pk, profile_id=medium.pk)
    mine.refresh_from_db()
    # Four minutes used at 0.10 (0.40), the six left at 0.30 (1.80).
    assert (mine.profile.name, mine.vcpus, mine.unit_price, mine.total_price) == ("Medium", 2, 30, 220)
    assert Server.objects.get(pk=server.pk).state == "resizing"

    # The cloud keeps the old flavor (no room for the new one): the renter keeps, and pays for, Small.
    monkeypatch.setattr(SimulatorDriver, "resize_server", lambda self, server_id, flavor_id: None)
    services.server_resize_run(server_id=server.pk)
    mine.refresh_from_db()
    assert (mine.profile.name, mine.vcpus, mine.unit_price, mine.total_price) == ("Small", 1, 10, 100)
    assert engine.price_schedule(mine) == [PricePeriod(start, start + timedelta(minutes=10), 10, 100)]
    refused = Server.objects.get(pk=server.pk)
    assert refused.state == "active" and refused.error_message.startswith("Resize refused:")
