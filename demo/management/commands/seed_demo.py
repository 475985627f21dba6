"""Demo data: owners with clouds and offerings across all pricing models, renters with demo credit,
and a live market on them: bookings, an open auction round with bids, a dynamic-price quote.

Safe to run twice: everything is looked up by its natural key before it is created, and the
renters' credit and the owners' earnings (to try a payout with) are adjustments with fixed idempotency keys. A demo booking's natural key is (renter,
offering, profile) with a booking still to come or under way: while one is live nothing is booked;
once the demo's bookings are over, the next run books fresh ones, so the market never looks dead.
Bookings go through the engine's services (search, quote, request, bid) like a renter's: the
capacity checks, billing's funds check and holds, and the audit log all apply; a refusal (credit
spent, slice taken) is reported and skipped, never fatal. Demo clouds use the simulator driver:
the booking that starts within the minute is launched by the Celery worker once it runs (the
launch sweep would find it otherwise); the others wait for their start like any booking.

It lives in the demo app, the top layer, because it touches every app below it; the app is installed
only when DJANGO_DEBUG is on, and the command refuses to run when DEBUG is off (demo users have a
published password).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from billing import services as billing_services
from marketplace.lib import clock
from marketplace.lib.errors import DomainError
from marketplace.lib.money import format_minor
from owners import services as owner_services
from owners.models import Cloud, Offering, SliceProfile
from renters import services as renter_services
from scheduling import selectors as market_selectors
from scheduling import services as market
from scheduling.models import CLAIMING_STATES, AuctionRound, Booking, BookingState

DEMO_PASSWORD = "demo-pass-2026"
DEMO_CREDIT = 5000  # minor units: 50.00 EUR of prepaid balance for each demo renter
DEMO_EARNINGS = 2500  # minor units: 25.00 EUR of earnings for each demo owner, above the payout minimum
ADMIN = ("admin@demo.local", "Demo admin")
OWNERS = [("alice@demo.local", "Alice (owner)"), ("bob@demo.local", "Bob (owner)")]
# Public handles: what renters see of the demo owners, and owners of the demo renters (never their email).
HANDLES = {
    "admin@demo.local": "demo-admin",
    "alice@demo.local": "alice-cloud",
    "bob@demo.local": "bob-compute",
    "carol@demo.local": "carol",
    "dave@demo.local": "dave",
}
RENTERS = [("carol@demo.local", "Carol (renter)"), ("dave@demo.local", "Dave (renter)")]


def _user(email: str, name: str, *, owner: bool, renter: bool, staff: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        maker = User.objects.create_superuser if staff else User.objects.create_user
        user = maker(email, DEMO_PASSWORD, display_name=name, is_owner=owner, is_renter=renter)
        if email in HANDLES and not User.objects.filter(handle=HANDLES[email]).exists():
            user.handle = HANDLES[email]
            user.save(update_fields=["handle"])
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    if renter and not user.ssh_keys.exists():
        # The market refuses a booking nobody could log into (no key, no user-data): demo renters get a
        # key whose private half is thrown away; a visitor adds their own to log into a real server.
        renter_services.ssh_key_add(actor=user, name="demo key (add your own)", public_key=_throwaway_public_key())
    return user


def _throwaway_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " demo"


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


# A demo booking is "there" while the renter holds a bid or a claim on that offering and profile that
# has not ended yet.
LIVE_STATES = (BookingState.REQUESTED, *CLAIMING_STATES)


def _has_live_booking(renter: User, offering: Offering, profile: SliceProfile) -> bool:
    return Booking.objects.filter(
        renter=renter, offering=offering, profile=profile, state__in=LIVE_STATES, ends_at__gt=clock.now()
    ).exists()


def _first_slice(
    renter: User, offering: Offering, profile: SliceProfile, *, after: datetime, duration: int
) -> market_selectors.Slice | None:
    """The earliest slice a renter could take from ``after`` on, as search lists it."""
    query = market_selectors.SearchQuery(
        start=after,
        end=after + timedelta(days=7),
        offering_id=offering.pk,
        profile_id=profile.pk,
        duration=duration,
        ordering="start",
        per_offering=1,
    )
    found = market_selectors.slices_search(user=renter, q=query, limit=1)
    return found[0] if found else None


def _day_at(days: int, hour: int) -> datetime:
    """``hour``:00 UTC, ``days`` days from today."""
    day = clock.now().date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


class Command(BaseCommand):
    help = "Load demo owners, clouds, offerings (fixed, auction, dynamic) and renters. Safe to run twice."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo loads demo users with a published password: it runs only with DEBUG on (DJANGO_DEBUG=true)."
            )
        admin = _user(*ADMIN, owner=True, renter=True, staff=True)
        alice = _user(*OWNERS[0], owner=True, renter=False)
        bob = _user(*OWNERS[1], owner=True, renter=True)
        for owner in (admin, alice, bob):  # staff vet owners before they may publish; the demo's are approved
            owner_services.owner_approve(actor=admin, owner=owner)
        renters = []
        for email, name in RENTERS:
            renter = _user(email, name, owner=False, renter=True)
            renters.append(renter)
            billing_services.adjustment_post(
                actor=admin,
                user=renter,
                account_kind="renter_balance",
                amount=DEMO_CREDIT,
                currency="EUR",
                reason="Demo credit",
                idempotency_key=f"demo-credit-{renter.pk}",
            )

        for owner in (alice, bob):
            # Earnings to pay out, so an owner can try payouts end to end against the Connect stand-in.
            billing_services.adjustment_post(
                actor=admin,
                user=owner,
                account_kind="owner_payable",
                amount=DEMO_EARNINGS,
                currency="EUR",
                reason="Demo earnings (to try a payout)",
                idempotency_key=f"demo-earnings-{owner.pk}",
            )

        fra = _cloud(alice, "Frankfurt lab (simulated)", "eu-central")
        osl = _cloud(bob, "Oslo rack (simulated)", "eu-north")
        common = {"disk_gb": 400, "bandwidth_mbps": 10000, "allowed_images": ["ubuntu-24.04", "debian-12"]}
        general = _offering(
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
        night = _offering(
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
        burst = _offering(
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
        self._market(*renters, general=general, night=night, burst=burst)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  admin:   {ADMIN[0]} / {DEMO_PASSWORD}")
        for email, _ in OWNERS:
            self.stdout.write(
                f"  owner:   {email} / {DEMO_PASSWORD}  ({format_minor(DEMO_EARNINGS, 'EUR')} demo earnings: "
                "Revenue and payouts, set up payouts, pay out)"
            )
        for email, _ in RENTERS:
            self.stdout.write(f"  renter:  {email} / {DEMO_PASSWORD}  ({format_minor(DEMO_CREDIT, 'EUR')} demo credit)")

    # ---- the live market ---------------------------------------------------------------------------

    def _market(self, carol: User, dave: User, *, general: Offering, night: Offering, burst: Offering) -> None:
        small, medium, large = (SliceProfile.objects.get(owner=None, name=n) for n in ("Small", "Medium", "Large"))
        now = clock.now()
        # Fixed prices: one starting within the minute (the worker launches it on the simulator, so it
        # is soon running), two later ones.
        self._buy(carol, general, small, after=now, duration=3600, note="starts now")
        self._buy(dave, general, medium, after=_day_at(1, 9), duration=3 * 3600, note="tomorrow")
        self._buy(carol, general, large, after=_day_at(1, 14), duration=3600, note="tomorrow")
        # An open auction round: two sealed bids on the same night slice, cleared when bidding closes.
        self._bids(night, medium, [(carol, "0.06"), (dave, "0.08")], after=now + timedelta(hours=1))
        # A dynamic price: a quote, then a booking at the quoted price.
        self._buy(
            dave, burst, small, after=now + timedelta(hours=1), duration=600, note="quoted dynamic price", quoted=True
        )

    def _attempt(self, what: str, action: Callable[[], Booking | None]) -> None:
        """One demo booking in its own savepoint: a refusal leaves nothing behind and is reported."""
        try:
            with transaction.atomic():
                booking = action()
        except DomainError as exc:
            self.stdout.write(f"  skipped {what}: {exc.message}")
            return
        if booking is not None:
            price = booking.total_price if booking.total_price is not None else (booking.bid_amount or 0)
            self.stdout.write(
                f"  {what}: booking {booking.pk} {booking.state}, "
                f"{booking.starts_at:%Y-%m-%d %H:%M} UTC, {format_minor(int(price), booking.currency)}"
                + (" per grid unit" if booking.bid_amount else "")
            )

    def _buy(
        self,
        renter: User,
        offering: Offering,
        profile: SliceProfile,
        *,
        after: datetime,
        duration: int,
        note: str,
        quoted: bool = False,
    ) -> None:
        """Buy the first slice after ``after``; ``quoted``: at a dynamic price quoted first."""
        if _has_live_booking(renter, offering, profile):
            return

        def book() -> Booking | None:
            found = _first_slice(renter, offering, profile, after=after, duration=duration)
            if found is None:
                return None
            quote = market.quote_create(actor=renter, slice_id=found.id, duration=duration) if quoted else None
            return market.booking_request(
                actor=renter, slice_id=found.id, duration=duration, quote_id=quote.pk if quote else None
            )

        self._attempt(f"{renter.email} {profile.name} on {offering.name} ({note})", book)

    def _bids(
        self, offering: Offering, profile: SliceProfile, bids: list[tuple[User, str]], *, after: datetime
    ) -> None:
        bidders = [(r, b) for r, b in bids if not _has_live_booking(r, offering, profile)]
        if not bidders:
            return
        # Join the round the other demo bidders are in, if it is still open; else the first night slice.
        open_round = (
            AuctionRound.objects.filter(
                offering=offering, profile=profile, state=AuctionRound.State.OPEN, closes_at__gt=clock.now()
            )
            .order_by("starts_at")
            .first()
        )
        start = open_round.starts_at if open_round else after
        duration = int((open_round.ends_at - open_round.starts_at).total_seconds()) if open_round else 3600
        found = _first_slice(bidders[0][0], offering, profile, after=start, duration=duration)
        if found is None:
            return
        for renter, bid in bidders:

            def place(renter: User = renter, bid: str = bid) -> Booking | None:
                return market.booking_request(actor=renter, slice_id=found.id, bid=bid)

            self._attempt(f"{renter.email} bid on {offering.name}", place)
