"""Typed results. Each keeps the whole answer in ``raw`` (fields added to the API later are there)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T", bound="_Result")

FINAL_STATES = frozenset({"rejected", "outbid", "completed", "released", "preempted", "failed"})


@dataclass
class _Result:
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        known = {f.name for f in fields(cls)} - {"raw"}
        return cls(raw=data, **{k: data.get(k) for k in known})

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass
class Slice(_Result):
    """A slice for sale: pass ``id`` to ``Client.request``. Prices are decimal strings in ``currency``."""

    id: str = ""
    offering: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    start: str | None = None
    end: str | None = None
    duration: int | None = None
    grid_seconds: int | None = None
    pricing_model: str | None = None
    currency: str | None = None
    unit_price: str | None = None
    total_price: str | None = None
    price_per_hour: str | None = None
    utilisation: float | None = None
    auction: dict[str, Any] | None = None


@dataclass
class Booking(_Result):
    """A booking or bid. ``cost`` is set after an action (what it cost), ``extension`` after an extend."""

    id: int = 0
    state: str = ""
    reason: str | None = None
    slice_id: str | None = None
    offering: int | None = None
    offering_name: str | None = None
    profile: int | None = None
    profile_name: str | None = None
    pricing_model: str | None = None
    starts_at: str | None = None
    ends_at: str | None = None
    duration: int | None = None
    image: str | None = None
    currency: str | None = None
    unit_price: str | None = None
    total_price: str | None = None
    bid: str | None = None
    auction: dict[str, Any] | None = None
    preempt_deadline: str | None = None
    created_at: str | None = None
    confirmed_at: str | None = None
    ended_at: str | None = None
    cost: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @property
    def ended(self) -> bool:
        return self.state in FINAL_STATES


@dataclass
class Quote(_Result):
    id: str = ""
    offering: int | None = None
    profile: int | None = None
    starts_at: str | None = None
    ends_at: str | None = None
    unit_price: str | None = None
    total_price: str | None = None
    currency: str | None = None
    utilisation: float | None = None
    expires_at: str | None = None


@dataclass
class PricePoint(_Result):
    """A price an offering's profile took at ``at`` (a point each time it changed); ``unit_price`` is a
    decimal string per grid unit in ``currency``; ``source`` is fixed, dynamic or auction."""

    at: str | None = None
    profile: int | None = None
    source: str | None = None
    unit_price: str | None = None
    currency: str | None = None
    utilisation: float | None = None


@dataclass
class Usage(_Result):
    booking: int = 0
    state: str = ""
    start: str | None = None
    end: str | None = None
    ended_at: str | None = None
    preempt_deadline: str | None = None
    elapsed_seconds: int | None = None
    currency: str | None = None
    total_price: str | None = None
    charges_so_far: str | None = None
    samples: list[Any] | None = None
    totals: dict[str, Any] | None = None
    seconds_held: int | None = None

    @property
    def ended(self) -> bool:
        return self.state in FINAL_STATES


@dataclass
class Preview(_Result):
    """The answer to a ``preview=True`` action: what it would cost; nothing was done."""

    preview: bool = True
    booking: int | None = None
    cost: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


@dataclass
class Cloud(_Result):
    """One of the owner's clouds; the credential secret is never shown (``has_secret`` says if one is stored)."""

    id: int = 0
    name: str = ""
    driver: str | None = None
    auth_url: str | None = None
    region_name: str | None = None
    project_id: str | None = None
    app_credential_id: str | None = None
    has_secret: bool | None = None
    last_checked_at: str | None = None
    last_check_ok: bool | None = None
    last_check_message: str | None = None
    created_at: str | None = None


@dataclass
class Offering(_Result):
    """One of the owner's offerings. ``transitions``: the statuses it may move to now."""

    id: int = 0
    cloud: int | None = None
    name: str = ""
    description: str | None = None
    region: str | None = None
    status: str = ""
    vcpus: int | None = None
    ram_mib: int | None = None
    disk_gb: int | None = None
    bandwidth_mbps: int | None = None
    grid_seconds: int | None = None
    min_length_seconds: int | None = None
    max_length_seconds: int | None = None
    timezone: str | None = None
    allowed_images: list[str] | None = None
    preemption_notice_seconds: int | None = None
    held_back: dict[str, Any] | None = None
    windows: list[dict[str, Any]] | None = None
    transitions: list[str] | None = None
    created_at: str | None = None
    updated_at: str | None = None


