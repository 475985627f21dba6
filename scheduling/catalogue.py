"""The catalogue this process keeps: published offerings, their prices, profiles and windows.

Booking and search both read the owners' catalogue on every request, and it changes rarely;
reading it each time was a third of a booking's time and most of a search's. So each process
keeps ONE copy per database (``Catalogue``), tagged with the catalogue version (scheduling/sql/catalogue_version.sql):
a row that triggers on the four tables it comes from set to a fresh sequence number in every
writing transaction, so any insert, update or delete, committed or made earlier in the same
transaction, changes it, and a rolled-back change's number is never reused. Whoever uses the copy
checks that version in the same round trip as its own work, and forgets the copy on a mismatch:

- booking (``entry``) keeps the entries it has read, (offering, policy, weekly windows) per
  (offering, profile), for fixed and dynamic prices only; scheduling_booking_request compares
  the entry's version under the offering's lock (scheduling/sql/booking_request.sql) and answers 'stale' if the
  catalogue has changed since; bids and quotes read afresh every time;
- search (``for_search``) keeps the whole published catalogue in price order, and checks the
  version in the same call as its claims query (scheduling_search_claims).

A read at another version than the kept copy's replaces the copy whole, so booking entries and
the search catalogue are always of one version. Copies are replaced, never edited in place
(except that entries and the candidates memo gain entries), so threads of one process can share
them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from django.db import connection
from django.db.models import ExpressionWrapper, F, FloatField, Value
from django.db.models.functions import Cast, Coalesce

from marketplace.lib.db import fetch_prepared
from owners.models import AvailabilityWindow, Offering, PricingPolicy, SliceProfile

# (weekdays, start, end) of each availability window of an offering.
Weekly = list[tuple[Any, time, time]]
# What booking keeps per (offering id, profile id): the offering, its price for the profile (with
# .offering and .profile filled) and its weekly windows. Shared and read-only.
Entry = tuple[Offering, PricingPolicy, Weekly]

ENTRIES_MAX = 4096  # bounded: a process that books everywhere must not grow forever


@dataclass
class Catalogue:
    """What this process has read of one database's catalogue, at one version."""

    version: int | None
    entries: dict[tuple[int, int], Entry] = field(default_factory=dict)
    # {"fingerprint", "rows", "windows", "candidates"} once a search has loaded it (see _load_search).
    search: dict[str, Any] | None = None

    @property
    def fingerprint(self) -> str:
        """The version as scheduling_catalogue_fingerprint() and scheduling_search_claims() spell it."""
        return "none" if self.version is None else str(self.version)


# database name -> the copy kept for it
_KEPT: dict[str, Catalogue] = {}


def _db() -> str:
    return connection.settings_dict["NAME"]


def forget() -> None:
    """Drop this database's copy: someone found the catalogue changed since it was read."""
    _KEPT.pop(_db(), None)


def _kept_at(version: int | None) -> Catalogue:
    """The kept copy if it is of ``version``, else a fresh empty one that replaces it."""
    db = _db()
    kept = _KEPT.get(db)
    if kept is None or kept.version != version:
        kept = _KEPT[db] = Catalogue(version)
    return kept


# ---- booking: one entry at a time -------------------------------------------------------------


class _Loader:
    """Model instances from the columns of a hand-written SELECT (the ORM's compile step costs more
    than the query on the booking path). Columns come from the model's own metadata, so a new field
    is read without touching the SQL; converters (JSON) are applied as the ORM would."""

    def __init__(self, model: type[Any], alias: str) -> None:
        fields = model._meta.concrete_fields
        self.model = model
        self.names = [f.attname for f in fields]
        self.sql = ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields)
        self.converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
        self.width = len(fields)

    def load(self, row: Sequence[Any], offset: int) -> Any:
        values = list(row[offset : offset + self.width])
        if values[0] is None:  # outer join found nothing
            return None
        for i, convert in self.converters:
            if values[i] is not None:
                values[i] = convert(values[i], None, connection)
        return self.model.from_db(connection.alias, self.names, values)


_ENTRY_QUERY: dict[str, Any] = {}  # "loaders", "sql": built once per process from model metadata


