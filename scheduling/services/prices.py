"""The price history: a price is recorded when it changes, not each time it is served.

A series is one (offering, profile, source). ``prices_record`` writes a point only where the
series' latest recorded price (or currency) differs, so repeated searches that find the same prices
write nothing. Race-safe: a first read decides whether anything may have changed (the common case
answers with that read alone); writers then take a transaction-scoped advisory lock per series, in a
fixed order, and compare again with the latest row under it before inserting, so concurrent searches
that see the same change write it once.

``price_history_prune`` keeps the table bounded: points older than MARKETPLACE_PRICE_HISTORY_DAYS
go, except each series' last one before the cutoff (the price still in force then, which a chart's
step line starts from).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from audit.services import record_event
from marketplace.lib import clock
from scheduling.models import PriceHistory

Series = tuple[int, int, str]  # offering id, profile id, source

# The latest point of each series asked for: one index probe per series (scheduling_price_latest).
_LATEST_SQL = (
    "SELECT v.o, v.p, v.s, h.unit_price, h.currency, h.at "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS v(o, p, s) "
    "JOIN LATERAL (SELECT unit_price, currency, at FROM scheduling_pricehistory "
    "WHERE offering_id = v.o AND profile_id = v.p AND source = v.s ORDER BY at DESC, id DESC LIMIT 1) h ON true"
)
# Namespaced so the lock ids do not meet other advisory locks of the project by design.
_LOCK_SQL = (
    "SELECT pg_advisory_xact_lock(hashtextextended('scheduling.price_series:' || v.o || ':' || v.p || ':' || v.s, 0)) "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) WITH ORDINALITY AS v(o, p, s, n) ORDER BY v.n"
)
# Old points that a later point before the cutoff replaces, a batch at a time (short transactions).
_PRUNE_SQL = (
    "DELETE FROM scheduling_pricehistory WHERE id IN ("
    "SELECT h.id FROM scheduling_pricehistory h WHERE h.at < %s AND EXISTS ("
    "SELECT 1 FROM scheduling_pricehistory n WHERE n.offering_id = h.offering_id AND n.profile_id = h.profile_id "
    "AND n.source = h.source AND n.at <= %s AND (n.at, n.id) > (h.at, h.id)) LIMIT %s)"
)
PRUNE_BATCH = 10_000


@dataclass(frozen=True)
class PricePoint:
    """A price served: the unit price of ``source`` for an offering's profile."""

    offering_id: int
    profile_id: int
    source: str
    unit_price: int
    currency: str
    utilisation: float | None = None

    @property
    def series(self) -> Series:
        return (self.offering_id, self.profile_id, self.source)


def _columns(keys: Sequence[Series]) -> list[list]:
    return [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]]


def _latest(keys: Sequence[Series]) -> dict[Series, tuple[int, str, datetime]]:
    with connection.cursor() as cur:
        cur.execute(_LATEST_SQL, _columns(keys))
        return {(o, p, s): (price, currency, at) for o, p, s, price, currency, at in cur.fetchall()}


def _changes(
    points: Sequence[PricePoint], latest: dict[Series, tuple[int, str, datetime]], at: datetime
) -> list[PriceHistory]:
    """The points that change their series, in order (a series may change more than once in a call).
    A point is never placed before its series' latest, so "latest" by time is also the last written."""
    last = dict(latest)
    rows: list[PriceHistory] = []
    for p in points:
        before = last.get(p.series)
        if before is not None and before[:2] == (p.unit_price, p.currency):
            continue
        when = max(at, before[2]) if before is not None else at
        last[p.series] = (p.unit_price, p.currency, when)
        rows.append(
            PriceHistory(
                offering_id=p.offering_id,
                profile_id=p.profile_id,
                source=p.source,
                at=when,
                unit_price=p.unit_price,
                currency=p.currency,
                utilisation=p.utilisation,
            )
        )
    return rows


def prices_record(points: Iterable[PricePoint], *, at: datetime | None = None) -> int:
    """Record the points whose price differs from their series' latest; returns the points written.

    Prices seen again write nothing (one read). Changes are written under each series' advisory
    lock, compared again with the latest row there, so concurrent callers never write one twice."""
    todo = list(points)
    if not todo:
        return 0
    at = at or clock.now()
    keys = sorted({p.series for p in todo})
    if not _changes(todo, _latest(keys), at):
        return 0
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(_LOCK_SQL, _columns(keys))
        # A new statement under the lock (READ COMMITTED): it sees what a writer before us committed.
        rows = _changes(todo, _latest(keys), at)
        PriceHistory.objects.bulk_create(rows)
    return len(rows)


def price_history_prune(*, now: datetime | None = None) -> int:
    """Delete points older than the retention, keeping each series' last one before the cutoff;
    returns how many went (audited as one event when any did)."""
    cutoff = (now or clock.now()) - timedelta(days=settings.MARKETPLACE_PRICE_HISTORY_DAYS)
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(_PRUNE_SQL, [cutoff, cutoff, PRUNE_BATCH])
            batch = cur.rowcount
            deleted += batch
            if batch < PRUNE_BATCH:
                if deleted:
                    record_event(
                        actor=None,
                        verb="price_history.pruned",
                        data={"deleted": deleted, "before": cutoff.isoformat()},
                        source="task",
                    )
                return deleted
