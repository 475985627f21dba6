"""Demo data: owners with clouds and offerings across all pricing models, and renters with demo credit.

Safe to run twice: everything is looked up by its natural key before it is created, and the
credit is an adjustment with a fixed idempotency key. It lives in billing, the top layer, because
it touches every app below it.
"""

from __future__ import annotations

from datetime import time

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from billing import services as billing_services
from owners import services as owner_services
from owners.models import Cloud, Offering, SliceProfile

DEMO_PASSWORD = "demo-pass-2026"
DEMO_CREDIT = 5000  # minor units: 50.00 EUR of prepaid balance for each demo renter
ADMIN = ("admin@demo.local", "Demo admin")
OWNERS = [("alice@demo.local", "Alice (owner)"), ("bob@demo.local", "Bob (owner)")]
RENTERS = [("carol@demo.local", "Carol (renter)"), ("dave@demo.local", "Dave (renter)")]


def _user(email: str, name: str, *, owner: bool, renter: bool, staff: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        maker = User.objects.create_superuser if staff else User.objects.create_user
        user = maker(email, DEMO_PASSWORD, display_name=name, is_owner=owner, is_renter=renter)
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def _cloud(owner: User, name: str, region: str) -> Cloud:
    cloud = Cloud.objects.filter(owner=owner, name=name).first()
    return cloud or owner_services.cloud_create(
        actor=owner, name=name, driver=Cloud.Driver.SIMULATOR, region_name=region
    )


def _offering(owner: User, cloud: Cloud, name: str, *, windows=(), prices=(), **fields) -> Offering:  # type: ignore[no-untyped-def]
    offering = Offering.objects.filter(owner=owner, name=name).first()
    if offering is not None:
        return offering
    offering = owner_services.offering_create(actor=owner, cloud=cloud, name=name, **fields)
    for weekdays, start, end in windows:
        owner_services.window_add(actor=owner, offering=offering, weekdays=weekdays, start_time=start, end_time=end)
    for profile_name, pricing in prices:
        profile = SliceProfile.objects.get(owner=None, name=profile_name)
        owner_services.pricing_policy_set(actor=owner, offering=offering, profile=profile, **pricing)
    return owner_services.offering_set_status(actor=owner, offering=offering, status="published")


class Command(BaseCommand):
    help = "Load demo owners, clouds, offerings (fixed, auction, dynamic) and renters. Safe to run twice."

    @transaction.atomic
    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        admin = _user(*ADMIN, owner=True, renter=True, staff=True)
        alice = _user(*OWNERS[0], owner=True, renter=False)
        bob = _user(*OWNERS[1], owner=True, renter=True)
        for email, name in RENTERS:
            renter = _user(email, name, owner=False, renter=True)
            billing_services.adjustment_post(
                actor=admin,
                user=renter,
                account_kind="renter_balance",
                amount=DEMO_CREDIT,
                currency="EUR",
                reason="Demo credit",
                idempotency_key=f"demo-credit-{renter.pk}",
            )

        fra = _cloud(alice, "Frankfurt lab (simulated)", "eu-central")
        osl = _cloud(bob, "Oslo rack (simulated)", "eu-north")
        common = {"disk_gb": 400, "bandwidth_mbps": 10000, "allowed_images": ["ubuntu-24.04", "debian-12"]}
        _offering(
            alice,
            fra,
            "Frankfurt general purpose",
            vcpus=32,
            ram_mib=131072,
            grid_seconds=60,
            min_length_seconds=60,
            max_length_seconds=4 * 3600,
            description="Always-on capacity at a fixed price.",
            prices=[
                ("Small", {"model": "fixed", "currency": "EUR", "price_per_unit": 2}),
                ("Medium", {"model": "fixed", "currency": "EUR", "price_per_unit": 4}),
                ("Large", {"model": "fixed", "currency": "EUR", "price_per_unit": 8, "release_charge": "full"}),
            ],
            **common,
        )
        _offering(
            alice,
            fra,
            "Frankfurt night auction",
            vcpus=64,
            ram_mib=262144,
            grid_seconds=300,
            min_length_seconds=300,
            max_length_seconds=8 * 3600,
            timezone="Europe/Berlin",
            description="Off-peak capacity, 22:00-06:00 Berlin time, sold by sealed bids.",
            windows=[([0, 1, 2, 3, 4, 5, 6], time(22, 0), time(6, 0))],
            prices=[
                (
                    "Medium",
                    {
                        "model": "auction",
                        "currency": "EUR",
                        "reserve_price": 5,
                        "bidding_closes_seconds": 120,
                        "clearing_rule": "uniform",
                    },
                ),
                (
                    "Large",
                    {
                        "model": "auction",
                        "currency": "EUR",
                        "reserve_price": 10,
                        "bidding_closes_seconds": 120,
                        "clearing_rule": "pay_as_bid",
                    },
                ),
            ],
            **common,
        )
        _offering(
            bob,
            osl,
            "Oslo burst",
            vcpus=16,
            ram_mib=65536,
            grid_seconds=5,
            min_length_seconds=5,
            max_length_seconds=3600,
            timezone="Europe/Oslo",
            description="Seconds-long slices at a price that follows demand.",
            windows=[([0, 1, 2, 3, 4], time(8, 0), time(20, 0))],
            prices=[
                (
                    "Micro",
                    {
                        "model": "dynamic",
                        "currency": "EUR",
                        "base_price": 1,
                        "floor_price": 1,
                        "cap_price": 5,
                        "surge_curve": [[0, 1.0], [50, 1.5], [80, 3.0], [100, 5.0]],
                    },
                ),
                (
                    "Small",
                    {
                        "model": "dynamic",
                        "currency": "EUR",
                        "base_price": 2,
                        "floor_price": 1,
                        "cap_price": 8,
                        "surge_curve": [[0, 1.0], [60, 2.0], [100, 4.0]],
                    },
                ),
            ],
            **common,
        )
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  admin:   {ADMIN[0]} / {DEMO_PASSWORD}")
        for email, _ in OWNERS:
            self.stdout.write(f"  owner:   {email} / {DEMO_PASSWORD}")
        for email, _ in RENTERS:
            self.stdout.write(f"  renter:  {email} / {DEMO_PASSWORD}  (50.00 EUR demo credit)")
