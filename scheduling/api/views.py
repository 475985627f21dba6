"""The market API: search slices, request (buy or bid), quote, usage, release, extend. Views call services only."""

from __future__ import annotations

import functools
from datetime import timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from django.http import QueryDict
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.lib import clock
from marketplace.lib.api import BoundedLimitOffsetPagination
from marketplace.lib.apischema import error_response
from marketplace.lib.client_ip import client_ip
from marketplace.lib.idempotency import idempotent, is_preview
from scheduling import selectors, services
from scheduling.api.serializers import (
    BookingCostSerializer,
    BookingSerializer,
    ExtendConflictSerializer,
    ExtendErrorSerializer,
    ExtendRequestSerializer,
    ExtensionPreviewSerializer,
    ExtensionSerializer,
    PreviewSerializer,
    PriceHistoryQuerySerializer,
    PricePointSerializer,
    QuoteRequestSerializer,
    QuoteSerializer,
    SlicePageSerializer,
    SliceRequestSerializer,
    SliceSearchSerializer,
    SliceSerializer,
    UsageSerializer,
    slice_data,
)
from scheduling.services.booking import (
    CostPreview,
    booking_cost,
    booking_release_preview,
    booking_request_preview,
    release_cost,
)


class _MarketView(GenericAPIView):
    """Our views compute their own results: no queryset filters (the schema generator asks for them)."""

    filter_backends: list = []


@functools.lru_cache(maxsize=1024)
def _validated(items: tuple[tuple[str, tuple[str, ...]], ...]) -> MappingProxyType:
    params = SliceSearchSerializer(data=QueryDict(urlencode([(k, v) for k, vs in items for v in vs])))
    params.is_valid(raise_exception=True)
    return MappingProxyType(dict(params.validated_data))


def _search_params(query: QueryDict) -> MappingProxyType:
    """The validated search parameters. Validation is a pure function of the query string, and
    clients repeat theirs (pages, refreshes, the same sizes), so answers are remembered (read-only);
    invalid input raises every time."""
    return _validated(tuple(sorted((k, tuple(vs)) for k, vs in query.lists())))


# Holding a booking's price can fail for money (billing's holds); the body is the API's error shape.
NO_FUNDS = error_response(
    "`insufficient_funds`, `spend_limit_reached` or `no_payment_method`: the booking's price cannot be held."
)
TAKEN = error_response(
    "The slice was just taken, the offering stopped selling, or a request with the same Idempotency-Key is "
    "still running."
)

PREVIEW = OpenApiParameter(
    "preview",
    bool,
    OpenApiParameter.QUERY,
    description="1: answer with what the action would cost (200, a Preview) and do nothing; the same checks "
    "refuse it as the action would be refused.",
)


