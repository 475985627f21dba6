"""Sending the outbox: at least once, in order per booking, with backoff, disabling what keeps failing.

``deliver_endpoint`` (the Celery task's service) sends one endpoint's due deliveries oldest first:

1. claim the first due one in a short transaction: pending, ``next_attempt_at`` passed, not claimed
   by a live worker, and no earlier pending ordered delivery of the same booking to this endpoint
   (event N+1 of a booking never leaves before N was delivered or given up);
   ``select_for_update(skip_locked)`` plus ``claimed_until`` keep two workers off the same row;
2. POST it outside any transaction, through webhooks.netguard's checked session (no redirects);
3. record the attempt (status, latency, error, the answer's first KB) and the outcome: a 2xx
   delivers it and clears the endpoint's failure count; anything else schedules the next attempt
   at ``backoff(attempts)`` (exponential, capped), gives up after WEBHOOK_MAX_ATTEMPTS, and turns
   the endpoint off after WEBHOOK_DISABLE_AFTER_FAILURES consecutive failures, telling its user
   (marketplace.lib.notices: a notification in the portal and by email, as their preferences say).

After a failure the run stops (the endpoint is likely down) and the next run is sent for the
earliest due time; ``sweep`` (beat) sends a run to every active endpoint with due work, so a lost
message or a dead worker (its claim expires) costs one sweep interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse

from audit.services import record_event
from marketplace.lib import clock, crypto, enqueue, notices
from webhooks import netguard, signing
from webhooks.events import DELIVER_TASK
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, Event
from webhooks.services import endpoint_secret

D = Delivery.State
RESPONSE_KEEP = 1000  # characters of an answer kept in the log
DRAIN_LIMIT = 65536  # bytes of an answer read to keep its connection alive; a longer one is closed


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt after ``attempts`` failed ones: base × 2^(attempts-1), capped."""
    base = _setting("WEBHOOK_BACKOFF_BASE_SECONDS", 30)
    cap = _setting("WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


@dataclass
class Outcome:
    succeeded: bool
    status_code: int | None = None
    error: str = ""
    body: str = ""
    latency_ms: int = 0


def _due(endpoint_id: int, now: datetime) -> Q:
    return Q(endpoint_id=endpoint_id, state=D.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def _claim(endpoint_id: int) -> Delivery | None:
    with transaction.atomic():
        if not Endpoint.objects.filter(pk=endpoint_id, is_active=True).exists():
            return None
        return _claim_locked(endpoint_id, clock.now())


def _claim_locked(endpoint_id: int, now: datetime) -> Delivery | None:
    """The next due delivery of an active endpoint, claimed (inside the caller's transaction)."""
    earlier = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        booking_id=OuterRef("booking_id"),
        state=D.PENDING,
        ordered=True,
        id__lt=OuterRef("id"),
    )
    d = (
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(_due(endpoint_id, now))
        .filter(Q(ordered=False) | Q(booking_id__isnull=True) | ~Exists(earlier))
        .select_related("event", "endpoint")
        .order_by("id")
        .first()
    )
    if d is None:
        return None
    timeout = _setting("WEBHOOK_TIMEOUT_SECONDS", 10)
    d.claimed_until = now + timedelta(seconds=timeout * 2 + 30)
    Delivery.objects.filter(pk=d.pk).update(claimed_until=d.claimed_until)
    return d


def _post(d: Delivery) -> Outcome:
    body = d.event.body.encode()
    try:
        secret = endpoint_secret(d.endpoint)
    except crypto.SecretUnreadable:
        return Outcome(
            False,
            error=(
                "The signing secret cannot be read (the encryption keys changed, or it does not belong to this "
                "endpoint): rotate it."
            ),
        )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "SliceMarket-Webhooks/1.0",
        signing.HEADER: signing.sign(secret, body, int(clock.now().timestamp())),
        signing.EVENT_ID_HEADER: str(d.event.event_id),
        "Slicemarket-Event-Type": d.event.type,
        "Slicemarket-Delivery-Attempt": str(d.attempts + 1),
    }
    started = time.monotonic()
    try:
        resp, raw = _send(d.endpoint.url, body, headers)
    except netguard.Refused as exc:
        return Outcome(False, error=f"Refused: {exc}"[:300])
    except requests.Timeout:
        return Outcome(False, error="Timed out.", latency_ms=int((time.monotonic() - started) * 1000))
    except requests.RequestException as exc:
        reason = type(exc).__name__
        return Outcome(False, error=f"No answer ({reason}).", latency_ms=int((time.monotonic() - started) * 1000))
    latency = int((time.monotonic() - started) * 1000)
    text = raw.decode("utf-8", "replace")[:RESPONSE_KEEP]
    ok = 200 <= resp.status_code < 300
    error = "" if ok else ("Redirects are not followed." if 300 <= resp.status_code < 400 else "Not a 2xx answer.")
    return Outcome(ok, resp.status_code, error, text, latency)


