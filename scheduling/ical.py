"""iCalendar (RFC 5545) feeds of bookings: a renter's own, and an owner's on their offerings.

A small generator rather than a dependency: the feed needs one component and a handful of
properties. Text is escaped (backslash, semicolon, comma, newline) and lines are folded at 75
octets, CRLF-terminated; instants are UTC (``...Z``); the UID of a booking's event is stable, so a
calendar app updates the event as the booking moves through its states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from django.db.models import QuerySet

from accounts.models import User, hash_token
from scheduling.models import Booking, BookingFeed, BookingState
from scheduling.selectors import bookings_for_owner, bookings_for_renter

FEED_LIMIT = 500  # newest bookings in a feed: calendar apps poll it, so it stays small
PRODID = "-//Slice Market//Bookings//EN"
# VEVENT STATUS (RFC 5545 3.8.1.11): a request is tentative, a refused one cancelled, the rest confirmed
# (a booking released, preempted or failed after it started keeps the time it held, to when it ended).
TENTATIVE = (BookingState.REQUESTED,)
CANCELLED = (BookingState.REJECTED, BookingState.OUTBID)


def feed_user(token: str) -> User | None:
    """The active user whose feed address carries ``token`` (None: no such address, or a rotated one)."""
    feed = BookingFeed.objects.select_related("user").filter(token_hash=hash_token(token or "")).first()
    return feed.user if feed is not None and feed.user.is_active else None


def renter_feed_bookings(user: User) -> QuerySet[Booking]:
    return bookings_for_renter(user).exclude(state=BookingState.OUTBID).order_by("-id")[:FEED_LIMIT]


def owner_feed_bookings(user: User) -> QuerySet[Booking]:
    return (
        bookings_for_owner(user)
        .exclude(state__in=[BookingState.REQUESTED, BookingState.REJECTED, BookingState.OUTBID])
        .order_by("-id")[:FEED_LIMIT]
    )


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """A content line folded at 75 octets (never inside a UTF-8 character), continuations led by a space."""
    out, current, size = [], "", 0
    for char in line:
        width = len(char.encode())
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _status(b: Booking) -> str:
    if b.state in TENTATIVE:
        return "TENTATIVE"
    if b.state in CANCELLED or (b.ended_at is not None and b.ended_at <= b.starts_at):
        return "CANCELLED"
    return "CONFIRMED"


def _end(b: Booking) -> datetime:
    if b.ended_at is not None and b.starts_at < b.ended_at < b.ends_at:
        return b.ended_at
    return b.ends_at


def calendar(
    bookings: Iterable[Booking],
    *,
    name: str,
    link: Callable[[Booking], str],
    domain: str,
    renter_handles: bool = False,
) -> str:
    """The text/calendar body: one VEVENT per booking, ``link(booking)`` its page. ``renter_handles``:
    name each booking's renter (by public handle, never more) for an owner's feed."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
    lines.append(f"X-WR-CALNAME:{escape(name)}")
    for b in bookings:
        who = f" for {b.renter.handle}" if renter_handles else ""
        state = b.get_state_display()
        summary = f"{b.offering.name}: {b.profile.name}{who}"
        description = f"Booking {b.pk} is {state.lower()}"
        if b.reason:
            description += f" ({b.reason})"
        description += f".\n{b.vcpus} vCPU, {b.ram_mib} MiB RAM, {b.disk_gb} GB disk.\n{link(b)}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:booking-{b.pk}@{domain}",
            f"DTSTAMP:{stamp(b.updated_at)}",
            f"DTSTART:{stamp(b.starts_at)}",
            f"DTEND:{stamp(_end(b))}",
            f"SUMMARY:{escape(summary)}",
            f"STATUS:{_status(b)}",
            f"DESCRIPTION:{escape(description)}",
            f"URL:{link(b)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
