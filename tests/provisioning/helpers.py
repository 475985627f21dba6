"""Bookings for provisioning tests: created straight in the state under test (the engine's own tests cover
how they get there); the engine's transition service moves them afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from marketplace.lib import clock
from owners.models import Offering, SliceProfile
from owners.predefined import ensure_predefined_profiles  # noqa: F401 - re-exported for the tests
from renters.models import SSHPublicKey
from scheduling.models import Booking


def _real_key() -> str:
    """A real ed25519 public key (Nova checks key pairs by computing their fingerprint)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


ED25519 = _real_key() + " renter@test"


def add_ssh_key(user: Any, name: str = "laptop") -> SSHPublicKey:
    key = SSHPublicKey(user=user, name=name, public_key=ED25519)
    key.full_clean(exclude=["user"])
    key.save()
    return key


def booking(
    renter: Any,
    offering: Offering,
    *,
    state: str = "confirmed",
    starts_at: datetime | None = None,
    seconds: int = 600,
    profile: str | SliceProfile = "Small",
    image: str = "",
) -> Booking:
    prof = SliceProfile.objects.get(owner=None, name=profile) if isinstance(profile, str) else profile
    start = starts_at or clock.now()
    return Booking.objects.create(
        renter=renter,
        offering=offering,
        profile=prof,
        pricing_model="fixed",
        state=state,
        starts_at=start,
        ends_at=start + timedelta(seconds=seconds),
        vcpus=prof.vcpus,
        ram_mib=prof.ram_mib,
        disk_gb=prof.disk_gb,
        bandwidth_mbps=prof.bandwidth_mbps,
        image=image or offering.allowed_images[0],
        grid_seconds=offering.grid_seconds,
        currency="USD",
        unit_price=10,
        total_price=10 * (seconds // offering.grid_seconds),  # as the engine prices it: unit × grid units
        confirmed_at=clock.now(),
    )


def fund(user: Any, amount: int, currency: str = "USD") -> None:
    """Prepaid balance for a renter (a staff adjustment in billing), so billing's hold does not fail the booking."""
    from billing import services as billing_services
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True, is_superuser=True)  # may post adjustments (billing.post_adjustment)
    billing_services.adjustment_post(
        actor=staff,
        user=user,
        account_kind="renter_balance",
        amount=amount,
        currency=currency,
        reason="test funds",
        idempotency_key=f"fund-{user.pk}",
    )


def end_due() -> list[int]:
    """What beat does once slices are over: the engine's end sweep (scheduling.services.bookings_end_due ends the bookings),
    then provisioning's reclaim sweep (hand-overs to adjacent slices first). The ids of servers to reclaim."""
    from provisioning import services
    from scheduling import services as engine

    engine.bookings_end_due()
    return services.hand_over_or_reclaim_due()
