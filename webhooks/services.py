"""Writes for webhooks: endpoints (create, change, rotate the secret, delete) and manual redelivery.

Rules: a user manages only their own endpoints (the selectors find them; another's is a 404);
the URL must pass webhooks.netguard's static check; at least one known event type; the secret is
generated here, stored encrypted (marketplace.lib.crypto), and returned in plaintext only by the
call that made it (create, rotate). Every change is audited in its transaction; the secret never
enters the audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from accounts.models import User
from audit.services import record_event
from marketplace.lib import clock, crypto, enqueue
from marketplace.lib.errors import ConflictError, ValidationFailed
from marketplace.lib.staff import staff_may
from webhooks import netguard
from webhooks.events import DELIVER_TASK
from webhooks.models import Delivery, Endpoint, EventType

MAX_ENDPOINTS_PER_USER = 20


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def secret_context(endpoint_id: int | None) -> str:
    """What an endpoint's secret ciphertext is bound to (marketplace.lib.crypto): its row, so a ciphertext
    copied into another endpoint's column does not decrypt there."""
    return f"webhooks.endpoint:{endpoint_id}"


def _seal(endpoint: Endpoint, secret: str) -> str:
    if endpoint.pk is None:
        raise ValueError("Save the endpoint before sealing its secret: the ciphertext is bound to its row.")
    return crypto.encrypt(secret, context=secret_context(endpoint.pk))


def endpoint_secret(endpoint: Endpoint) -> str:
    """The plaintext secret, for signing only (never shown back). SecretUnreadable when the keys changed
    or the ciphertext belongs to another endpoint."""
    return crypto.decrypt(endpoint.secret_encrypted, context=secret_context(endpoint.pk))


def _clean_url(url: Any) -> str:
    url = str(url or "").strip()
    if not url:
        raise ValidationFailed({"url": ["Give the URL that receives the events."]})
    if len(url) > 2000:
        raise ValidationFailed({"url": ["A URL of at most 2000 characters."]})
    try:
        netguard.check_url(url)
    except netguard.Refused as exc:
        raise ValidationFailed({"url": [str(exc)]}) from None
    return url


def _clean_types(event_types: Any) -> list[str]:
    if isinstance(event_types, str) or not isinstance(event_types, Iterable):
        raise ValidationFailed({"event_types": ["A list of event types."]})
    chosen = [str(t) for t in event_types]
    unknown = sorted(set(chosen) - set(EventType.values))
    if unknown:
        raise ValidationFailed(
            {"event_types": [f"Unknown event type {', '.join(unknown)}; known: {', '.join(EventType.values)}."]}
        )
    if not chosen:
        raise ValidationFailed({"event_types": ["Choose at least one event type."]})
    return [t for t in EventType.values if t in chosen]  # the catalogue's order, no duplicates


def _locked(actor: User, endpoint: Endpoint) -> Endpoint:
    """The endpoint, row-locked, if it is the actor's (staff: anyone's, from the admin)."""
    qs = Endpoint.objects.select_for_update()
    if not staff_may(actor, "webhooks.change_endpoint"):
        qs = qs.filter(user=actor)
    return qs.get(pk=endpoint.pk)


@transaction.atomic
def endpoint_create(
    *, actor: User, url: str, event_types: Iterable[str], description: str = ""
) -> tuple[Endpoint, str]:
    """A new endpoint of the actor's; returns it and its secret (shown this once)."""
    url, types = _clean_url(url), _clean_types(event_types)
    User.objects.select_for_update().filter(pk=actor.pk).first()  # the count below is per user
    if Endpoint.objects.filter(user=actor).count() >= MAX_ENDPOINTS_PER_USER:
        raise ValidationFailed({"__all__": [f"At most {MAX_ENDPOINTS_PER_USER} webhook endpoints per account."]})
    secret = new_secret()
    now = clock.now()
    endpoint = Endpoint.objects.create(
        user=actor,
        url=url,
        description=str(description or "")[:200],
        event_types=types,
        secret_encrypted="",  # sealed just below, bound to the new row's pk, in this transaction
        created_at=now,
        updated_at=now,
    )
    endpoint.secret_encrypted = _seal(endpoint, secret)
    endpoint.save(update_fields=["secret_encrypted"])
    record_event(actor=actor, verb="webhook.endpoint.created", target=endpoint, data={"url": url, "events": types})
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    actor: User,
    endpoint: Endpoint,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Endpoint:
    """Change an endpoint; turning it back on clears its failure count and sends what is pending."""
    ep = _locked(actor, endpoint)
    before = {"url": ep.url, "events": list(ep.event_types), "active": ep.is_active}
    fields = ["updated_at"]
    if url is not None:
        ep.url = _clean_url(url)
        fields.append("url")
    if event_types is not None:
        ep.event_types = _clean_types(event_types)
        fields.append("event_types")
    if description is not None:
        ep.description = str(description)[:200]
        fields.append("description")
    if is_active is not None and bool(is_active) != ep.is_active:
        ep.is_active = bool(is_active)
        ep.consecutive_failures = 0
        ep.disabled_at = None if ep.is_active else clock.now()
        ep.disabled_reason = "" if ep.is_active else "Turned off by its user."
        fields += ["is_active", "consecutive_failures", "disabled_at", "disabled_reason"]
        if ep.is_active:
            enqueue.send_on_commit(DELIVER_TASK, ep.pk)
    ep.updated_at = clock.now()
    ep.save(update_fields=fields)
    after = {"url": ep.url, "events": list(ep.event_types), "active": ep.is_active}
    record_event(actor=actor, verb="webhook.endpoint.updated", target=ep, data={"before": before, "after": after})
    return ep


@transaction.atomic
def endpoint_rotate_secret(*, actor: User, endpoint: Endpoint) -> tuple[Endpoint, str]:
    """A new secret at once (the old one stops signing); returns it, shown this once."""
    ep = _locked(actor, endpoint)
    secret = new_secret()
    ep.secret_encrypted = _seal(ep, secret)
    ep.updated_at = clock.now()
    ep.save(update_fields=["secret_encrypted", "updated_at"])
    record_event(actor=actor, verb="webhook.endpoint.secret_rotated", target=ep, data={"url": ep.url})
    return ep, secret


@transaction.atomic
def endpoint_delete(*, actor: User, endpoint: Endpoint) -> None:
    ep = _locked(actor, endpoint)
    record_event(actor=actor, verb="webhook.endpoint.deleted", target=ep, data={"url": ep.url})
    ep.delete()


@transaction.atomic
def delivery_redeliver(*, actor: User, delivery: Delivery) -> Delivery:
    """Send a delivery's event again, now, with the same event id (a new, unordered delivery)."""
    qs = Delivery.objects.select_related("endpoint")
    d = (
        qs.get(pk=delivery.pk)
        if staff_may(actor, "webhooks.change_endpoint")
        else qs.get(pk=delivery.pk, endpoint__user=actor)
    )
    if not d.endpoint.is_active:
        raise ConflictError("This endpoint is turned off: turn it on to send events to it again.")
    now = clock.now()
    again = Delivery.objects.create(
        endpoint=d.endpoint,
        event_id=d.event_id,
        booking_id=d.booking_id,
        ordered=False,
        manual=True,
        next_attempt_at=now,
        created_at=now,
    )
    record_event(actor=actor, verb="webhook.delivery.redelivered", target=again, data={"of": d.pk, "event": d.event_id})
    enqueue.send_on_commit(DELIVER_TASK, d.endpoint_id)
    return again