_SLICE = {
    "id": "12-3-6b0e9aa0-258:aYQtu-xYxq_HaqG0cppR6g",
    "offering": {"id": 12, "name": "Frankfurt burst pool", "region": "EU-FRA"},
    "profile": {"id": 3, "name": "Small", "vcpus": 2, "ram_mib": 4096, "disk_gb": 20, "bandwidth_mbps": 250},
    "start": "2026-12-01T10:00:00Z",
    "end": "2026-12-01T10:10:00Z",
    "duration": 600,
    "grid_seconds": 60,
    "pricing_model": "fixed",
    "currency": "USD",
    "unit_price": "1.00",
    "total_price": "10.00",
    "price_per_hour": "60.00",
    "utilisation": 0.25,
    "auction": None,
}
SEARCH_EXAMPLES = [
    OpenApiExample(
        "A page with more after it",
        value={
            "count": None,
            "next": "https://market.example/api/v1/timeslots?cpu=2&ram=4&duration=600&offset=1&limit=1",
            "previous": None,
            "results": [_SLICE],
        },
        response_only=True,
        status_codes=["200"],
    ),
    OpenApiExample(
        "Nothing found, and why",
        value={
            "count": 0,
            "next": None,
            "previous": None,
            "results": [],
            "explanation": {
                "reason": "No offering is in region 'US-NYC'. Regions with offerings: EU-FRA.",
                "suggestion": "Search in EU-FRA.",
                "params": {"region": "EU-FRA"},
            },
        },
        response_only=True,
        status_codes=["200"],
    ),
]
_BOOKED = {
    "id": 42,
    "state": "confirmed",
    "reason": "",
    "slice_id": _SLICE["id"],
    "offering": 12,
    "offering_name": "Frankfurt burst pool",
    "profile": 3,
    "profile_name": "Small",
    "pricing_model": "fixed",
    "starts_at": "2026-12-01T10:00:00Z",
    "ends_at": "2026-12-01T10:10:00Z",
    "duration": 600,
    "image": "ubuntu-24.04",
    "ssh_cidrs": ["203.0.113.7/32"],
    "has_user_data": False,
    "currency": "USD",
    "unit_price": "1.00",
    "total_price": "10.00",
    "bid": None,
    "auction": None,
    "preempt_deadline": None,
    "created_at": "2026-12-01T09:58:12Z",
    "confirmed_at": "2026-12-01T09:58:12Z",
    "ended_at": None,
    "cost": {
        "action": "buy",
        "currency": "USD",
        "charge": "10.00",
        "refund": "0.00",
        "held": "10.00",
        "price_before": None,
        "price_after": "10.00",
        "note": "Held now; charged for the time used when the booking ends.",
    },
}
REQUEST_EXAMPLES = [
    OpenApiExample("Buy at the listed price", value={"image": "ubuntu-24.04"}, request_only=True),
    OpenApiExample("Bid on an auction slice", value={"bid": "0.80"}, request_only=True),
    OpenApiExample("Booked", value=_BOOKED, response_only=True, status_codes=["201"]),
    OpenApiExample(
        "Just taken",
        value={"error": "conflict", "detail": "This slice was just taken by someone else; search again."},
        response_only=True,
        status_codes=["409"],
    ),
    OpenApiExample(
        "Not enough money",
        value={"error": "insufficient_funds", "detail": "Your available balance (5.00 USD) is less than 10.00 USD."},
        response_only=True,
        status_codes=["402"],
    ),
]
QUOTE_EXAMPLES = [
    OpenApiExample("Ten minutes", value={"duration": 600}, request_only=True),
    OpenApiExample(
        "Quoted",
        value={
            "id": "q_7f3b2c",
            "offering": 12,
            "profile": 3,
            "starts_at": "2026-12-01T10:00:00Z",
            "ends_at": "2026-12-01T10:10:00Z",
            "unit_price": "1.25",
            "total_price": "12.50",
            "currency": "USD",
            "utilisation": 0.6,
            "expires_at": "2026-12-01T09:59:12Z",
        },
        response_only=True,
        status_codes=["201"],
    ),
]
USAGE_EXAMPLES = [
    OpenApiExample(
        "Running",
        value={
            "booking": 42,
            "state": "running",
            "start": "2026-12-01T10:00:00Z",
            "end": "2026-12-01T10:10:00Z",
            "ended_at": None,
            "preempt_deadline": None,
            "elapsed_seconds": 240,
            "currency": "USD",
            "total_price": "10.00",
            "charges_so_far": "4.00",
            "samples": [],
            "totals": {},
            "seconds_held": 240,
        },
        response_only=True,
        status_codes=["200"],
    )
]
RELEASE_EXAMPLES = [
    OpenApiExample(
        "Released early",
        value={
            **_BOOKED,
            "state": "released",
            "ended_at": "2026-12-01T10:04:00Z",
            "cost": {
                "action": "release",
                "currency": "USD",
                "charge": "4.00",
                "refund": "6.00",
                "held": "0.00",
                "price_before": "10.00",
                "price_after": "4.00",
                "note": "Charged for the 4 minutes used; the rest of the hold is returned.",
            },
        },
        response_only=True,
        status_codes=["200"],
    ),
    OpenApiExample(
        "Already ended",
        value={"error": "invalid_transition", "detail": "The booking has already ended."},
        response_only=True,
        status_codes=["409"],
    ),
]