@dataclass
class Window(_Result):
    """Weekly availability hours of an offering (weekdays 0 = Monday; end before start crosses midnight)."""

    id: int = 0
    weekdays: list[int] | None = None
    start_time: str | None = None
    end_time: str | None = None


@dataclass
class Profile(_Result):
    id: int = 0
    name: str = ""
    vcpus: int | None = None
    ram_mib: int | None = None
    disk_gb: int | None = None
    bandwidth_mbps: int | None = None
    flavor_name: str | None = None
    predefined: bool | None = None


@dataclass
class Price(_Result):
    """A profile's price on an offering; amounts are decimal strings per grid unit in ``currency``."""

    id: int = 0
    offering: int | None = None
    profile: int | None = None
    profile_name: str | None = None
    model: str = ""
    currency: str | None = None
    price_per_unit: str | None = None
    reserve_price: str | None = None
    bidding_closes_seconds: int | None = None
    clearing_rule: str | None = None
    base_price: str | None = None
    floor_price: str | None = None
    cap_price: str | None = None
    surge_curve: list[list[float]] | None = None
    release_charge: str | None = None
    updated_at: str | None = None


@dataclass
class OwnerBooking(_Result):
    """A booking on one of the owner's offerings; the renter is their public handle."""

    id: int = 0
    state: str = ""
    reason: str | None = None
    offering: int | None = None
    offering_name: str | None = None
    profile: int | None = None
    profile_name: str | None = None
    renter: str | None = None
    pricing_model: str | None = None
    starts_at: str | None = None
    ends_at: str | None = None
    duration: int | None = None
    image: str | None = None
    currency: str | None = None
    unit_price: str | None = None
    total_price: str | None = None
    preempt_deadline: str | None = None
    notice_given_at: str | None = None
    notice_seconds: int | None = None
    created_at: str | None = None
    confirmed_at: str | None = None
    ended_at: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in FINAL_STATES


@dataclass
class Preemption(_Result):
    """What a preemption did (or, with ``preview``, would do): each booking's notice and deadline."""

    preview: bool = False
    offering: int | None = None
    count: int = 0
    notices: list[dict[str, Any]] | None = None


@dataclass
class Revenue(_Result):
    """An owner's revenue in minor units: ``totals`` per currency, ``offerings`` per offering, ``days``."""

    to: str | None = None
    totals: list[dict[str, Any]] | None = None
    offerings: list[dict[str, Any]] | None = None
    days: list[dict[str, Any]] | None = None
    payable: dict[str, int] | None = None

    @property
    def from_(self) -> str | None:
        """The first day of the period (``from`` in the answer)."""
        value = self.raw.get("from")
        return None if value is None else str(value)


@dataclass
class Standby(_Result):
    """An owned offering's standby (warm) pools and what they hold back from sale."""

    offering: int = 0
    capacity: dict[str, Any] | None = None
    held_back: dict[str, Any] | None = None
    sellable: dict[str, Any] | None = None
    pools: list[dict[str, Any]] | None = None


@dataclass
class WebhookEndpoint(_Result):
    """A URL that receives the market's events for you. ``secret`` (signing, see slicemarket.webhooks) is
    set only in the answer to create and rotate_secret: keep it then."""

    id: int = 0
    url: str = ""
    description: str | None = None
    event_types: list[str] | None = None
    is_active: bool = True
    disabled_at: str | None = None
    disabled_reason: str | None = None
    consecutive_failures: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    secret: str | None = None


@dataclass
class WebhookDelivery(_Result):
    """One event sent (or to be sent) to an endpoint, with its attempts; ``body`` from ``delivery()`` only."""

    id: int = 0
    event_id: str | None = None
    event_type: str | None = None
    booking_id: int | None = None
    state: str = ""
    manual: bool | None = None
    attempts: int | None = None
    next_attempt_at: str | None = None
    last_status_code: int | None = None
    delivered_at: str | None = None
    created_at: str | None = None
    attempt_log: list[dict[str, Any]] | None = None
    body: str | None = None