def entry(
    offering_id: int, profile_id: int, *, cached: bool = False
) -> tuple[Offering | None, PricingPolicy | None, Weekly, int | None]:
    """The offering, its price for the profile (policy.offering/profile filled), its weekly windows
    and the catalogue version they were read at. ``cached``: a kept entry, when there is one."""
    if cached:
        kept = _KEPT.get(_db())
        if kept is not None:
            hit = kept.entries.get((offering_id, profile_id))
            if hit is not None:
                return (*hit, kept.version)
    if not _ENTRY_QUERY:
        loaders = (_Loader(Offering, "o"), _Loader(PricingPolicy, "p"), _Loader(SliceProfile, "s"))
        _ENTRY_QUERY["loaders"] = loaders
        # Column names come from model metadata (quoted); every value is a bound parameter.
        _ENTRY_QUERY["sql"] = (
            f"SELECT {loaders[0].sql}, {loaders[1].sql}, {loaders[2].sql}, "  # noqa: S608
            "(SELECT coalesce(json_agg(json_build_object('weekdays', w.weekdays, 'start', w.start_time, "
            "'end', w.end_time)), '[]')::text FROM owners_availabilitywindow w WHERE w.offering_id = o.id), "
            "(SELECT v.version FROM scheduling_catalogue_version v WHERE v.id = 1) "
            "FROM owners_offering o "
            "LEFT JOIN owners_pricingpolicy p ON p.offering_id = o.id AND p.profile_id = %s "
            "LEFT JOIN owners_sliceprofile s ON s.id = p.profile_id "
            "WHERE o.id = %s"
        )
    loaders = _ENTRY_QUERY["loaders"]
    # A server-side prepared statement: planning this join took longer than running it, on every booking.
    rows = fetch_prepared(_ENTRY_QUERY["sql"], [profile_id, offering_id])
    if not rows:
        return None, None, [], None
    row = rows[0]
    offering = loaders[0].load(row, 0)
    policy = loaders[1].load(row, loaders[0].width)
    if policy is not None:
        policy.offering = offering
        policy.profile = loaders[2].load(row, loaders[0].width + loaders[1].width)
    weekly = [
        (w["weekdays"], time.fromisoformat(w["start"]), time.fromisoformat(w["end"])) for w in json.loads(row[-2])
    ]
    version = row[-1]
    if (
        policy is not None
        and policy.model != PricingPolicy.Model.AUCTION
        and offering.status == Offering.Status.PUBLISHED
    ):
        kept = _kept_at(version)
        if len(kept.entries) >= ENTRIES_MAX:
            kept.entries = {}
        kept.entries[(offering_id, profile_id)] = (offering, policy, weekly)
    return offering, policy, weekly, version


# ---- search: the whole published catalogue -----------------------------------------------------


def for_search() -> dict[str, Any]:
    """The published catalogue in price order, as search uses it: {"fingerprint", "rows", "windows",
    "candidates"}. The kept one if there is one (search checks its fingerprint with its claims)."""
    kept = _KEPT.get(_db())
    if kept is not None and kept.search is not None:
        return kept.search
    return _load_search()


def _load_search() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute("SELECT scheduling_catalogue_fingerprint()")
        fingerprint = cur.fetchone()[0]
    # Read after the fingerprint: if anything changes in between, the next check reloads.
    lower_bound = ExpressionWrapper(
        Cast(Coalesce("price_per_unit", "reserve_price", "floor_price", Value(0)), FloatField())
        / F("offering__grid_seconds"),
        output_field=FloatField(),
    )
    policies = list(
        PricingPolicy.objects.filter(offering__status=Offering.Status.PUBLISHED)
        .select_related("offering", "profile")
        .annotate(lower_per_second=lower_bound)
        .order_by("lower_per_second", "offering_id", "profile_id")
    )
    windows: dict[int, list] = defaultdict(list)
    for w in AvailabilityWindow.objects.filter(offering__status=Offering.Status.PUBLISHED):
        windows[w.offering_id].append((w.weekdays, w.start_time, w.end_time))
    # What the filters look at, unpacked once (attribute access through the ORM's descriptors was
    # most of the filtering time).
    rows = [
        (
            p.profile.vcpus,
            p.profile.ram_mib,
            p.profile.disk_gb,
            p.profile.bandwidth_mbps,
            p.profile_id,
            p.offering_id,
            p.offering.region.upper(),
            p,
        )
        for p in policies
    ]
    fresh = {"fingerprint": fingerprint, "rows": rows, "windows": dict(windows), "candidates": {}}
    _kept_at(None if fingerprint == "none" else int(fingerprint)).search = fresh
    return fresh