def _with_cost(booking: object, cost: CostPreview) -> dict:
    booking.cost = cost  # type: ignore[attr-defined]
    return dict(BookingCostSerializer(booking).data)


class TimeslotListView(_MarketView):
    """Available slices for the given needs and time range, with their price or auction state."""

    serializer_class = SliceSerializer
    pagination_class = None  # paginated here: only the slices up to the requested page are computed

    @extend_schema(parameters=[SliceSearchSerializer], responses=SlicePageSerializer, examples=SEARCH_EXAMPLES)
    def get(self, request: Request) -> Response:
        d = _search_params(request.query_params)
        start = d.get("start") or clock.now()
        q = selectors.SearchQuery(
            start=start,
            end=d.get("end") or start + timedelta(days=1),
            vcpus=d.get("cpu"),
            ram_mib=int(d["ram"] * 1024) if d.get("ram") else None,
            disk_gb=d.get("disk"),
            bandwidth_mbps=d.get("bandwidth"),
            profile_id=d.get("profile"),
            offering_id=d.get("offering"),
            region=d.get("region") or None,
            max_price=d.get("max_price"),
            currency=d.get("currency") or None,
            duration=d.get("duration"),
            ordering=d.get("ordering") or "price",
            per_offering=d.get("per_offering") or 3,
        )
        limit, offset = d.get("limit") or 50, d.get("offset") or 0
        # Only the slices up to this page (+1 to know whether there is a next one) are computed.
        found = selectors.slices_search(user=request.user, q=q, limit=offset + limit + 1)  # type: ignore[arg-type]
        more = len(found) > offset + limit
        page = found[offset : offset + limit]
        shared: dict = {}

        def link(new_offset: int) -> str:
            kept = [
                (k, v) for k, values in request.query_params.lists() if k not in ("offset", "limit") for v in values
            ]
            return f"{request.build_absolute_uri(request.path)}?{urlencode([*kept, ('offset', new_offset), ('limit', limit)])}"

        body: dict[str, Any] = {
            "count": None if more else len(found),
            "next": link(offset + limit) if more else None,
            "previous": link(max(offset - limit, 0)) if offset else None,
            "results": [slice_data(s, shared) for s in page],
        }
        if not found:  # why, and the nearest search that finds something (from the cached catalogue)
            body["explanation"] = selectors.explain_empty(q)
        return Response(body)


def _client_range(request: Request) -> list[str]:
    """The requesting client's address as a one-address range ([] when the server gave none)."""
    address = client_ip(request)  # type: ignore[arg-type]  # DRF's Request wraps the HttpRequest
    return [address] if address else []


class TimeslotRequestView(_MarketView):
    """Buy a fixed or dynamic slice (confirmed at once or 409), or bid on an auction slice."""

    serializer_class = SliceRequestSerializer

    @extend_schema(
        request=SliceRequestSerializer,
        parameters=[PREVIEW],
        responses={201: BookingCostSerializer, 200: PreviewSerializer, 402: NO_FUNDS, 409: TAKEN},
        examples=REQUEST_EXAMPLES,
        description="The booking's `cost` says what is held for it (a bid: the most it can cost). With "
        "`?preview=1`: what buying would cost (the listed price, the quote's, or today's dynamic price), "
        "and nothing is bought.",
    )
    @idempotent
    def post(self, request: Request, slice_id: str) -> Response:
        body = SliceRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        # Left out: the renter's own defaults (their settings, as in the portal), else the offering's
        # image and the requesting client's address only, never the whole internet.
        mine = (
            selectors.purchase_defaults(request.user, selectors.slice_images(slice_id))  # type: ignore[arg-type]
            if not (d.get("image") and d.get("ssh_cidrs"))
            else None
        )
        asked = {
            "duration": d.get("duration"),
            "bid": d.get("bid"),
            "quote_id": d.get("quote") or None,
            "image": d.get("image") or (mine.image if mine else None),
            "user_data": d.get("user_data"),
            "ssh_cidrs": d.get("ssh_cidrs") or (mine.ssh_cidrs if mine else None) or _client_range(request),
        }
        if is_preview(request):
            preview = booking_request_preview(actor=request.user, slice_id=slice_id, **asked)  # type: ignore[arg-type]
            return Response(PreviewSerializer(preview).data)
        booking = services.booking_request(actor=request.user, slice_id=slice_id, **asked)  # type: ignore[arg-type]
        booking = selectors.booking_for_renter(request.user, booking.pk)  # type: ignore[arg-type]
        return Response(_with_cost(booking, booking_cost(booking)), status=status.HTTP_201_CREATED)


