"""Staff money operations need their own permissions, and above the operator's threshold a second staff
member's approval, both audited (issue 14 item 4): manual adjustments, refunds, payouts on demand."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import Client

from accounts.models import User
from audit.models import DomainEvent
from billing import ledger, services
from billing.models import LedgerTransaction, MoneyOperationRequest, Payout, Refund
from tests import factories
from tests.billing.conftest import add_card, assert_ledger_balanced
from tests.billing.test_payouts import earn, onboard

K = ledger.Kind
ADJUST = "/admin/billing/ledgertransaction/adjust/"
REQUESTS = "/admin/billing/moneyoperationrequest/"


def staff_with(*codenames: str, email: str) -> User:
    """A staff member (not a superuser) with a second factor and only the permissions named."""
    user = factories.UserFactory(is_staff=True, email=email)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="billing", codename__in=codenames))
    TOTP.activate(user, generate_totp_secret())
    return User.objects.get(pk=user.pk)  # a fresh instance: no cached permissions


ALL = ("post_adjustment", "refund_payment", "payout_on_demand", "view_moneyoperationrequest", "view_payment")


@pytest.fixture
def alice(db):  # type: ignore[no-untyped-def]
    return staff_with(*ALL, "view_ledgeraccount", "view_ledgertransaction", email="alice-staff@example.test")


@pytest.fixture
def bob(db):  # type: ignore[no-untyped-def]
    return staff_with(*ALL, email="bob-staff@example.test")


@pytest.fixture
def clerk(db):  # type: ignore[no-untyped-def]
    """Staff who may look at payments and requests but move no money."""
    return staff_with(
        "view_payment", "view_moneyoperationrequest", "view_ledgertransaction", email="clerk@example.test"
    )


@pytest.fixture(autouse=True)
def _threshold(settings):  # type: ignore[no-untyped-def]
    settings.BILLING_APPROVAL_THRESHOLD = {"*": "100"}  # 100.00 in any currency


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _adjust(client: Client, renter: User, amount: str, nonce: str = "n1"):  # type: ignore[no-untyped-def]
    return client.post(
        ADJUST,
        {
            "user": renter.pk,
            "account_kind": "renter_balance",
            "amount": amount,
            "currency": "USD",
            "reason": "Outage credit",
            "nonce": nonce,
        },
    )


def _nothing_posted(renter: User) -> None:
    assert not LedgerTransaction.objects.filter(kind="adjustment").exists()
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 0
    assert not DomainEvent.objects.filter(verb="billing.adjustment.posted").exists()


def _approve_in_admin(client: Client, request: MoneyOperationRequest):  # type: ignore[no-untyped-def]
    return client.post(REQUESTS, {"action": "approve", "_selected_action": [request.pk]}, follow=True)


# ---- permissions ---------------------------------------------------------------------------------


def test_staff_without_the_permission_are_refused_and_nothing_moves(clerk, renter):
    assert _client(clerk).get(ADJUST).status_code == 403
    assert _adjust(_client(clerk), renter, "5.00").status_code == 403
    for call in (
        lambda: services.adjustment_post(
            actor=clerk,
            user=renter,
            account_kind="renter_balance",
            amount=500,
            currency="USD",
            reason="x",
            idempotency_key="k",
        ),
        lambda: services.money_operation_submit(
            actor=clerk,
            operation="adjustment",
            params={"user": renter.pk, "account_kind": "renter_balance", "amount": 500, "currency": "USD"}
            | {"reason": "x"},
        ),
    ):
        with pytest.raises(services.PermissionDeniedError, match="billing.post_adjustment"):
            call()
    _nothing_posted(renter)
    assert not MoneyOperationRequest.objects.exists()
    # The refund action is not offered to them either.
    page = _client(clerk).get("/admin/billing/payment/")
    assert page.status_code == 200 and 'value="refund"' not in page.content.decode()


def test_staff_status_alone_refunds_nothing(renter, clerk):
    with pytest.raises(services.PermissionDeniedError, match="billing.refund_payment"):  # before any lookup
        services.refund_create(actor=clerk, payment_id=1, amount=100, reason="x")
    with pytest.raises(services.PermissionDeniedError, match="billing.payout_on_demand"):
        services.payout_request(actor=clerk, owner=factories.owner(), currency="USD", trigger="on_demand")
    assert not Refund.objects.exists() and not Payout.objects.exists()


# ---- adjustments ---------------------------------------------------------------------------------


def test_at_or_below_the_threshold_an_adjustment_posts_at_once(alice, renter):
    response = _adjust(_client(alice), renter, "100.00")
    txn = LedgerTransaction.objects.get(kind="adjustment")
    assert response.status_code == 302 and response["Location"] == f"/admin/billing/ledgertransaction/{txn.pk}/change/"
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 10000
    assert txn.actor_id == alice.pk and not MoneyOperationRequest.objects.exists()
    assert_ledger_balanced()


def test_above_the_threshold_an_adjustment_waits_for_a_second_staff_member(alice, bob, clerk, renter):
    response = _adjust(_client(alice), renter, "250.00")
    request = MoneyOperationRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{REQUESTS}{request.pk}/change/"
    assert (request.operation, request.state, request.amount, request.currency, request.requested_by_id) == (
        "adjustment",
        "pending",
        25000,
        "USD",
        alice.pk,
    )
    _adjust(_client(alice), renter, "250.00")  # the same form submitted twice: still one request
    assert MoneyOperationRequest.objects.count() == 1
    _nothing_posted(renter)
    asked = DomainEvent.objects.get(verb="billing.money_operation.requested")
    assert asked.actor_id == alice.pk and asked.data["amount"] == 25000 and asked.data["threshold"] == 10000

    # The one who asked cannot approve their own request; staff without the permission cannot either.
    with pytest.raises(services.PermissionDeniedError, match="second staff member"):
        services.money_operation_approve(actor=alice, request_id=request.pk)
    page = _approve_in_admin(_client(alice), request)
    assert "second staff member must decide" in page.content.decode()
    with pytest.raises(services.PermissionDeniedError, match="billing.post_adjustment"):
        services.money_operation_approve(actor=clerk, request_id=request.pk)
    request.refresh_from_db()
    assert request.state == "pending" and request.decided_by is None
    _nothing_posted(renter)

    # The pending request is listed in the admin for the second staff member, who approves it there.
    listing = _client(bob).get(REQUESTS + "?state__exact=pending").content.decode()
    assert "Waiting for a second staff member" in listing and "Outage credit" in listing
    page = _approve_in_admin(_client(bob), request)
    assert page.status_code == 200 and "Approved and carried out" in page.content.decode()
    request.refresh_from_db()
    txn = LedgerTransaction.objects.get(kind="adjustment")
    assert (request.state, request.decided_by_id, request.result) == (
        "executed",
        bob.pk,
        f"ledgertransaction #{txn.pk}",
    )
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 25000
    assert txn.actor_id == bob.pk and txn.memo == "Outage credit"
    verbs = list(DomainEvent.objects.filter(verb__startswith="billing.").order_by("id").values_list("verb", "actor_id"))
    assert verbs == [
        ("billing.money_operation.requested", alice.pk),
        ("billing.money_operation.approved", bob.pk),
        ("billing.adjustment.posted", bob.pk),
        ("billing.money_operation.executed", bob.pk),
    ]
    # Decided once: a second approval is refused and posts nothing more.
    with pytest.raises(services.ConflictError, match="already decided"):
        services.money_operation_approve(actor=bob, request_id=request.pk)
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 25000
    assert_ledger_balanced()


def test_a_large_debit_needs_approval_too_and_a_rejection_runs_nothing(alice, bob, renter):
    done = services.money_operation_submit(
        actor=alice,
        operation="adjustment",
        params={"user": renter.pk, "account_kind": "renter_balance", "amount": -50000, "currency": "USD"}
        | {"reason": "Chargeback"},
    )
    assert done.result is None and done.pending is not None and done.pending.amount == 50000
    rejected = services.money_operation_reject(actor=bob, request_id=done.pending.pk, note="no evidence")
    assert (rejected.state, rejected.decided_by_id, rejected.failure_message) == ("rejected", bob.pk, "no evidence")
    _nothing_posted(renter)
    assert DomainEvent.objects.filter(verb="billing.money_operation.rejected", actor=bob).count() == 1
    with pytest.raises(services.ConflictError):
        services.money_operation_approve(actor=bob, request_id=done.pending.pk)
    _nothing_posted(renter)


def test_the_database_refuses_a_request_decided_by_its_requester(alice, renter):
    done = services.money_operation_submit(
        actor=alice,
        operation="adjustment",
        params={"user": renter.pk, "account_kind": "renter_balance", "amount": 20000, "currency": "USD"}
        | {"reason": "x"},
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        MoneyOperationRequest.objects.filter(pk=done.pending.pk).update(state="executed", decided_by=alice)


def test_the_threshold_is_per_currency(alice, renter, settings):
    settings.BILLING_APPROVAL_THRESHOLD = {"JPY": "10000", "*": "100"}
    params = {"user": renter.pk, "account_kind": "renter_balance", "currency": "JPY", "reason": "x"}
    assert services.money_operation_submit(actor=alice, operation="adjustment", params=params | {"amount": 9000}).result
    assert services.money_operation_submit(
        actor=alice, operation="adjustment", params=params | {"amount": 10001}
    ).pending


# ---- refunds and payouts (localstripe) -----------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_refund_above_the_threshold_reaches_stripe_only_after_a_second_approval(stripe_server, alice, bob, renter):
    add_card(renter)
    payment = services.payment_process(payment_id=services.topup_create(actor=renter, amount=30000).pk)
    client = _client(alice)
    response = client.post(
        "/admin/billing/payment/",
        {"action": "refund", "_selected_action": [payment.pk], "apply": "1", "amount": "200.00", "reason": "dup"},
    )
    request = MoneyOperationRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{REQUESTS}{request.pk}/change/"
    assert (request.operation, request.amount, request.state) == ("refund", 20000, "pending")
    assert not Refund.objects.exists() and ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 30000
    with pytest.raises(services.PermissionDeniedError):
        services.money_operation_approve(actor=alice, request_id=request.pk)
    assert not Refund.objects.exists()
    done = services.money_operation_approve(actor=bob, request_id=request.pk)
    refund = Refund.objects.get()
    assert (done.state, done.result) == ("executed", f"refund #{refund.pk}")
    assert (refund.amount, refund.status, refund.actor_id) == (20000, "succeeded", bob.pk)
    assert ledger.balance_of(K.RENTER_BALANCE, "USD", renter) == 10000
    assert_ledger_balanced()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_refund_below_the_threshold_runs_at_once(stripe_server, alice, renter):
    add_card(renter)
    payment = services.payment_process(payment_id=services.topup_create(actor=renter, amount=3000).pk)
    done = services.money_operation_submit(
        actor=alice, operation="refund", params={"payment": payment.pk, "amount": 1000, "reason": "asked"}
    )
    assert done.pending is None and done.result.status == "succeeded"
    assert not MoneyOperationRequest.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_payout_on_demand_above_the_threshold_waits_then_pays(stripe_server, alice, bob, owner):
    onboard(stripe_server, owner)
    earn(owner, 50000)
    account = ledger.account(K.OWNER_PAYABLE, "USD", owner)
    response = _client(alice).post(
        "/admin/billing/ledgeraccount/", {"action": "payout_now", "_selected_action": [account.pk]}
    )
    request = MoneyOperationRequest.objects.get()
    assert response.status_code == 302 and (request.operation, request.amount) == ("payout", 50000)
    assert not Payout.objects.exists() and ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 50000
    done = services.money_operation_approve(actor=bob, request_id=request.pk)
    payout = Payout.objects.get()
    assert (done.state, payout.amount, payout.status, payout.trigger) == ("executed", 50000, "paid", "on_demand")
    assert ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 0
    assert_ledger_balanced()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_approved_payout_never_pays_more_than_was_approved(stripe_server, alice, bob, owner):
    onboard(stripe_server, owner)
    earn(owner, 20000)
    pending = services.money_operation_submit(
        actor=alice, operation="payout", params={"owner": owner.pk, "currency": "USD"}
    ).pending
    earn(owner, 5000)  # more earnings arrive before the approval
    done = services.money_operation_approve(actor=bob, request_id=pending.pk)
    assert done.state == "failed" and "ask again" in done.failure_message
    assert not Payout.objects.exists() and ledger.balance_of(K.OWNER_PAYABLE, "USD", owner) == 25000
    assert DomainEvent.objects.filter(verb="billing.money_operation.failed", actor=bob).count() == 1
