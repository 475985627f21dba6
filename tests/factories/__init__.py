"""Test data built through the same services the portals use (so permissions and audit are real)."""

from __future__ import annotations

import itertools
from datetime import time
from typing import Any

import factory
from allauth.account.models import EmailAddress

from accounts.models import User
from marketplace.lib import clock
from owners import services as owner_services
from owners.models import Cloud, Offering, OwnerVetting, PricingPolicy, SliceProfile

PASSWORD = "correct-horse-battery-staple"


def _public_key() -> str:
    """A real ed25519 public key line (its private half is thrown away): what a factory renter has on file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


RENTER_KEY = _public_key() + " factory@test"
_seq = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    display_name = factory.Sequence(lambda n: f"User {n}")
    is_owner = False
    is_renter = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)

    @factory.post_generation
    def ssh_key(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """A renter has an SSH key on file unless ``ssh_key=False``: the market refuses a booking that
        would give a server nobody can log into (no key, no user-data)."""
        if create and self.is_renter and extracted is not False:
            from renters.models import SSHPublicKey

            key = SSHPublicKey(user=self, name="factory key", public_key=RENTER_KEY)
            key.full_clean(exclude=["user"])
            key.save()

    @factory.post_generation
    def approved(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """Owners come approved by staff (they may publish), as most tests need; ``approved=False``
        makes one still awaiting approval."""
        if create and self.is_owner and extracted is not False:
            OwnerVetting.objects.create(owner=self, approved_at=clock.now())


def owner(**kwargs: Any) -> User:
    return UserFactory(is_owner=True, is_renter=False, **kwargs)


def renter(**kwargs: Any) -> User:
    return UserFactory(is_owner=False, is_renter=True, **kwargs)


def cloud(actor: User, **kwargs: Any) -> Cloud:
    data = {"name": f"cloud-{next(_seq)}", "driver": "simulator", "region_name": "RegionOne"} | kwargs
    return owner_services.cloud_create(actor=actor, **data)


def offering(
    actor: User,
    *,
    on: Cloud | None = None,
    publish: bool = False,
    profile: str = "Small",
    pricing: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Offering:
    data = {
        "name": f"offering-{next(_seq)}",
        "vcpus": 16,
        "ram_mib": 65536,
        "disk_gb": 500,
        "bandwidth_mbps": 1000,
        "grid_seconds": 60,
        "min_length_seconds": 60,
        "max_length_seconds": 7200,
        "allowed_images": ["ubuntu-24.04"],
    } | kwargs
    result = owner_services.offering_create(actor=actor, cloud=on or cloud(actor), **data)
    if pricing is not None or publish:
        price(actor, result, profile=profile, **(pricing or {"model": "fixed", "price_per_unit": 10}))
    if publish:
        result = owner_services.offering_set_status(actor=actor, offering=result, status="published")
    return result


def price(actor: User, offer: Offering, *, profile: str = "Small", **kwargs: Any) -> PricingPolicy:
    prof = SliceProfile.objects.get(owner=None, name=profile) if isinstance(profile, str) else profile
    data = {"model": "fixed", "currency": "USD", "price_per_unit": 10} | kwargs
    return owner_services.pricing_policy_set(actor=actor, offering=offer, profile=prof, **data)


def window(actor: User, offer: Offering, start: time, end: time, weekdays: list[int] | None = None):  # type: ignore[no-untyped-def]
    return owner_services.window_add(
        actor=actor, offering=offer, weekdays=weekdays or list(range(7)), start_time=start, end_time=end
    )


# ---- market engine (scheduling) helpers ----------------------------------------------------------


def slice_id(offer: Offering, start: Any, length: int, profile: str = "Small") -> str:
    """The opaque id of a slice (as search would list it)."""
    from scheduling.slices import SliceKey

    prof = SliceProfile.objects.get(owner=None, name=profile) if isinstance(profile, str) else profile
    return SliceKey(offer.pk, prof.pk, int(start.timestamp()), length).encode()


def auction_offering(
    actor: User,
    *,
    profile: str = "Small",
    reserve: int = 10,
    rule: str = "pay_as_bid",
    closes: int = 600,
    **kwargs: Any,
) -> Offering:
    return offering(
        actor,
        publish=True,
        profile=profile,
        pricing={
            "model": "auction",
            "reserve_price": reserve,
            "bidding_closes_seconds": closes,
            "clearing_rule": rule,
        },
        **kwargs,
    )


def dynamic_offering(
    actor: User,
    *,
    profile: str = "Small",
    base: int = 100,
    floor: int = 50,
    cap: int = 300,
    curve: list | None = None,
    **kwargs: Any,
) -> Offering:
    return offering(
        actor,
        publish=True,
        profile=profile,
        pricing={
            "model": "dynamic",
            "base_price": base,
            "floor_price": floor,
            "cap_price": cap,
            "surge_curve": curve if curve is not None else [[0, 1.0], [50, 1.5], [100, 3.0]],
        },
        **kwargs,
    )


def fund_renter(renter: User, amount: int, currency: str = "USD") -> None:
    """Prepaid balance for a renter (billing's funds check refuses bookings without it): a staff credit."""
    from billing import services as billing_services

    staff = UserFactory(is_staff=True, is_superuser=True, is_owner=False, is_renter=False)  # may post adjustments
    billing_services.adjustment_post(
        actor=staff,
        user=renter,
        account_kind="renter_balance",
        amount=amount,
        currency=currency,
        reason="test funds",
        idempotency_key=f"fund-{renter.pk}-{next(_seq)}",
    )
