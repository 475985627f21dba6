"""Notifications written from the same in-transaction events the webhooks' outbox is fed from.

The engine's ``booking_events`` (scheduling.hooks) and billing's ``billing_event`` (billing.hooks)
call these receivers inside the transaction of the change: the notification rows commit or roll back
with it, and their emails are sent after commit (notifications.email, with a sweep for lost sends).
Each user's preferences (notifications.models.Preference) say per kind whether it shows in the
portal and whether it is emailed; a kind switched off both ways writes nothing.

Texts are written once, in the recipient's own time zone and naming it, so the portal list and the
email say the same thing. A receiver never breaks the market: its writes run in a savepoint whose
error is logged and swallowed (that notification is lost; the log says which).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.urls import reverse

from accounts.models import User
from billing import hooks as billing_hooks
from marketplace.lib import enqueue
from marketplace.lib.money import format_minor
from notifications.kinds import Kind
from notifications.models import Notification, Preference
from provisioning import selectors as provisioning_selectors
from scheduling import hooks as engine_hooks
from scheduling.models import Booking, BookingState

log = logging.getLogger(__name__)
S = BookingState
EMAIL_TASK = "notifications.send_email"
ENDED = {S.COMPLETED, S.RELEASED, S.PREEMPTED, S.FAILED}


@dataclass(frozen=True)
class Draft:
    """A notification to write, before the user's preferences are applied."""

    user_id: int
    kind: str
    title: str
    body: str
    link: str = ""
    booking_id: int | None = None


