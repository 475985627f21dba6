"""Owners: Stripe Connect onboarding and payouts of their earnings."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from audit.services import record_event
from billing import hooks, ledger
from billing import stripe_gateway as gateway
from billing.models import ConnectedAccount, LedgerAccount, Payout
from billing.services.common import TX, K, assert_no_open_transaction, require_money_permission
from marketplace.lib import clock, enqueue
from marketplace.lib.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from marketplace.lib.money import format_minor


def connect_onboard(*, actor: User, refresh_url: str, return_url: str) -> str:
    """The Stripe-hosted onboarding link for the owner's connected account (created once)."""
    if not actor.is_owner:
        raise PermissionDeniedError("Only owners receive payouts.")
    assert_no_open_transaction()
    row, _ = ConnectedAccount.objects.get_or_create(user=actor)
    if not row.stripe_account_id:
        remote = gateway.create_connected_account(
            email=actor.email,
            metadata={"user_id": str(actor.pk), "idempotency_key": row.idempotency_key},
            idempotency_key=row.idempotency_key,
        )
        with transaction.atomic():
            ConnectedAccount.objects.filter(pk=row.pk, stripe_account_id__isnull=True).update(
                stripe_account_id=remote["id"], updated_at=clock.now()
            )
            row.refresh_from_db()
            record_event(
                actor=actor, verb="billing.connect.created", target=row, data={"stripe_id": row.stripe_account_id}
            )
    link = gateway.create_account_link(
        account=row.stripe_account_id or "", refresh_url=refresh_url, return_url=return_url
    )
    return link["url"]


def connect_refresh(*, user: User, remote: dict[str, Any] | None = None) -> ConnectedAccount:
    row = ConnectedAccount.objects.filter(user=user).first()
    if row is None or not row.stripe_account_id:
        raise NotFoundError("No connected account yet.")
    if remote is None:
        assert_no_open_transaction()
        remote = gateway.retrieve_connected_account(row.stripe_account_id)
    with transaction.atomic():
        row = ConnectedAccount.objects.select_for_update().get(pk=row.pk)
        before = (row.details_submitted, row.payouts_enabled)
        row.details_submitted = bool(remote.get("details_submitted"))
        row.payouts_enabled = bool(remote.get("payouts_enabled"))
        if before != (row.details_submitted, row.payouts_enabled):
            row.updated_at = clock.now()
            row.save(update_fields=["details_submitted", "payouts_enabled", "updated_at"])
            record_event(
                actor=None,
                verb="billing.connect.updated",
                target=row,
                data={"details_submitted": row.details_submitted, "payouts_enabled": row.payouts_enabled},
                source="task",
            )
    return row


def payout_request(*, actor: User | None, owner: User, currency: str, trigger: str) -> Payout:
    """Pay the owner's earnings above the minimum to their connected account. One payout in flight at a time.

    The owner asks for their own; the schedule asks with no actor; staff paying out someone else's
    earnings need ``billing.payout_on_demand`` (and, through ``money_operation_submit``, a second staff
    member's approval above the threshold)."""
    if actor is not None and actor.pk != owner.pk:
        if not actor.is_staff:
            raise PermissionDeniedError("You can only request your own payouts.")
        require_money_permission(actor, "payout")
    account = ConnectedAccount.objects.filter(user=owner).first()
    if account is None or not account.stripe_account_id or not account.payouts_enabled:
        raise DomainError("Finish Stripe onboarding before requesting a payout.")
    with transaction.atomic():
        payable = ledger.account(K.OWNER_PAYABLE, currency, owner)
        ledger.lock(payable)
        if Payout.objects.filter(owner=owner, currency=currency, status__in=["created", "pending"]).exists():
            raise ConflictError("A payout is already on its way.")
        amount = ledger.balance(payable)
        if amount < settings.PAYOUT_MINIMUM or amount <= 0:
            raise DomainError(
                f"Your earnings ({format_minor(amount, currency)}) are below the payout minimum of "
                f"{format_minor(settings.PAYOUT_MINIMUM, currency)}."
            )
        payout = Payout.objects.create(
            owner=owner,
            amount=amount,
            currency=currency,
            trigger=trigger,
            idempotency_key=f"pending-{uuid.uuid4().hex}",
        )
        payout.idempotency_key = f"payout-{payout.pk}-v1"
        payout.save(update_fields=["idempotency_key"])
        # Earnings leave the payable account now, so they cannot be paid twice; a failure posts them back.
        ledger.post_transaction(
            kind=TX.PAYOUT,
            idempotency_key=f"payout-{payout.pk}",
            lines=[(payable, amount), (ledger.account(K.STRIPE_CLEARING, currency), -amount)],
            actor=actor,
            memo=f"Payout #{payout.pk} ({trigger})",
        )
        record_event(
            actor=actor,
            verb="billing.payout.created",
            target=payout,
            data={"amount": amount, "currency": currency, "trigger": trigger},
        )
    return payout


