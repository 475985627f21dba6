"""The objects the permission matrix asks about, and the users who ask (issue 14, item 10).

One renter holds a booking (with its server), an SSH key, a card, a token and a webhook endpoint
with a delivery; one owner holds the cloud, offering, profile, price, window and standby settings
the booking is on. "Other" renter and owner hold things of their own (so they are real users of the
market, not empty accounts) but none of these. Staff come with TOTP on, with and without
permissions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from accounts.models import User
from accounts.services import api_token_create
from billing.models import PaymentMethod
from owners import services as owner_services
from owners.models import SliceProfile
from scheduling import services as market
from tests import factories
from tests.market_fixtures import NOW
from webhooks import services as webhooks
from webhooks.models import Delivery, Event

ROLES = ("anonymous", "renter", "other_renter", "owner", "other_owner", "staff_without_permission", "staff")

T10 = NOW.replace(hour=10) + timedelta(days=1)


@dataclass
class World:
    users: dict[str, User | None]
    tokens: dict[str, str]
    ids: dict[str, Any] = field(default_factory=dict)


def _staff(superuser: bool) -> User:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user = factories.UserFactory(is_staff=True, is_superuser=superuser, is_owner=False)
    TOTP.activate(user, generate_totp_secret())
    return user


def build() -> World:
    owner, other_owner = factories.owner(), factories.owner()
    renter, other_renter = factories.renter(), factories.renter()
    cloud = factories.cloud(owner)
    offer = factories.offering(owner, on=cloud, publish=True)
    window = factories.window(owner, offer, time(0, 0), time(23, 59))
    profile = owner_services.profile_create(
        actor=owner, name="Owner's own", flavor_name="m1.small", vcpus=2, ram_mib=4096, disk_gb=20, bandwidth_mbps=100
    )
    policy = offer.pricing_policies.get()
    factories.offering(other_owner, publish=True)
    for user in (renter, other_renter):
        factories.fund_renter(user, 1_000_000)
    booking = market.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    market.booking_request(actor=other_renter, slice_id=factories.slice_id(offer, T10 + timedelta(hours=1), 600))
    key = renter.ssh_keys.get()
    card = PaymentMethod.objects.create(user=renter, stripe_id="pm_matrix_card", brand="visa", last4="4242")
    endpoint, _ = webhooks.endpoint_create(
        actor=renter, url="https://hooks.example.com/in", event_types=["booking.confirmed"]
    )
    event = Event.objects.create(user=renter, type="booking.confirmed", body='{"id":"x"}')
    delivery = Delivery.objects.create(endpoint=endpoint, event=event, state="delivered")
    from notifications.kinds import Kind
    from notifications.models import Notification

    notice = Notification.objects.create(user=renter, kind=Kind.SERVER_READY, title="Asked by the matrix")
    users: dict[str, User | None] = {
        "anonymous": None,
        "renter": renter,
        "other_renter": other_renter,
        "owner": owner,
        "other_owner": other_owner,
        "staff_without_permission": _staff(superuser=False),
        "staff": _staff(superuser=True),
    }
    tokens = {}
    for role, user in users.items():
        if user is not None:
            scopes = ["read", "market", "billing"] + (["owner"] if user.is_owner or user.is_superuser else [])
            tokens[role] = api_token_create(actor=user, name="matrix", scopes=scopes)[1]
    token_id = renter.api_tokens.get().pk
    ids = {
        "cloud": cloud.pk,
        "offering": offer.pk,
        "window": window.pk,
        "profile": profile.pk,
        "policy": policy.pk,
        "booking": booking.pk,
        "key": key.pk,
        "card": card.pk,
        "token": token_id,
        "endpoint": endpoint.pk,
        "delivery": delivery.pk,
        "notification": notice.pk,
        "slice": factories.slice_id(offer, T10 + timedelta(hours=3), 600),
        "year": NOW.year,
        "month": NOW.month,
        "small": SliceProfile.objects.get(owner=None, name="Small").pk,
        "feed": market.booking_feed_rotate(actor=renter),  # the renter's calendar-feed token
    }
    return World(users=users, tokens=tokens, ids=ids)