def zone_of(user: User | None) -> ZoneInfo:
    try:
        return ZoneInfo(user.time_zone_name if user is not None else "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def at(value: datetime | None, zone: ZoneInfo) -> str:
    """An instant as the recipient reads it, naming the zone: ``2026-12-01 19:00:00 Asia/Tokyo``."""
    if value is None:
        return "—"
    return f"{value.astimezone(zone):%Y-%m-%d %H:%M:%S} {zone.key}"


def _money(amount: int | None, currency: str) -> str:
    return "—" if amount is None else format_minor(int(amount), currency)


# ---- writing, with the preferences ---------------------------------------------------------------


def write(drafts: Sequence[Draft]) -> list[Notification]:
    """Rows for the drafts each user wants (portal, email or both); the emails are sent after commit."""
    if not drafts:
        return []
    prefs = {
        (p.user_id, p.kind): p
        for p in Preference.objects.filter(user_id__in={d.user_id for d in drafts}, kind__in={d.kind for d in drafts})
    }
    rows: list[Notification] = []
    for d in drafts:
        pref = prefs.get((d.user_id, d.kind))
        portal, email = (pref.portal, pref.email) if pref is not None else (True, True)
        if not (portal or email):
            continue
        rows.append(
            Notification(
                user_id=d.user_id,
                kind=d.kind,
                title=d.title[:200],
                body=d.body,
                link=d.link[:300],
                booking_id=d.booking_id,
                in_portal=portal,
                email_state=Notification.EmailState.PENDING if email else Notification.EmailState.NONE,
            )
        )
    if not rows:
        return []
    Notification.objects.bulk_create(rows)
    for row in rows:
        if row.email_state == Notification.EmailState.PENDING:
            enqueue.send_on_commit(EMAIL_TASK, row.pk)
    return rows


def _safely(what: str, drafts_of: Any, *args: Any) -> None:
    try:
        with transaction.atomic():  # a savepoint: a notification error never breaks the market
            write(drafts_of(*args))
    except Exception:
        log.exception("notifications: could not write the notifications for %s", what)


# ---- the engine's booking events -----------------------------------------------------------------


def _booking_link(booking: Booking) -> str:
    return reverse("scheduling:my_bookings") + f"#booking-{booking.pk}"


def _server_link(booking: Booking) -> str:
    return reverse("provisioning:booking_server", args=[booking.pk])


def _slice(booking: Booking, zone: ZoneInfo) -> str:
    return f"{booking.offering.name} ({booking.profile.name}), {at(booking.starts_at, zone)} to {at(booking.ends_at, zone)}"


def _connection(booking: Booking) -> str:
    try:
        info = provisioning_selectors.connection_info(booking)
    except Exception:
        log.warning("notifications: no connection info for booking %s", booking.pk, exc_info=True)
        info = None
    return str((info or {}).get("ssh") or "")


def _charge(booking: Booking, outcome: str) -> str:
    preview = engine_hooks.charge_preview(booking, booking.ended_at or booking.ends_at, outcome)
    if preview is None:
        return "Its charge appears on your billing page."
    text = f"Charged {_money(preview.amount, preview.currency)}"
    if preview.refund:
        text += f"; {_money(preview.refund, preview.currency)} of what was held returns to you"
    return text + "."


_OUTCOME: dict[str, str] = {
    S.COMPLETED: "it ran to its end",
    S.RELEASED: "you released it",
    S.PREEMPTED: "its owner preempted it",
    S.FAILED: "its server failed",
}


def _renter_draft(e: engine_hooks.BookingEvent, b: Booking) -> Draft | None:
    zone = zone_of(b.renter)
    to = e.to_state
    if e.kind != "transition":
        return None
    if to == S.CONFIRMED and "clearing_price" in e.data:
        return Draft(
            b.renter_id,
            Kind.BID_WON,
            f"Auction won: booking {b.pk} on {b.offering.name}",
            f"Your bid won {_slice(b, zone)} at {_money(e.data.get('clearing_price'), b.currency)} per grid unit, "
            f"{_money(b.total_price, b.currency)} in all.",
            _booking_link(b),
            b.pk,
        )
    if to == S.OUTBID:
        return Draft(
            b.renter_id,
            Kind.BID_OUTBID,
            f"Outbid on {b.offering.name}",
            f"Your bid of {_money(b.bid_amount, b.currency)} per grid unit for {_slice(b, zone)} was outbid."
            + (f" {b.reason}" if b.reason else ""),
            _booking_link(b),
            b.pk,
        )
    if to == S.REJECTED and b.auction_round_id:  # a purchase refused is answered at once; a bid at clearing
        return Draft(
            b.renter_id,
            Kind.BID_REFUSED,
            f"Winning bid refused: booking {b.pk} on {b.offering.name}",
            f"Your bid of {_money(b.bid_amount, b.currency)} per grid unit won {_slice(b, zone)} but could not be "
            "confirmed." + (f" {b.reason}" if b.reason else ""),
            _booking_link(b),
            b.pk,
        )
    if to == S.PROVISIONING:
        return Draft(
            b.renter_id,
            Kind.SLICE_STARTING,
            f"Booking {b.pk} is starting",
            f"Your slice {_slice(b, zone)} is starting: its server is being prepared. You are told when it is ready.",
            _server_link(b),
            b.pk,
        )
    if to == S.RUNNING:
        command = _connection(b)
        how = f"Connect with: {command} (with your SSH key)." if command else "Its address is on the server page."
        return Draft(
            b.renter_id,
            Kind.SERVER_READY,
            f"Server ready for booking {b.pk}",
            f"The server of {_slice(b, zone)} is running. {how} It runs until {at(b.ends_at, zone)}.",
            _server_link(b),
            b.pk,
        )
    if to == S.NOTICE:
        deadline = b.preempt_deadline
        return Draft(
            b.renter_id,
            Kind.PREEMPTION_NOTICE,
            f"Preemption notice: booking {b.pk} ends at {at(deadline, zone)}",
            f"The owner of {b.offering.name} takes the capacity back: booking {b.pk} ({_slice(b, zone)}) "
            f"ends at {at(deadline, zone)}. Save your work before then; the unused part is refunded."
            + (f" Reason: {b.reason}" if b.reason else ""),
            _server_link(b),
            b.pk,
        )
    if to in ENDED:
        return Draft(
            b.renter_id,
            Kind.SLICE_ENDED,
            f"Booking {b.pk} ended: {_OUTCOME[to]}",
            f"Your slice {_slice(b, zone)} ended at {at(b.ended_at or e.at, zone)}: {_OUTCOME[to]}. "
            + _charge(b, to)
            + (f" {b.reason}" if to == S.FAILED and b.reason else ""),
            _booking_link(b),
            b.pk,
        )
    return None


def _owner_draft(e: engine_hooks.BookingEvent, b: Booking) -> Draft | None:
    if e.kind != "transition":
        return None
    owner = b.offering.owner
    zone = zone_of(owner)
    market = reverse("scheduling:owner_market")
    if e.to_state == S.CONFIRMED:
        return Draft(
            owner.pk,
            Kind.BOOKING_RECEIVED,
            f"New booking {b.pk} on {b.offering.name}",
            f"{b.renter.handle} booked {_slice(b, zone)} for {_money(b.total_price, b.currency)}.",
            market,
            b.pk,
        )
    if e.to_state == S.FAILED:
        return Draft(
            owner.pk,
            Kind.SERVER_FAILED,
            f"A server failed: booking {b.pk} on {b.offering.name}",
            f"The server of booking {b.pk} ({_slice(b, zone)}) failed"
            + (f": {b.reason}" if b.reason else ".")
            + " The renter is refunded for the time it was not usable; check the cloud's state on your offering.",
            reverse("owners:offering_detail", args=[b.offering_id]),
            b.pk,
        )
    return None


def booking_drafts(events: Sequence[engine_hooks.BookingEvent]) -> list[Draft]:
    wanted = [e for e in events if e.kind == "transition"]
    if not wanted:
        return []
    bookings = Booking.objects.select_related("offering__owner", "profile", "renter").in_bulk(
        {e.booking_id for e in wanted}
    )
    drafts: list[Draft] = []
    for e in wanted:
        b = bookings.get(e.booking_id)
        if b is None:
            continue
        for make in (_renter_draft, _owner_draft):
            d = make(e, b)
            if d is not None:
                drafts.append(d)
    return drafts


def on_booking_events(events: Sequence[engine_hooks.BookingEvent]) -> None:
    if any(e.kind == "transition" for e in events):
        _safely(f"bookings {sorted({e.booking_id for e in events})}", booking_drafts, events)


# ---- billing's money events ----------------------------------------------------------------------


def _billing_draft(event: billing_hooks.BillingEvent, user: User) -> Draft | None:
    data: Mapping[str, Any] = event.data
    currency = str(data.get("currency") or "USD")
    billing = reverse("billing:overview")
    if event.kind == "payment_failed":
        what = f" for booking {event.booking_id}" if event.booking_id else ""
        return Draft(
            user.pk,
            Kind.PAYMENT_FAILED,
            f"Payment failed{what}",
            f"A payment of {_money(data.get('amount'), currency)}{what} failed"
            + (f": {data['message']}" if data.get("message") else ".")
            + " Check your card on the billing page.",
            billing,
            event.booking_id,
        )
    if event.kind == "balance_low":
        return Draft(
            user.pk,
            Kind.BALANCE_LOW,
            f"Your balance is low: {_money(data.get('available'), currency)}",
            f"Your available balance is {_money(data.get('available'), currency)}, below "
            f"{_money(data.get('threshold'), currency)}. Top up to keep booking.",
            billing,
        )
    if event.kind == "spend_limit_reached":
        return Draft(
            user.pk,
            Kind.SPEND_LIMIT_REACHED,
            f"Spend limit: {_money(data.get('spent'), currency)} of {_money(data.get('limit'), currency)} this month",
            f"Your bookings this month come to {_money(data.get('spent'), currency)} of your monthly limit of "
            f"{_money(data.get('limit'), currency)}. A booking that would go above the limit is refused; "
            "raise it in your settings if you need more.",
            reverse("renters:settings"),
        )
    if event.kind == "payout_paid":
        return Draft(
            user.pk,
            Kind.PAYOUT_PAID,
            f"Payout made: {_money(data.get('amount'), currency)}",
            f"A payout of {_money(data.get('amount'), currency)} was sent to your payout account "
            f"on {at(event.at, zone_of(user))}.",
            reverse("billing:owner_revenue"),
        )
    return None


def billing_drafts(event: billing_hooks.BillingEvent) -> list[Draft]:
    user = User.objects.filter(pk=event.user_id).first()
    if user is None:
        return []
    d = _billing_draft(event, user)
    return [d] if d is not None else []


_BILLING_KINDS = {"payment_failed", "balance_low", "spend_limit_reached", "payout_paid"}


def on_billing_event(event: billing_hooks.BillingEvent) -> None:
    if event.kind in _BILLING_KINDS:
        _safely(f"{event.kind} of user {event.user_id}", billing_drafts, event)


# ---- notices from apps that cannot be imported here (marketplace.lib.notices) ---------------------


def _notice_drafts(user_id: int, kind: str, title: str, body: str, link: str) -> list[Draft]:
    if kind not in Kind.values:
        raise ValueError(f"unknown notification kind {kind!r}")
    return [Draft(user_id=user_id, kind=kind, title=title, body=body, link=link)]


def on_user_notice(sender: Any, *, user_id: int, kind: str, title: str, body: str, link: str = "", **_: Any) -> None:
    _safely(f"the {kind} notice of user {user_id}", _notice_drafts, user_id, kind, title, body, link)


def register() -> None:
    """Called from NotificationsConfig.ready(): the in-transaction receivers."""
    engine_hooks.register("booking_events", on_booking_events)
    billing_hooks.on_billing_event(on_billing_event)