def payout_process(*, payout_id: int) -> Payout:
    assert_no_open_transaction()
    payout = Payout.objects.select_related("owner").get(pk=payout_id)
    if payout.status not in (Payout.Status.CREATED, Payout.Status.PENDING):
        return payout
    if payout.stripe_transfer_id:
        return payout_apply_remote(payout_id=payout.pk, remote={"id": payout.stripe_transfer_id, "reversed": False})
    earlier_attempt = payout.status == Payout.Status.PENDING
    Payout.objects.filter(pk=payout.pk).update(status=Payout.Status.PENDING, updated_at=clock.now())
    remote = gateway.find_transfer(idempotency_key=payout.idempotency_key) if earlier_attempt else None
    if remote is None:
        destination = ConnectedAccount.objects.get(user=payout.owner).stripe_account_id or ""
        try:
            remote = gateway.create_transfer(
                amount=payout.amount,
                currency=payout.currency,
                destination=destination,
                metadata={"idempotency_key": payout.idempotency_key, "payout_id": str(payout.pk)},
                idempotency_key=payout.idempotency_key,
            )
        except gateway.GatewayTimeout:
            raise
        except gateway.GatewayError as exc:
            return payout_apply_remote(payout_id=payout.pk, remote=None, failure=exc.message)
    return payout_apply_remote(payout_id=payout.pk, remote=remote)


def payout_submit(*, payout: Payout) -> tuple[Payout, bool]:
    """Pay a payout now or, if Stripe cannot be reached, leave it to a worker. Returns (payout, queued).

    Queued: ``process_payout`` is sent after commit (``sweep_payments`` drives the payout again if that
    message is lost) and the payout is returned as it was given.
    """
    try:
        return payout_process(payout_id=payout.pk), False
    except gateway.GatewayError:
        enqueue.send_on_commit("billing.tasks.process_payout", payout.pk)
        return payout, True


@transaction.atomic
def payout_apply_remote(*, payout_id: int, remote: dict[str, Any] | None, failure: str = "") -> Payout:
    payout = Payout.objects.select_for_update().get(pk=payout_id)
    before = payout.status
    if remote is not None and remote.get("reversed"):
        payout.status = Payout.Status.REVERSED
    elif remote is not None:
        payout.status = (
            Payout.Status.PAID if payout.status in (Payout.Status.CREATED, Payout.Status.PENDING) else payout.status
        )
        payout.stripe_transfer_id = payout.stripe_transfer_id or remote.get("id")
    else:
        payout.status = Payout.Status.FAILED
        payout.failure_message = failure[:500]
    if payout.status in (Payout.Status.FAILED, Payout.Status.REVERSED):
        ledger.post_transaction(
            kind=TX.PAYOUT_REVERSAL,
            idempotency_key=f"payout-{payout.pk}-returned",
            lines=[
                (ledger.account(K.STRIPE_CLEARING, payout.currency), payout.amount),
                (ledger.account(K.OWNER_PAYABLE, payout.currency, payout.owner), -payout.amount),
            ],
            memo=f"Payout #{payout.pk} {payout.status}: earnings returned to payable",
        )
    if payout.status != before:
        payout.updated_at = clock.now()
        payout.save(update_fields=["status", "stripe_transfer_id", "failure_message", "updated_at"])
        record_event(
            actor=None, verb=f"billing.payout.{payout.status}", target=payout, data={"before": before}, source="task"
        )
        if payout.status == Payout.Status.PAID:
            hooks.billing_event(
                "payout_paid", user_id=payout.owner_id, payout=payout.pk, amount=payout.amount, currency=payout.currency
            )
    return payout


def payouts_due() -> list[tuple[int, str]]:
    """(owner id, currency) of owners with payouts enabled and earnings at or above the minimum."""
    from django.db.models import Q

    rows = []
    enabled = ConnectedAccount.objects.filter(payouts_enabled=True).values_list("user_id", flat=True)
    for acc in LedgerAccount.objects.filter(kind=K.OWNER_PAYABLE, user_id__in=list(enabled)):
        if (
            ledger.balance(acc) >= max(settings.PAYOUT_MINIMUM, 1)
            and not Payout.objects.filter(
                Q(owner_id=acc.user_id) & Q(currency=acc.currency) & Q(status__in=["created", "pending"])
            ).exists()
        ):
            rows.append((int(acc.user_id or 0), acc.currency))
    return rows
