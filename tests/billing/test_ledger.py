from __future__ import annotations

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.utils import ProgrammingError

from billing import ledger
from billing.models import LedgerEntry, LedgerTransaction

K = ledger.Kind


@pytest.fixture
def accounts(renter, owner):
    return {
        "clearing": ledger.account(K.STRIPE_CLEARING, "USD"),
        "balance": ledger.account(K.RENTER_BALANCE, "USD", renter),
        "payable": ledger.account(K.OWNER_PAYABLE, "USD", owner),
        "fees": ledger.account(K.PLATFORM_FEES, "USD"),
    }


def test_post_and_derive_balances(accounts):
    ledger.post_transaction(
        kind="topup", idempotency_key="t1", lines=[(accounts["clearing"], 5000), (accounts["balance"], -5000)]
    )
    assert ledger.balance(accounts["balance"]) == 5000
    assert ledger.balance(accounts["clearing"]) == 5000
    assert ledger.trial_balance() == {"USD": 0}


def test_replay_returns_same_transaction(accounts):
    lines = [(accounts["clearing"], 700), (accounts["balance"], -700)]
    first = ledger.post_transaction(kind="topup", idempotency_key="same", lines=lines)
    second = ledger.post_transaction(kind="topup", idempotency_key="same", lines=lines)
    assert first.pk == second.pk
    assert LedgerEntry.objects.count() == 2
    assert ledger.balance(accounts["balance"]) == 700


def test_python_refuses_unbalanced(accounts):
    with pytest.raises(ledger.UnbalancedTransaction):
        ledger.post_transaction(
            kind="topup", idempotency_key="x", lines=[(accounts["clearing"], 5), (accounts["balance"], -4)]
        )
    assert LedgerTransaction.objects.count() == 0


def test_python_refuses_mixed_currency(accounts, renter):
    eur = ledger.account(K.RENTER_BALANCE, "EUR", renter)
    with pytest.raises(ledger.UnbalancedTransaction):
        ledger.post_transaction(kind="topup", idempotency_key="x", lines=[(accounts["clearing"], 5), (eur, -5)])


def test_database_refuses_unbalanced_at_commit(accounts):
    """Bypassing Python: raw entries that do not sum to zero fail when constraints are checked."""
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        txn = LedgerTransaction.objects.create(kind="adjustment", idempotency_key="raw", currency="USD")
        LedgerEntry.objects.create(transaction=txn, account=accounts["clearing"], amount=10, currency="USD")
        LedgerEntry.objects.create(transaction=txn, account=accounts["balance"], amount=-9, currency="USD")
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert LedgerTransaction.objects.filter(idempotency_key="raw").count() == 0


def test_database_refuses_transaction_without_entries(accounts):
    with pytest.raises(IntegrityError, match="entries"), transaction.atomic():
        LedgerTransaction.objects.create(kind="adjustment", idempotency_key="empty", currency="USD")
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_database_refuses_currency_mismatch(accounts):
    with pytest.raises(IntegrityError), transaction.atomic():
        txn = LedgerTransaction.objects.create(kind="adjustment", idempotency_key="cur", currency="EUR")
        LedgerEntry.objects.create(transaction=txn, account=accounts["clearing"], amount=10, currency="USD")
        LedgerEntry.objects.create(transaction=txn, account=accounts["balance"], amount=-10, currency="USD")
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db(transaction=True)
def test_database_checks_balance_on_real_commit(renter):
    clearing = ledger.account(K.STRIPE_CLEARING, "USD")
    bal = ledger.account(K.RENTER_BALANCE, "USD", renter)
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        txn = LedgerTransaction.objects.create(kind="adjustment", idempotency_key="commit", currency="USD")
        LedgerEntry.objects.create(transaction=txn, account=clearing, amount=3, currency="USD")
        LedgerEntry.objects.create(transaction=txn, account=bal, amount=-2, currency="USD")
    assert not LedgerTransaction.objects.filter(idempotency_key="commit").exists()


def test_entries_are_append_only(accounts):
    ledger.post_transaction(
        kind="topup", idempotency_key="t", lines=[(accounts["clearing"], 5), (accounts["balance"], -5)]
    )
    entry = LedgerEntry.objects.first()
    with pytest.raises((InternalError, ProgrammingError), match="append_only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=6)
    with pytest.raises((InternalError, ProgrammingError), match="append_only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises((InternalError, ProgrammingError), match="append_only"), transaction.atomic():
        LedgerTransaction.objects.filter(idempotency_key="t").update(memo="changed")
    assert ledger.balance(accounts["balance"]) == 5
