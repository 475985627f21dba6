"""Staff money operations behind a second pair of eyes (issue 14 item 4).

Every staff door that moves money (the admin's manual adjustment, refund and payout-on-demand) calls
``money_operation_submit``. It checks the operation's own permission (``billing.post_adjustment``,
``billing.refund_payment``, ``billing.payout_on_demand``: staff status alone moves nothing), then:

- at or below BILLING_APPROVAL_THRESHOLD (major units, one number or per currency) the operation runs
  at once;
- above it, a ``MoneyOperationRequest`` is written and audited and nothing else happens: no ledger
  posting, no Stripe call. A *different* staff member holding the same permission approves it
  (``money_operation_approve``), and only then does the operation run, as the approver, with both
  steps in the audit trail; or rejects it (``money_operation_reject``).

The approval is claimed (``approved``) and committed before the operation runs, because refunds and
payouts call Stripe, which is never called inside a transaction of ours; the outcome (``executed`` or
``failed`` with the refusal's message) is recorded afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from audit.services import record_event
from billing import ledger
from billing.models import LedgerTransaction, MoneyOperationRequest, Payment, Payout, Refund
from billing.services.adjustments import ADJUSTABLE, adjustment_post
from billing.services.common import K, operator_maximum, require_money_permission
from billing.services.payouts import payout_request, payout_submit
from billing.services.refunds import refund_create
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError, ValidationFailed
from marketplace.lib.money import exponent, format_minor

Op = MoneyOperationRequest.Operation
State = MoneyOperationRequest.State
Outcome = LedgerTransaction | Refund | Payout


@dataclass(frozen=True)
class Submitted:
    """What a staff money operation did: ran at once (``result``) or waits for approval (``pending``)."""

    result: Outcome | None = None
    pending: MoneyOperationRequest | None = None


def approval_threshold(currency: str) -> int | None:
    """The largest amount (minor units of ``currency``) one staff member may move alone; None: no limit."""
    return operator_maximum(getattr(settings, "BILLING_APPROVAL_THRESHOLD", None), currency)


def _text(params: dict[str, Any], name: str) -> str:
    return str(params.get(name) or "").strip()


def _id(params: dict[str, Any], name: str) -> int:
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed({name: ["Choose one."]})
    return value


def _size(operation: str, params: dict[str, Any]) -> tuple[int, str, str]:
    """(amount in minor units, currency, reason) of an operation, its input checked as far as can be
    checked before it runs (the operation's service checks the rest when it runs)."""
    reason = _text(params, "reason")
    if operation == Op.ADJUSTMENT:
        amount = params.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
            raise ValidationFailed({"amount": ["Enter an amount other than zero (negative debits the user)."]})
        if params.get("account_kind") not in ADJUSTABLE:
            raise ValidationFailed({"account_kind": ["Adjust a renter balance or an owner's earnings."]})
        if not User.objects.filter(pk=_id(params, "user")).exists():
            raise NotFoundError("No such user.")
        currency = _text(params, "currency").upper()
        exponent(currency)
        if not reason:
            raise ValidationFailed({"reason": ["An adjustment needs a reason."]})
        return abs(amount), currency, reason
    if operation == Op.REFUND:
        payment = Payment.objects.filter(pk=_id(params, "payment")).first()
        if payment is None:
            raise NotFoundError("No such payment.")
        amount = params.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ValidationFailed({"amount": ["Enter an amount above zero."]})
        if not reason:
            raise ValidationFailed({"reason": ["Say why the money is refunded."]})
        return amount, payment.currency, reason
    if operation == Op.PAYOUT:
        owner = User.objects.filter(pk=_id(params, "owner")).first()
        if owner is None:
            raise NotFoundError("No such owner.")
        currency = _text(params, "currency").upper()
        exponent(currency)
        amount = ledger.balance(ledger.account(K.OWNER_PAYABLE, currency, owner))
        if amount <= 0:
            raise DomainError(f"{owner} has no earnings in {currency} to pay out.")
        return amount, currency, reason or "Payout on demand"
    raise ValidationFailed({"operation": [f"Unknown money operation {operation!r}."]})


def _run(operation: str, actor: User, params: dict[str, Any], *, approved_amount: int | None = None) -> Outcome:
    """Carry the operation out (its own service checks the permission and the rules again)."""
    if operation == Op.ADJUSTMENT:
        return adjustment_post(
            actor=actor,
            user=User.objects.get(pk=params["user"]),
            account_kind=str(params["account_kind"]),
            amount=int(params["amount"]),
            currency=str(params["currency"]).upper(),
            reason=str(params["reason"]),
            idempotency_key=str(params["idempotency_key"]),
        )
    if operation == Op.REFUND:
        return refund_create(
            actor=actor, payment_id=int(params["payment"]), amount=int(params["amount"]), reason=str(params["reason"])
        )
    owner = User.objects.get(pk=params["owner"])
    currency = str(params["currency"]).upper()
    if approved_amount is not None:
        now = ledger.balance(ledger.account(K.OWNER_PAYABLE, currency, owner))
        if now > approved_amount:  # a payout pays the whole balance: never more than was approved
            raise ConflictError(
                f"The earnings grew to {format_minor(now, currency)} since the request "
                f"({format_minor(approved_amount, currency)}): ask again."
            )
    payout = payout_request(actor=actor, owner=owner, currency=currency, trigger=Payout.Trigger.ON_DEMAND)
    payout, _queued = payout_submit(payout=payout)
    return payout


def _describe(outcome: Outcome) -> str:
    return f"{type(outcome).__name__.lower()} #{outcome.pk}"


def money_operation_submit(
    *, actor: User, operation: str, params: dict[str, Any], idempotency_key: str | None = None
) -> Submitted:
    """Run a staff money operation, or above the approval threshold record it for a second staff member.

    Refused without the operation's permission. Below the threshold the operation runs now and its
    result is returned; above it nothing moves until ``money_operation_approve``.
    """
    require_money_permission(actor, operation)
    params = dict(params)
    if operation == Op.ADJUSTMENT:
        params.setdefault("idempotency_key", idempotency_key or uuid.uuid4().hex)
    amount, currency, reason = _size(operation, params)
    threshold = approval_threshold(currency)
    if threshold is None or amount <= threshold:
        return Submitted(result=_run(operation, actor, params))
    key = f"{operation}-{idempotency_key or uuid.uuid4().hex}"
    with transaction.atomic():
        existing = MoneyOperationRequest.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return Submitted(pending=existing)  # the same form submitted twice: one request
        request = MoneyOperationRequest.objects.create(
            operation=operation,
            amount=amount,
            currency=currency,
            params=params,
            reason=reason[:500],
            requested_by=actor,
            idempotency_key=key,
        )
        record_event(
            actor=actor,
            verb="billing.money_operation.requested",
            target=request,
            data={"operation": operation, "amount": amount, "currency": currency, "threshold": threshold, **params},
            source="admin",
        )
    return Submitted(pending=request)


def _decide(*, actor: User, request_id: int) -> MoneyOperationRequest:
    request = MoneyOperationRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFoundError("No such money operation request.")
    require_money_permission(actor, request.operation)
    if request.requested_by_id == actor.pk:
        raise PermissionDeniedError("A second staff member must decide: you asked for this one.")
    if request.state != State.PENDING:
        raise ConflictError(f"This request was already decided ({request.get_state_display().lower()}).")
    return request


def money_operation_approve(*, actor: User, request_id: int) -> MoneyOperationRequest:
    """A second staff member (with the operation's permission, not the one who asked) approves: the
    operation runs now, as the approver. Returns the request, ``executed`` or ``failed`` with why."""
    with transaction.atomic():
        request = _decide(actor=actor, request_id=request_id)
        request.state = State.APPROVED
        request.decided_by = actor
        request.decided_at = clock.now()
        request.save(update_fields=["state", "decided_by", "decided_at"])
        record_event(
            actor=actor,
            verb="billing.money_operation.approved",
            target=request,
            data={"operation": request.operation, "amount": request.amount, "requested_by": request.requested_by_id},
            source="admin",
        )
    try:
        outcome = _run(request.operation, actor, request.params, approved_amount=request.amount)
    except DomainError as exc:
        state, result, message = State.FAILED, "", exc.message
    else:
        state, result, message = State.EXECUTED, _describe(outcome), ""
    with transaction.atomic():
        MoneyOperationRequest.objects.filter(pk=request.pk, state=State.APPROVED).update(
            state=state, result=result, failure_message=message[:500]
        )
        request.refresh_from_db()
        record_event(
            actor=actor,
            verb=f"billing.money_operation.{state}",
            target=request,
            data={"result": result, "failure": message},
            source="admin",
        )
    return request


def money_operation_reject(*, actor: User, request_id: int, note: str = "") -> MoneyOperationRequest:
    """A second staff member turns the request down: nothing runs."""
    with transaction.atomic():
        request = _decide(actor=actor, request_id=request_id)
        request.state = State.REJECTED
        request.decided_by = actor
        request.decided_at = clock.now()
        request.failure_message = note.strip()[:500]
        request.save(update_fields=["state", "decided_by", "decided_at", "failure_message"])
        record_event(
            actor=actor,
            verb="billing.money_operation.rejected",
            target=request,
            data={"operation": request.operation, "amount": request.amount, "note": note.strip()},
            source="admin",
        )
    return request
