"""The secret address of a user's calendar feed (scheduling.models.BookingFeed)."""

from __future__ import annotations

import secrets

from django.db import transaction

from accounts.models import User, hash_token
from audit.services import record_event
from marketplace.lib import clock
from scheduling.models import BookingFeed

FEED_PREFIX = "cal_"


@transaction.atomic
def booking_feed_rotate(*, actor: User) -> str:
    """Make the actor's feed address, or replace it (the old one stops answering at once); returns the
    new token, which is not stored (only its hash) and so is shown this once. Audited either way."""
    raw = FEED_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    feed = BookingFeed.objects.select_for_update().filter(user=actor).first()
    if feed is None:
        feed = BookingFeed.objects.create(user=actor, token_hash=hash_token(raw), created_at=now, rotated_at=now)
        record_event(actor=actor, verb="booking_feed.created", target=actor, data={})
    else:
        feed.token_hash = hash_token(raw)
        feed.rotated_at = now
        feed.save(update_fields=["token_hash", "rotated_at"])
        record_event(actor=actor, verb="booking_feed.rotated", target=actor, data={})
    return raw
