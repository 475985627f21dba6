"""Hooks the renters' portal offers to higher apps (scheduling registers the price history here).

Renters may not import scheduling; the offering page shows the offering's price history through the
reader scheduling registers in its AppConfig.ready().
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from owners.models import Offering


@dataclass(frozen=True)
class PriceChange:
    """A price an offering's profile took at ``at`` (minor units per grid unit), by source."""

    profile_id: int
    source: str  # fixed, dynamic, auction
    at: datetime
    unit_price: int
    currency: str


class PriceHistoryReader(Protocol):
    """The offering's price changes in [since, until), oldest first, each series led by its price in
    force at ``since``; at most ``limit`` (the latest ones); only ``profile_id``'s when given (a
    profile the offering prices)."""

    def __call__(
        self, offering: Offering, since: datetime, until: datetime, limit: int, /, profile_id: int | None = None
    ) -> list[PriceChange]: ...


_readers: list[PriceHistoryReader] = []


def register_price_history(reader: PriceHistoryReader) -> None:
    _readers[:] = [reader]


def price_history(
    offering: Offering, since: datetime, until: datetime, limit: int, *, profile_id: int | None = None
) -> list[PriceChange]:
    """The registered reader's answer, or no changes when scheduling is not installed."""
    return _readers[0](offering, since, until, limit, profile_id=profile_id) if _readers else []
