"""Stripe customers and the renter's saved cards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from django.db import transaction

from accounts.models import User
from audit.services import record_event
from billing import stripe_gateway as gateway
from billing.models import Payment, PaymentMethod, StripeCustomer
from billing.services.common import PaymentProviderError, assert_no_open_transaction
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError


def customer_ensure(*, user: User) -> StripeCustomer:
    """The user's Stripe customer, created once even if an earlier attempt died mid-call."""
    assert_no_open_transaction()
    row, _ = StripeCustomer.objects.get_or_create(user=user)
    if row.stripe_id:
        return row
    key = row.idempotency_key
    remote = gateway.find_customer(email=user.email, idempotency_key=key) or gateway.create_customer(
        email=user.email, metadata={"user_id": str(user.pk), "idempotency_key": key}, idempotency_key=key
    )
    with transaction.atomic():
        StripeCustomer.objects.filter(pk=row.pk, stripe_id__isnull=True).update(stripe_id=remote["id"])
        row.refresh_from_db()
        record_event(actor=user, verb="billing.customer.created", target=row, data={"stripe_id": row.stripe_id})
    return row


@contextlib.contextmanager
def _provider_errors() -> Iterator[None]:
    """Stripe's failures (no answer, an error of its own) as a PaymentProviderError saying so."""
    try:
        yield
    except gateway.GatewayError as exc:
        # Stripe's own words can name hosts and internals: the caller is told what happened, not how.
        raise PaymentProviderError(exc.public_message) from exc


def card_setup_start(*, actor: User) -> dict[str, str]:
    """Start adding a card: a SetupIntent whose client secret the browser confirms with Stripe.js."""
    if not actor.is_renter:
        raise PermissionDeniedError("Only renters add payment cards.")
    with _provider_errors():
        customer = customer_ensure(user=actor)
        intent = gateway.create_setup_intent(
            customer=customer.stripe_id or "",
            metadata={"user_id": str(actor.pk)},
            idempotency_key=f"customer-{customer.pk}-setup-{uuid.uuid4().hex}",
        )
    return {"setup_intent_id": intent["id"], "client_secret": intent["client_secret"]}


def card_setup_complete(*, actor: User, setup_intent_id: str) -> PaymentMethod:
    """Record the card a confirmed SetupIntent saved; the first card becomes the default."""
    assert_no_open_transaction()
    customer = StripeCustomer.objects.filter(user=actor).first()
    if customer is None or not customer.stripe_id:
        raise NotFoundError("Start adding a card first.")
    with _provider_errors():
        try:
            intent = gateway.retrieve_setup_intent(setup_intent_id)
        except gateway.NotFound:
            raise NotFoundError("That card setup does not exist.")
    if intent.get("customer") != customer.stripe_id:
        raise PermissionDeniedError("That card setup belongs to someone else.")
    if intent.get("status") != "succeeded" or not intent.get("payment_method"):
        raise DomainError("The card was not confirmed; try again or use another card.", field="card")
    pm_id = intent["payment_method"]
    pm_id = pm_id["id"] if isinstance(pm_id, dict) else pm_id
    with _provider_errors():
        remote = gateway.retrieve_payment_method(pm_id)
        if remote.get("customer") and remote["customer"] != customer.stripe_id:
            raise PermissionDeniedError("That card belongs to someone else.")
        if not remote.get("customer"):
            remote = gateway.attach_payment_method(
                pm_id, customer=customer.stripe_id, idempotency_key=f"customer-{customer.pk}-attach-{pm_id}"
            )
    card = remote.get("card") or {}
    with transaction.atomic():
        has_default = PaymentMethod.objects.filter(user=actor, is_default=True, removed_at__isnull=True).exists()
        method, created = PaymentMethod.objects.get_or_create(
            stripe_id=pm_id,
            defaults={
                "user": actor,
                "brand": card.get("brand", ""),
                "last4": card.get("last4", ""),
                "exp_month": card.get("exp_month"),
                "exp_year": card.get("exp_year"),
                "is_default": not has_default,
            },
        )
        if method.user_id != actor.pk:
            raise PermissionDeniedError("That card belongs to someone else.")
        if created:
            record_event(actor=actor, verb="billing.card.added", target=method, data={"last4": method.last4})
    return method


@transaction.atomic
def payment_method_set_default(*, actor: User, payment_method_id: int) -> PaymentMethod:
    method = (
        PaymentMethod.objects.select_for_update()
        .filter(pk=payment_method_id, user=actor, removed_at__isnull=True)
        .first()
    )
    if method is None:
        raise NotFoundError("No such card.")
    PaymentMethod.objects.filter(user=actor, is_default=True).exclude(pk=method.pk).update(is_default=False)
    method.is_default = True
    method.save(update_fields=["is_default"])
    record_event(actor=actor, verb="billing.card.default", target=method)
    return method


def payment_method_remove(*, actor: User, payment_method_id: int) -> None:
    method = PaymentMethod.objects.filter(pk=payment_method_id, user=actor, removed_at__isnull=True).first()
    if method is None:
        raise NotFoundError("No such card.")
    if Payment.objects.filter(payment_method=method, status__in=["created", "pending", "requires_capture"]).exists():
        raise ConflictError("This card is paying for a booking in progress; remove it when the booking has ended.")
    with contextlib.suppress(gateway.NotFound):  # already gone on Stripe's side
        gateway.detach_payment_method(method.stripe_id)
    with transaction.atomic():
        method.removed_at = clock.now()
        method.is_default = False
        method.save(update_fields=["removed_at", "is_default"])
        record_event(actor=actor, verb="billing.card.removed", target=method, data={"last4": method.last4})


def default_payment_method(user: User) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(user=user, is_default=True, removed_at__isnull=True).first()
