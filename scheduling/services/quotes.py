"""Quotes: a dynamic price for a slice, valid for MARKETPLACE_QUOTE_TTL.

Rules enforced here: quotes are only for dynamically priced slices; the price is the policy's
dynamic price at the offering's peak utilisation over the slice, recorded in the price history.
A quote used for a booking must be the renter's, for the same slice and duration, unused and
unexpired; an expired one is refused with a fresh quote offered (QuoteExpired).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, DomainError, ValidationFailed
from marketplace.lib.money import format_minor
from owners.models import PricingPolicy
from scheduling.errors import QuoteExpired
from scheduling.models import Quote
from scheduling.pricing import dynamic_unit_price
from scheduling.services.prices import PricePoint, prices_record
from scheduling.services.resolve import _Request, _resolve
from scheduling.services.state import _money, offering_peak
from scheduling.slices import SliceKey, utilisation


def _quote_fields(req: _Request, now: datetime) -> dict[str, Any]:
    peak = offering_peak(req.offering.pk, req.starts_at, req.ends_at)
    util = utilisation(peak, req.offering.sellable_capacity())
    unit = dynamic_unit_price(req.policy, util)
    return {
        "offering": req.offering,
        "profile": req.profile,
        "starts_at": req.starts_at,
        "ends_at": req.ends_at,
        "unit_price": unit,
        "units": req.units,
        "total_price": unit * req.units,
        "currency": req.policy.currency,
        "utilisation": util,
        "created_at": now,
        "expires_at": now + settings.MARKETPLACE_QUOTE_TTL,
    }


@transaction.atomic
def quote_create(*, actor: User, slice_id: str | SliceKey, duration: int | None = None) -> Quote:
    """A dynamic price for this slice, valid for MARKETPLACE_QUOTE_TTL; recorded in the price history when it changed."""
    now = clock.now()
    req = _resolve(actor=actor, slice_id=slice_id, duration=duration, image=None, now=now)
    if req.policy.model != PricingPolicy.Model.DYNAMIC:
        raise DomainError("Quotes are for dynamically priced slices; this one has a fixed price or an auction.")
    quote = Quote.objects.create(renter=actor, **_quote_fields(req, now))
    prices_record(
        [PricePoint(req.offering.pk, req.profile.pk, "dynamic", quote.unit_price, quote.currency, quote.utilisation)],
        at=now,
    )
    record_event(
        actor=actor,
        verb="quote.issued",
        target=quote,
        data={
            "unit_price": quote.unit_price,
            "currency": quote.currency,
            "utilisation": round(quote.utilisation, 4),
            "expires_at": quote.expires_at.isoformat(),
        },
    )
    return quote


def _quote_payload(quote: Quote) -> dict[str, Any]:
    return {
        "id": str(quote.pk),
        "unit_price": str(format_minor(quote.unit_price, quote.currency).split()[0]),
        "total_price": str(format_minor(quote.total_price, quote.currency).split()[0]),
        "currency": quote.currency,
        "expires_at": quote.expires_at.isoformat().replace("+00:00", "Z"),
    }


def _quote_seen(*, actor: User, req: _Request, quote_id: Any) -> Quote:
    """The renter's unused quote for this very slice, expired or not (the preview shows an expired one's
    fresh price; ``_quote_for`` renews it)."""
    try:
        quote_uuid = uuid.UUID(str(quote_id))
    except (ValueError, TypeError, AttributeError):
        raise ValidationFailed({"quote": ["Unknown quote."]})
    quote = Quote.objects.filter(pk=quote_uuid, renter=actor).first()
    if quote is None:
        raise ValidationFailed({"quote": ["Unknown quote."]})
    if (quote.offering_id, quote.profile_id, quote.starts_at, quote.ends_at) != (
        req.offering.pk,
        req.profile.pk,
        req.starts_at,
        req.ends_at,
    ):
        raise ValidationFailed({"quote": ["This quote is for another slice or duration."]})
    if quote.used_at is not None:
        raise ConflictError("This quote has already been used.")
    return quote


def _quote_for(*, actor: User, req: _Request, quote_id: Any, now: datetime) -> Quote:
    quote = _quote_seen(actor=actor, req=req, quote_id=quote_id)
    if quote.expires_at <= now:
        fresh = quote_create(actor=actor, slice_id=req.key, duration=req.units * req.offering.grid_seconds)
        raise QuoteExpired(
            f"The quote expired at {quote.expires_at:%H:%M:%S} UTC. A fresh quote is offered: "
            f"{_money(fresh.unit_price, fresh.currency)} per grid unit until {fresh.expires_at:%H:%M:%S} UTC.",
            extra={"quote": _quote_payload(fresh)},
        )
    return quote