def _send(url: str, body: bytes, headers: dict[str, str]) -> tuple[requests.Response, bytes]:
    """POST over this process's kept-alive session; the answer's first RESPONSE_KEEP bytes.

    A connection the receiver closed while it sat idle fails at once (reset, or closed before an
    answer): that one is retried on a new connection, once. The event may then arrive twice, which
    at-least-once delivery allows (the event id tells). Timeouts are never retried here.
    """
    for attempt in (1, 2):
        try:
            resp = netguard.shared_session().post(
                url,
                data=body,
                headers=headers,
                timeout=_setting("WEBHOOK_TIMEOUT_SECONDS", 10),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            raise
        except requests.ConnectionError:
            if attempt == 2:
                raise
            netguard.drop_shared_session()
            continue
        try:
            raw = next(resp.iter_content(RESPONSE_KEEP), b"")
            # Read the rest of a short answer so the connection goes back to the pool; a long one is cut.
            drained = 0
            for chunk in resp.iter_content(16384):
                drained += len(chunk)
                if drained > DRAIN_LIMIT:
                    break
        except requests.RequestException:
            raw = b""
        resp.close()
        return resp, raw
    raise AssertionError("unreachable")


def _record(d: Delivery, outcome: Outcome, *, claim_next: bool = False) -> tuple[datetime | None, Delivery | None]:
    """The attempt and its consequences, in one transaction. Returns when to run again (None: no need)
    and, after a success when ``claim_next``, the endpoint's next due delivery claimed in the same
    transaction (one round of BEGIN/COMMIT and the endpoint's check fewer per event)."""
    now = clock.now()
    with transaction.atomic():
        ep = Endpoint.objects.select_for_update().get(pk=d.endpoint_id)
        d = Delivery.objects.select_for_update().get(pk=d.pk)
        DeliveryAttempt.objects.create(
            delivery=d,
            at=now,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error[:300],
            response_body=outcome.body[:RESPONSE_KEEP],
        )
        d.attempts += 1
        d.claimed_until = None
        d.last_status_code = outcome.status_code
        if outcome.succeeded:
            d.state, d.delivered_at = D.DELIVERED, now
            if ep.consecutive_failures:
                Endpoint.objects.filter(pk=ep.pk).update(consecutive_failures=0)
        else:
            if d.attempts >= _setting("WEBHOOK_MAX_ATTEMPTS", 10):
                d.state = D.FAILED
            else:
                d.next_attempt_at = now + backoff(d.attempts)
            ep.consecutive_failures += 1
            Endpoint.objects.filter(pk=ep.pk).update(consecutive_failures=F("consecutive_failures") + 1)
            if ep.is_active and ep.consecutive_failures >= _setting("WEBHOOK_DISABLE_AFTER_FAILURES", 10):
                _disable(ep, now)
        d.save(
            update_fields=["attempts", "claimed_until", "last_status_code", "state", "delivered_at", "next_attempt_at"]
        )
        if not outcome.succeeded:
            return (d.next_attempt_at if d.state == D.PENDING and ep.is_active else None), None
        if claim_next and ep.is_active:
            return None, _claim_locked(ep.pk, now)
    return None, None


def _disable(ep: Endpoint, now: datetime) -> None:
    reason = f"Turned off after {ep.consecutive_failures} failed deliveries in a row."
    Endpoint.objects.filter(pk=ep.pk).update(is_active=False, disabled_at=now, disabled_reason=reason, updated_at=now)
    ep.is_active, ep.disabled_at, ep.disabled_reason = False, now, reason
    record_event(
        actor=None,
        verb="webhook.endpoint.disabled",
        target=ep,
        data={"url": ep.url, "failures": ep.consecutive_failures},
        source="task",
    )
    notices.tell(
        user_id=ep.user_id,
        kind="webhook_disabled",
        title="A webhook endpoint was turned off",
        body=(
            f"Your webhook endpoint {ep.url} was turned off: its last {ep.consecutive_failures} deliveries failed. "
            "Fix it, then turn it on again on the Webhooks page; the events it missed are sent then."
        ),
        link=reverse("webhooks:endpoint", args=[ep.pk]),
    )


def deliver_endpoint(endpoint_id: int, *, limit: int = 100) -> int:
    """Send up to ``limit`` due deliveries of one endpoint, oldest first; returns how many were delivered."""
    delivered = 0
    d = _claim(endpoint_id)
    while d is not None:
        outcome = _post(d)
        again, d = _record(d, outcome, claim_next=delivered + 1 < limit)
        if not outcome.succeeded:
            if again is not None:
                enqueue.send_at(DELIVER_TASK, endpoint_id, at=again, key=f"webhook-endpoint-{endpoint_id}")
            return delivered
        delivered += 1
        if delivered >= limit:
            enqueue.send(DELIVER_TASK, endpoint_id)  # more than one run's worth: go on in a new task
            break
    return delivered


def sweep(*, now: datetime | None = None) -> list[int]:
    """Send a run to every active endpoint with due deliveries (the backstop of the on-commit sends)."""
    now = now or clock.now()
    ids = list(
        Delivery.objects.filter(state=D.PENDING, next_attempt_at__lte=now, endpoint__is_active=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("endpoint_id", flat=True)
        .distinct()
        .order_by("endpoint_id")[:1000]
    )
    for endpoint_id in ids:
        enqueue.send(DELIVER_TASK, endpoint_id)
    return ids


def purge(*, now: datetime | None = None) -> int:
    """Delete events older than WEBHOOK_RETENTION_DAYS with nothing left to send (their deliveries and
    attempts go with them); returns how many events went."""
    now = now or clock.now()
    cutoff = now - timedelta(days=_setting("WEBHOOK_RETENTION_DAYS", 30))
    pending = Delivery.objects.filter(event_id=OuterRef("pk"), state=D.PENDING)
    old = Event.objects.filter(created_at__lt=cutoff).filter(~Exists(pending)).values_list("pk", flat=True)[:5000]
    _, per_model = Event.objects.filter(pk__in=list(old)).delete()
    return per_model.get("webhooks.Event", 0)
