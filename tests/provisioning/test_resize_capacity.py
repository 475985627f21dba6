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