class TimeslotQuoteView(_MarketView):
    """A dynamic price for a slice, valid for about a minute; pass its id as `quote` when requesting."""

    serializer_class = QuoteRequestSerializer

    @extend_schema(request=QuoteRequestSerializer, responses={201: QuoteSerializer}, examples=QUOTE_EXAMPLES)
    @idempotent
    def post(self, request: Request, slice_id: str) -> Response:
        body = QuoteRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        quote = services.quote_create(
            actor=request.user,
            slice_id=slice_id,
            duration=body.validated_data.get("duration"),  # type: ignore[arg-type]
        )
        return Response(QuoteSerializer(quote).data, status=status.HTTP_201_CREATED)


class BookingUsageView(_MarketView):
    """The booking's times, state and charges so far, with the usage series, totals and seconds held."""

    serializer_class = UsageSerializer

    @extend_schema(responses=UsageSerializer, examples=USAGE_EXAMPLES)
    def get(self, request: Request, booking_id: int) -> Response:
        return Response(UsageSerializer(selectors.booking_usage(request.user, booking_id)).data)  # type: ignore[arg-type]


class BookingReleaseView(_MarketView):
    """End a booking early, or withdraw a bid before bidding closes."""

    serializer_class = BookingSerializer

    @extend_schema(
        request=None,
        parameters=[PREVIEW],
        responses={
            200: PolymorphicProxySerializer(
                component_name="ReleaseOrPreview",
                serializers=[BookingCostSerializer, PreviewSerializer],
                resource_type_field_name=None,
            ),
            409: error_response("The booking has already ended, or a release with this key is still running."),
        },
        examples=RELEASE_EXAMPLES,
        description="The booking's `cost` says what the release charged and returned, as billing computed it. "
        "With `?preview=1` the answer is a Preview instead (what releasing now would charge and return) and "
        "nothing is released.",
    )
    @idempotent
    def post(self, request: Request, booking_id: int) -> Response:
        if is_preview(request):
            preview = booking_release_preview(actor=request.user, booking_id=booking_id)  # type: ignore[arg-type]
            return Response(PreviewSerializer(preview).data)
        released = services.booking_release(actor=request.user, booking_id=booking_id)  # type: ignore[arg-type]
        booking = selectors.booking_for_renter(request.user, booking_id)  # type: ignore[arg-type]
        if released.auction_round_id and released.confirmed_at is None:
            cost = CostPreview(action="withdraw", currency=released.currency, charge=0, booking_id=released.pk)
        else:
            cost = release_cost(booking, booking.ended_at or clock.now())
        return Response(_with_cost(booking, cost))


_EXTENDED = {
    "id": 42,
    "state": "running",
    "reason": "",
    "slice_id": "MTI6MzoxNzY0NTgzMjAwOjYwMA",
    "offering": 12,
    "offering_name": "Frankfurt burst pool",
    "profile": 3,
    "profile_name": "Small",
    "pricing_model": "fixed",
    "starts_at": "2026-12-01T10:00:00Z",
    "ends_at": "2026-12-01T10:15:00Z",
    "duration": 900,
    "image": "ubuntu-24.04",
    "currency": "USD",
    "unit_price": "1.00",
    "total_price": "15.00",
    "bid": None,
    "auction": None,
    "preempt_deadline": None,
    "created_at": "2026-12-01T09:58:12Z",
    "confirmed_at": "2026-12-01T09:58:12Z",
    "ended_at": None,
    "cost": {
        "action": "extend",
        "currency": "USD",
        "charge": "15.00",
        "refund": "0.00",
        "held": "10.00",
        "price_before": "10.00",
        "price_after": "15.00",
        "note": "300 more seconds (5 grid units) at the price in force, added to what is held; the booking is "
        "charged for the time used when it ends.",
    },
    "extension": {"seconds": 300, "units": 5, "unit_price": "1.00", "price": "5.00", "ends_at": "2026-12-01T10:15:00Z"},
}


