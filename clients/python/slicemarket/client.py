"""A small client for the Slice Market REST API (``/api/v1``), on ``requests``.

    from slicemarket import Client
    c = Client("https://market.example", token="sm_...")
    for s in c.search(cpu=2, ram=4, duration=300):
        booking = c.request(s.id)
        break

Errors are exceptions carrying the API's error code (slicemarket.errors). A 429 is retried after its
``Retry-After`` (bounded); a connection error is retried for requests that are safe to repeat: GETs,
PUTs, and POSTs that carry an ``Idempotency-Key`` (every buying/extending/releasing call here sends
one, generated per call unless given, so a retry never buys twice).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from datetime import time as clock_time
from typing import Any

import requests

from .errors import ApiError, TransportError, error_for
from .types import (
    Booking,
    Cloud,
    Offering,
    OwnerBooking,
    Preemption,
    Preview,
    Price,
    PricePoint,
    Profile,
    Quote,
    Revenue,
    Slice,
    Standby,
    Usage,
    WebhookDelivery,
    WebhookEndpoint,
    Window,
)

DEFAULT_TIMEOUT = 30.0
MAX_RETRY_AFTER = 60.0  # never sleep longer than this for one 429, whatever the server says


def _param(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("Give timezone-aware datetimes (e.g. datetime.now(UTC)).")
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "1" if value else "0"
    return value


class Client:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 3,
        *,
        session: requests.Session | None = None,
        max_retry_after: float = MAX_RETRY_AFTER,
        sleep: Any = time.sleep,
    ) -> None:
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/api/v1") else base + "/api/v1"
        self.token = token
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "slicemarket-python/0.1"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # ---- transport ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One API call; the decoded JSON answer. Raises ApiError (a subclass by status) or TransportError."""
        method = method.upper()
        headers = dict(headers or {})
        repeatable = method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE") or "Idempotency-Key" in headers
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method, self._url(path), params=query or None, json=json, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if repeatable and attempt < self.retries:
                    attempt += 1
                    self._sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
                    continue
                raise TransportError(f"{method} {self._url(path)}: {exc}") from exc
            if response.status_code == 429 and attempt < self.retries:
                attempt += 1
                self._sleep(self._retry_after(response))
                continue
            return self._decode(response)

    def _retry_after(self, response: requests.Response) -> float:
        raw = response.headers.get("Retry-After", "")
        try:
            wait = float(raw)
        except ValueError:
            wait = 1.0  # an HTTP date or nothing: a short pause
        return min(max(wait, 0.0), self.max_retry_after)

    @staticmethod
    def _decode(response: requests.Response) -> Any:
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise error_for(response.status_code, body, response.text)
        return body

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every result of a paginated list, following ``next`` (limit/offset) page after page."""
        page = self.call("GET", path, params=params)
        while True:
            yield from page.get("results") or []
            nxt = page.get("next")
            if not nxt:
                return
            page = self.call("GET", nxt)

    @staticmethod
    def _key(idempotency_key: str | None) -> dict[str, str]:
        return {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}

    # ---- the market ----------------------------------------------------------------------------

    def search(
        self,
        *,
        cpu: int | None = None,
        ram: float | None = None,
        disk: int | None = None,
        bandwidth: int | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        duration: int | str | None = None,
        profile: int | None = None,
        offering: int | None = None,
        region: str | None = None,
        max_price: str | float | None = None,
        currency: str | None = None,
        ordering: str | None = None,
        per_offering: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Slice]:
        """Slices for sale that fit (``ram`` in GiB, ``duration`` in seconds or "5 min"), every page."""
        params = {
            "cpu": cpu,
            "ram": ram,
            "disk": disk,
            "bandwidth": bandwidth,
            "start": start,
            "end": end,
            "duration": duration,
            "profile": profile,
            "offering": offering,
            "region": region,
            "max_price": max_price,
            "currency": currency,
            "ordering": ordering,
            "per_offering": per_offering,
            "limit": limit,
        }
        for item in self._pages("timeslots", params):
            yield Slice.from_dict(item)

    def search_page(self, **params: Any) -> dict[str, Any]:
        """One page of the search as the API answers it (``count``, ``next``, ``results``, ``explanation``)."""
        page: dict[str, Any] = self.call("GET", "timeslots", params=params)
        return page

    def quote(self, slice_id: str, *, duration: int | None = None, idempotency_key: str | None = None) -> Quote:
        """A dynamic price for a slice, valid about a minute: pass its id as ``quote`` to ``request``."""
        body = {"duration": duration} if duration is not None else {}
        return Quote.from_dict(
            self.call("POST", f"timeslots/{slice_id}/quote", json=body, headers=self._key(idempotency_key))
        )

    def request(
        self,
        slice_id: str,
        *,
        duration: int | None = None,
        bid: str | float | None = None,
        quote: str | None = None,
        image: str | None = None,
        user_data: str | None = None,
        ssh_cidrs: list[str] | None = None,
        idempotency_key: str | None = None,
        preview: bool = False,
    ) -> Booking | Preview:
        """Buy a slice (or bid on an auction slice). A Booking, or a Preview with ``preview=True``."""
        body: dict[str, Any] = {
            k: v
            for k, v in {
                "duration": duration,
                "bid": None if bid is None else str(bid),
                "quote": quote,
                "image": image,
                "user_data": user_data,
                "ssh_cidrs": ssh_cidrs,
            }.items()
            if v is not None
        }
        data = self.call(
            "POST",
            f"timeslots/{slice_id}/request",
            params={"preview": 1} if preview else None,
            json=body,
            headers=self._key(idempotency_key),
        )
        return Preview.from_dict(data) if preview else Booking.from_dict(data)

    buy = request

    def usage(self, booking_id: int) -> Usage:
        """The booking's state, times, charges so far and metered usage."""
        return Usage.from_dict(self.call("GET", f"timeslots/{int(booking_id)}/usage"))

    def release(
        self, booking_id: int, *, idempotency_key: str | None = None, preview: bool = False
    ) -> Booking | Preview:
        """End a booking now (or withdraw a bid)."""
        data = self.call(
            "POST",
            f"timeslots/{int(booking_id)}/release",
            params={"preview": 1} if preview else None,
            headers=self._key(idempotency_key),
        )
        return Preview.from_dict(data) if preview else Booking.from_dict(data)

    def extend(
        self, booking_id: int, duration: int, *, idempotency_key: str | None = None, preview: bool = False
    ) -> Booking | Preview:
        """Move the booking's end ``duration`` seconds later. A Conflict with code ``extension_unavailable``
        says in ``err.get("longest_seconds")`` the longest extension that can be granted."""
        data = self.call(
            "POST",
            f"timeslots/{int(booking_id)}/extend",
            params={"preview": 1} if preview else None,
            json={"duration": int(duration)},
            headers=self._key(idempotency_key),
        )
        return Preview.from_dict(data) if preview else Booking.from_dict(data)

    def bookings(self, *, state: str | None = None, limit: int | None = None) -> Iterator[Booking]:
        """Your bookings and bids, newest first, every page."""
        for item in self._pages("bookings", {"state": state, "limit": limit}):
            yield Booking.from_dict(item)

    def booking(self, booking_id: int) -> Booking:
        """One of your bookings (NotFound when it is not yours)."""
        return Booking.from_dict(self.call("GET", f"bookings/{int(booking_id)}"))

    def price_history(
        self,
        offering_id: int,
        *,
        profile: int | None = None,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[PricePoint]:
        """An offering's price changes from ``since`` to ``until`` (default: the last 7 days), oldest
        first, every page; each (profile, source) series starts with its price in force at ``since``."""
        params = {"profile": profile, "source": source, "since": since, "until": until}
        for item in self._pages(f"offerings/{int(offering_id)}/price-history", params):
            yield PricePoint.from_dict(item)

    # ---- owners ----------------------------------------------------------------------------------

    def standby(self, offering_id: int) -> Standby:
        """An owned offering's standby pools (needs a token with the ``owner`` scope)."""
        return Standby.from_dict(self.call("GET", f"owner/offerings/{int(offering_id)}/standby"))

    def set_standby(self, offering_id: int, *, profile: int, size: int, image: str | None = None) -> Standby:
        """Keep ``size`` standby servers of ``profile`` (and ``image``) booted for an owned offering."""
        body: dict[str, Any] = {"profile": int(profile), "size": int(size)}
        if image is not None:
            body["image"] = image
        return Standby.from_dict(self.call("PUT", f"owner/offerings/{int(offering_id)}/standby", json=body))

    def clouds(self) -> Iterator[Cloud]:
        """Your clouds (their secrets are never shown)."""
        for item in self._pages("owner/clouds", {}):
            yield Cloud.from_dict(item)

    def offerings(self, *, status: str | None = None, limit: int | None = None) -> Iterator[Offering]:
        """Your offerings (``status``: draft, published, paused or retired), every page."""
        for item in self._pages("owner/offerings", {"status": status, "limit": limit}):
            yield Offering.from_dict(item)

    def offering(self, offering_id: int) -> Offering:
        """One of your offerings (NotFound when it is not yours)."""
        return Offering.from_dict(self.call("GET", f"owner/offerings/{int(offering_id)}"))

    def create_offering(self, *, cloud: int, name: str, vcpus: int, ram_mib: int, **fields: Any) -> Offering:
        """A new draft offering on one of your clouds; ``fields``: disk_gb, bandwidth_mbps, grid_seconds,
        min_length_seconds, max_length_seconds, timezone, allowed_images, preemption_notice_seconds, …"""
        body = {"cloud": int(cloud), "name": name, "vcpus": int(vcpus), "ram_mib": int(ram_mib), **fields}
        return Offering.from_dict(self.call("POST", "owner/offerings", json=body))

    def update_offering(self, offering_id: int, **fields: Any) -> Offering:
        """Change any of an offering's fields (a capacity live bookings hold is refused: BadRequest)."""
        return Offering.from_dict(self.call("PATCH", f"owner/offerings/{int(offering_id)}", json=fields))

    def set_offering_status(self, offering_id: int, status: str) -> Offering:
        """Publish, pause or retire an offering (retired is final; a move not allowed is a Conflict)."""
        return Offering.from_dict(
            self.call("POST", f"owner/offerings/{int(offering_id)}/status", json={"status": status})
        )

    def windows(self, offering_id: int) -> list[Window]:
        """An offering's weekly availability windows (none: sold at all hours)."""
        return [Window.from_dict(w) for w in self.call("GET", f"owner/offerings/{int(offering_id)}/windows")]

    def add_window(
        self, offering_id: int, *, weekdays: list[int], start_time: str | clock_time, end_time: str | clock_time
    ) -> Window:
        """Add weekly hours (weekdays 0 = Monday) in the offering's time zone."""
        body = {
            "weekdays": [int(d) for d in weekdays],
            "start_time": start_time if isinstance(start_time, str) else start_time.isoformat(),
            "end_time": end_time if isinstance(end_time, str) else end_time.isoformat(),
        }
        return Window.from_dict(self.call("POST", f"owner/offerings/{int(offering_id)}/windows", json=body))

    def remove_window(self, offering_id: int, window_id: int) -> None:
        self.call("DELETE", f"owner/offerings/{int(offering_id)}/windows/{int(window_id)}")

    def profiles(self) -> Iterator[Profile]:
        """The profiles you may price: the platform's and your own custom ones."""
        for item in self._pages("owner/profiles", {}):
            yield Profile.from_dict(item)

    def create_profile(
        self, *, name: str, vcpus: int, ram_mib: int, flavor_name: str, disk_gb: int = 0, bandwidth_mbps: int = 0
    ) -> Profile:
        body = {
            "name": name,
            "vcpus": int(vcpus),
            "ram_mib": int(ram_mib),
            "disk_gb": int(disk_gb),
            "bandwidth_mbps": int(bandwidth_mbps),
            "flavor_name": flavor_name,
        }
        return Profile.from_dict(self.call("POST", "owner/profiles", json=body))

    def update_profile(self, profile_id: int, **fields: Any) -> Profile:
        return Profile.from_dict(self.call("PATCH", f"owner/profiles/{int(profile_id)}", json=fields))

    def prices(self, offering_id: int) -> list[Price]:
        """An offering's prices, one per profile."""
        return [Price.from_dict(p) for p in self.call("GET", f"owner/offerings/{int(offering_id)}/pricing")]

    def set_price(self, offering_id: int, profile_id: int, *, model: str, **fields: Any) -> Price:
        """Create or replace a profile's price: ``model`` fixed (price_per_unit), auction (reserve_price,
        bidding_closes_seconds, clearing_rule) or dynamic (base_price, floor_price, cap_price, surge_curve);
        amounts per grid unit in major units ("0.05"); ``currency`` defaults to the offering's."""
        body = {
            "model": model,
            **{
                k: str(v) if k.endswith("_price") or k == "price_per_unit" else v
                for k, v in fields.items()
                if v is not None
            },
        }
        path = f"owner/offerings/{int(offering_id)}/pricing/{int(profile_id)}"
        return Price.from_dict(self.call("PUT", path, json=body))

    def remove_price(self, offering_id: int, profile_id: int) -> None:
        self.call("DELETE", f"owner/offerings/{int(offering_id)}/pricing/{int(profile_id)}")

    def owner_bookings(
        self, *, offering: int | None = None, state: str | None = None, limit: int | None = None
    ) -> Iterator[OwnerBooking]:
        """Bookings on your offerings, newest first, every page (renters by handle)."""
        for item in self._pages("owner/bookings", {"offering": offering, "state": state, "limit": limit}):
            yield OwnerBooking.from_dict(item)

    def owner_booking(self, booking_id: int) -> OwnerBooking:
        return OwnerBooking.from_dict(self.call("GET", f"owner/bookings/{int(booking_id)}"))

    def _preempt(self, path: str, notice_seconds: int | None, reason: str | None, preview: bool) -> Preemption:
        body: dict[str, Any] = {}
        if notice_seconds is not None:
            body["notice_seconds"] = int(notice_seconds)
        if reason is not None:
            body["reason"] = reason
        data = self.call("POST", path, params={"preview": 1} if preview else None, json=body)
        return Preemption.from_dict(data)

    def preempt(
        self, booking_id: int, *, notice_seconds: int | None = None, reason: str | None = None, preview: bool = False
    ) -> Preemption:
        """Give a booking on your offering notice (default: the offering's); ``notices[0]["deadline"]`` is when
        it ends. With ``preview=True`` nothing is done."""
        return self._preempt(f"owner/bookings/{int(booking_id)}/preempt", notice_seconds, reason, preview)

    def preempt_offering(
        self, offering_id: int, *, notice_seconds: int | None = None, reason: str | None = None, preview: bool = False
    ) -> Preemption:
        """Give every live booking of your offering notice (maintenance)."""
        return self._preempt(f"owner/offerings/{int(offering_id)}/preempt", notice_seconds, reason, preview)

    def revenue(self, *, start: date | str | None = None, end: date | str | None = None) -> Revenue:
        """Your revenue in minor units per currency, offering and day, from ``start`` to ``end`` (UTC days,
        both included; default: the last 31 days)."""
        params = {
            "from": start.isoformat() if isinstance(start, date) else start,
            "to": end.isoformat() if isinstance(end, date) else end,
        }
        return Revenue.from_dict(self.call("GET", "owner/revenue", params=params))

    # ---- following a booking ---------------------------------------------------------------------

    def watch(self, booking_id: int, *, interval: float = 2.0, timeout: float | None = None) -> Iterator[Usage]:
        """Yield the booking's usage each time its state changes, until it ends (or ``timeout`` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            u = self.usage(booking_id)
            if u.state != last:
                last = u.state
                yield u
            if u.ended:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            self._sleep(interval)

    # ---- webhooks (/api/v1/webhooks) -------------------------------------------------------------

    def webhook_endpoints(self, *, limit: int | None = None) -> Iterator[WebhookEndpoint]:
        """Your webhook endpoints, every page (secrets are never listed)."""
        for item in self._pages("webhooks/endpoints", {"limit": limit}):
            yield WebhookEndpoint.from_dict(item)

    def create_webhook_endpoint(self, url: str, event_types: list[str], *, description: str = "") -> WebhookEndpoint:
        """A new endpoint receiving ``event_types`` (e.g. ``["booking.confirmed"]``); its ``secret`` is in
        this answer only. The URL must be https and reach a public address (BadRequest otherwise)."""
        body = {"url": url, "event_types": list(event_types), "description": description}
        return WebhookEndpoint.from_dict(self.call("POST", "webhooks/endpoints", json=body))

    def webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        """One of your endpoints (NotFound when it is not yours)."""
        return WebhookEndpoint.from_dict(self.call("GET", f"webhooks/endpoints/{int(endpoint_id)}"))

    def update_webhook_endpoint(
        self,
        endpoint_id: int,
        *,
        url: str | None = None,
        event_types: list[str] | None = None,
        description: str | None = None,
        is_active: bool | None = None,
    ) -> WebhookEndpoint:
        """Change what is given; ``is_active=True`` turns an endpoint back on and sends what waited."""
        body: dict[str, Any] = {}
        if url is not None:
            body["url"] = url
        if event_types is not None:
            body["event_types"] = list(event_types)
        if description is not None:
            body["description"] = description
        if is_active is not None:
            body["is_active"] = bool(is_active)
        return WebhookEndpoint.from_dict(self.call("PATCH", f"webhooks/endpoints/{int(endpoint_id)}", json=body))

    def delete_webhook_endpoint(self, endpoint_id: int) -> None:
        """Delete an endpoint: nothing more is sent to it."""
        self.call("DELETE", f"webhooks/endpoints/{int(endpoint_id)}")

    def rotate_webhook_secret(self, endpoint_id: int) -> WebhookEndpoint:
        """A new signing secret at once (the old one stops signing); in this answer only."""
        return WebhookEndpoint.from_dict(self.call("POST", f"webhooks/endpoints/{int(endpoint_id)}/rotate-secret"))

    def webhook_deliveries(self, endpoint_id: int, *, limit: int | None = None) -> Iterator[WebhookDelivery]:
        """The endpoint's deliveries, newest first, every page, each with its attempts."""
        for item in self._pages(f"webhooks/endpoints/{int(endpoint_id)}/deliveries", {"limit": limit}):
            yield WebhookDelivery.from_dict(item)

    def webhook_delivery(self, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
        """One delivery with the event's ``body`` as it was signed and sent."""
        path = f"webhooks/endpoints/{int(endpoint_id)}/deliveries/{int(delivery_id)}"
        return WebhookDelivery.from_dict(self.call("GET", path))

    def redeliver_webhook(self, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
        """Send the delivery's event again now (same event id); returns the new delivery."""
        path = f"webhooks/endpoints/{int(endpoint_id)}/deliveries/{int(delivery_id)}/redeliver"
        return WebhookDelivery.from_dict(self.call("POST", path))


__all__ = ["ApiError", "Client"]
