"""The posting core: every movement of money goes through ``post_transaction``.

Sign convention: an entry's positive amount debits its account, a negative
amount credits it. Accounts that hold what the platform owes (a renter's
balance and holds, an owner's earnings, the platform's fees) are
credit-normal, so their balance is shown as ``-SUM(amount)``.

Python checks the lines before writing (for a readable error); PostgreSQL
checks them again at commit (migration 0002), whatever code wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from billing.models import LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.lib import clock

Kind = LedgerAccount.Kind


# Constant SQL (the posting hot path: one round trip for the header, one for all its entries).
_INSERT_TRANSACTION = (
    "INSERT INTO billing_ledgertransaction "
    "(kind, idempotency_key, currency, memo, actor_id, booking_id, offering_id, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
_INSERT_ENTRIES = (
    "INSERT INTO billing_ledgerentry (transaction_id, account_id, amount, currency) "
    "SELECT %s, a, m, %s FROM unnest(%s::bigint[], %s::bigint[]) AS t(a, m)"
)


class UnbalancedTransaction(ValueError):
    pass


def account(kind: str, currency: str, user: Any = None) -> LedgerAccount:
    """The ledger account of that kind, user and currency, created on first use."""
    if (kind in LedgerAccount.USER_KINDS) != (user is not None):
        raise ValueError(f"account kind {kind} {'needs' if user is None else 'takes no'} user")
    lookup = {"kind": kind, "currency": currency, "user": user}
    found = LedgerAccount.objects.filter(**lookup).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(**lookup)
    except IntegrityError:
        return LedgerAccount.objects.get(**lookup)


def lock(*accounts: LedgerAccount) -> None:
    """Row-lock accounts in id order (a fixed order: no deadlocks between postings)."""
    ids = sorted({a.pk for a in accounts})
    list(LedgerAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def post_transaction(
    *,
    kind: str,
    idempotency_key: str,
    lines: Sequence[tuple[LedgerAccount, int]],
    memo: str = "",
    actor: Any = None,
    booking_id: int | None = None,
    offering_id: int | None = None,
) -> LedgerTransaction:
    """Write one balanced transaction; a replay with the same key returns the first one unchanged."""
    lines = [(acc, int(amount)) for acc, amount in lines if int(amount) != 0]
    if len(lines) < 2:
        raise UnbalancedTransaction(f"{idempotency_key}: a transaction needs at least two non-zero lines")
    currencies = {acc.currency for acc, _ in lines}
    if len(currencies) != 1:
        raise UnbalancedTransaction(f"{idempotency_key}: lines mix currencies {sorted(currencies)}")
    total = sum(amount for _, amount in lines)
    if total != 0:
        raise UnbalancedTransaction(f"{idempotency_key}: lines sum to {total}, not 0")
    currency = currencies.pop()
    now = clock.now()
    with transaction.atomic(savepoint=False), connection.cursor() as cur:
        # One statement claims the key: a concurrent replay gets no row back instead of an exception,
        # so no savepoint is needed and the caller's transaction stays usable.
        cur.execute(
            _INSERT_TRANSACTION,
            [kind, idempotency_key, currency, memo[:500], getattr(actor, "pk", None), booking_id, offering_id, now],
        )
        row = cur.fetchone()
        if row is None:
            return LedgerTransaction.objects.get(idempotency_key=idempotency_key)
        cur.execute(
            _INSERT_ENTRIES,
            [row[0], currency, [acc.pk for acc, _ in lines], [amount for _, amount in lines]],
        )
    txn = LedgerTransaction(
        pk=row[0],
        kind=kind,
        idempotency_key=idempotency_key,
        currency=currency,
        memo=memo[:500],
        actor_id=getattr(actor, "pk", None),
        booking_id=booking_id,
        offering_id=offering_id,
        created_at=now,
    )
    txn._state.adding = False
    txn._state.db = connection.alias
    return txn


def raw_sum(acc: LedgerAccount) -> int:
    return int(LedgerEntry.objects.filter(account=acc).aggregate(s=Sum("amount"))["s"] or 0)


def balance(acc: LedgerAccount) -> int:
    """The account's balance in its natural sign (credit-normal accounts negated)."""
    total = raw_sum(acc)
    return -total if acc.credit_normal else total


def balance_of(kind: str, currency: str, user: Any = None) -> int:
    acc = LedgerAccount.objects.filter(kind=kind, currency=currency, user=user).first()
    return balance(acc) if acc else 0


def unbalanced_transactions(ids: Iterable[int] | None = None) -> list[tuple[int, int]]:
    """(transaction id, sum) of every transaction that does not sum to zero: the audit the bench and tests run."""
    qs = LedgerEntry.objects.all()
    if ids is not None:
        qs = qs.filter(transaction_id__in=list(ids))
    rows = qs.values("transaction_id").annotate(s=Sum("amount")).exclude(s=0).values_list("transaction_id", "s")
    return [(int(t), int(s)) for t, s in rows]


def trial_balance() -> dict[str, int]:
    """Sum of all entries per currency: zero for each if the ledger is balanced."""
    rows = LedgerEntry.objects.values("currency").annotate(s=Sum("amount")).values_list("currency", "s")
    return {c: int(s) for c, s in rows}