class BookingExtendView(_MarketView):
    """Move the end of a confirmed, provisioning or running booking later, on the same server."""

    serializer_class = ExtendRequestSerializer

    @extend_schema(
        request=ExtendRequestSerializer,
        parameters=[PREVIEW],
        responses={
            200: PolymorphicProxySerializer(
                component_name="ExtensionOrPreview",
                serializers=[ExtensionSerializer, ExtensionPreviewSerializer],
                resource_type_field_name=None,
            ),
            400: OpenApiResponse(
                ExtendErrorSerializer, description="Not a positive multiple of the grid, or too long."
            ),
            403: OpenApiResponse(
                ExtendErrorSerializer, description="The offering's owner or an admin: only the renter."
            ),
            402: NO_FUNDS,
            404: OpenApiResponse(ExtendErrorSerializer, description="No such booking of yours."),
            409: OpenApiResponse(
                ExtendConflictSerializer,
                description="`extension_unavailable`: not grantable in full (the capacity after the booking, "
                "the availability windows or the offering's longest request); `longest_seconds` is the longest "
                "that is. Also `not_extendable` (auction slices), `invalid_transition` (under notice, ended) and "
                "`offering_not_selling`, without `longest_seconds`.",
            ),
        },
        examples=[
            OpenApiExample("Extend by five minutes", value={"duration": 300}, request_only=True),
            OpenApiExample("Extended", value=_EXTENDED, response_only=True, status_codes=["200"]),
            OpenApiExample(
                "Preview (?preview=1)",
                value={
                    "preview": True,
                    "booking": 42,
                    "cost": _EXTENDED["cost"],
                    "extension": _EXTENDED["extension"],
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Not a grid multiple",
                value={
                    "error": "invalid",
                    "detail": "duration: The extension must be a positive multiple of the offering's 60-second grid.",
                    "fields": {
                        "duration": ["The extension must be a positive multiple of the offering's 60-second grid."]
                    },
                },
                response_only=True,
                status_codes=["400"],
            ),
            OpenApiExample(
                "Only part of it is free",
                value={
                    "error": "extension_unavailable",
                    "detail": "The booking cannot be extended by 600 seconds: the offering's capacity from "
                    "2026-12-01 10:13:00 UTC is taken; it can be extended by at most 180 seconds.",
                    "fields": {"duration": ["…"]},
                    "longest_seconds": 180,
                },
                response_only=True,
                status_codes=["409"],
            ),
            OpenApiExample(
                "Auction slice",
                value={
                    "error": "not_extendable",
                    "detail": "Auction slices cannot be extended: bid for the next round.",
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
        description="Adds `duration` seconds to the booking's end when the capacity after it is free, within "
        "the offering's availability windows and longest request, at the price in force (fixed: the listed "
        "price per grid unit; dynamic: today's dynamic price for the added period); auction slices cannot be "
        "extended. The hold follows the new price. A 409 `extension_unavailable` says in `longest_seconds` the "
        "longest extension that can be granted: ask for that. With `?preview=1`: the price and what billing "
        "would charge, and nothing is extended. Send an `Idempotency-Key` to make retries safe.",
    )
    @idempotent
    def post(self, request: Request, booking_id: int) -> Response:
        body = ExtendRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        seconds = body.validated_data["duration"]
        preview = is_preview(request)
        ext = services.booking_extend(
            actor=request.user,
            booking_id=booking_id,
            seconds=seconds,
            dry_run=preview,
        )
        if preview:
            return Response(ExtensionPreviewSerializer(ext).data)
        booking = selectors.booking_for_renter(request.user, booking_id)  # type: ignore[arg-type]
        booking.cost = ext.cost  # type: ignore[attr-defined]
        booking.extension = ext  # type: ignore[attr-defined]
        return Response(ExtensionSerializer(booking).data)


class BookingListView(_MarketView):
    """The renter's own bookings and bids, newest first."""

    serializer_class = BookingSerializer

    @extend_schema(
        operation_id="bookings_list",
        responses=BookingSerializer(many=True),
        parameters=[OpenApiParameter("state", str, description="Only bookings in this state.")],
    )
    def get(self, request: Request) -> Response:
        qs = selectors.bookings_for_renter(request.user).order_by("-id")  # type: ignore[arg-type]
        if request.query_params.get("state"):
            qs = qs.filter(state=request.query_params["state"])
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(BookingSerializer(page, many=True).data)


class BookingDetailView(_MarketView):
    """One of the renter's own bookings or bids, as the list shows it (404 for anyone else's)."""

    serializer_class = BookingSerializer

    def get(self, request: Request, booking_id: int) -> Response:
        booking = selectors.booking_for_renter(request.user, booking_id)  # type: ignore[arg-type]
        return Response(BookingSerializer(booking).data)


class PricePointPagination(BoundedLimitOffsetPagination):
    """Up to 1,000 points a page (a chart's worth), 500 when ``limit`` is absent."""

    default_limit = 500
    max_limit = 1000


PRICE_HISTORY_EXAMPLES = [
    OpenApiExample(
        "A fixed price and a dynamic one",
        value={
            "count": 3,
            "next": None,
            "previous": None,
            "results": [
                {
                    "at": "2026-11-20T08:00:00Z",
                    "profile": 3,
                    "source": "fixed",
                    "unit_price": "1.00",
                    "currency": "USD",
                    "utilisation": None,
                },
                {
                    "at": "2026-11-25T10:00:00Z",
                    "profile": 3,
                    "source": "dynamic",
                    "unit_price": "1.25",
                    "currency": "USD",
                    "utilisation": 0.6,
                },
                {
                    "at": "2026-11-25T10:07:12Z",
                    "profile": 3,
                    "source": "dynamic",
                    "unit_price": "1.40",
                    "currency": "USD",
                    "utilisation": 0.75,
                },
            ],
        },
        response_only=True,
        status_codes=["200"],
    ),
    OpenApiExample(
        "Unknown profile",
        value={
            "error": "invalid",
            "detail": "profile: Offering 12 has no price for profile 99.",
            "fields": {"profile": ["Offering 12 has no price for profile 99."]},
        },
        response_only=True,
        status_codes=["400"],
    ),
]


class OfferingPriceHistoryView(_MarketView):
    """The offering's price history: a point each time a price changed (fixed, dynamic quotes, auction
    clearing), oldest first. Each (profile, source) series starts with its point in force at `since`
    (which may be older), so a step chart starts at the right price. Anyone who may see the offering
    may read it: published offerings, and an owner's own unpublished ones (404 otherwise)."""

    serializer_class = PricePointSerializer
    pagination_class = PricePointPagination

    @extend_schema(
        operation_id="offering_price_history",
        parameters=[PriceHistoryQuerySerializer],
        responses=PricePointSerializer(many=True),
        examples=PRICE_HISTORY_EXAMPLES,
    )
    def get(self, request: Request, offering_id: int) -> Response:
        params = PriceHistoryQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        d = params.validated_data
        offering = selectors.offering_for_prices(request.user, offering_id)  # type: ignore[arg-type]
        until = d.get("until") or clock.now()
        points = selectors.price_history(
            offering=offering,
            since=d.get("since") or until - timedelta(days=7),
            until=until,
            profile_id=d.get("profile"),
            source=d.get("source"),
        )
        page = self.paginate_queryset(points)
        return self.get_paginated_response(PricePointSerializer(page, many=True).data)
