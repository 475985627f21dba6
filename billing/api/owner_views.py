"""The owner API's revenue: what the owner's offerings earned, per currency, per offering and per day.

Mounted under /api/v1/owner/ (token scope ``owner``; owners and staff only). The figures are the
owner revenue page's (billing.selectors.owner_revenue, from the ledger), over a bounded range.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import OWNER_API_PERMISSIONS
from accounts.requests import actor
from billing import selectors
from billing.api.owner_serializers import RevenueQuerySerializer, RevenueSerializer
from marketplace.lib import clock
from owners import selectors as owner_selectors

AMOUNTS = ("gross", "fees", "credits", "net")


class OwnerRevenueView(GenericAPIView):
    """Totals per currency and per offering, and the same per day, over ``from``..``to`` (UTC days)."""

    permission_classes = OWNER_API_PERMISSIONS
    filter_backends: list = []
    serializer_class = RevenueSerializer

    @extend_schema(
        summary="Your revenue: per currency, per offering and per day",
        parameters=[RevenueQuerySerializer],
        responses=RevenueSerializer,
        description="Amounts in minor units of their currency (850 = 8.50 USD): `gross` what renters paid, "
        "`fees` the platform's fee, `credits` short-notice credits you gave, `net` what you earned. Days are "
        "UTC; `from` and `to` are both included (default: the last 31 days); a range longer than the market's "
        "maximum, or `to` before `from`, is a 400. `payable` is what you may be paid out now.",
    )
    def get(self, request: Request) -> Response:
        params = RevenueQuerySerializer(data=request.query_params, context={"today": clock.now().date()})
        params.is_valid(raise_exception=True)
        first, last = params.validated_data["from"], params.validated_data["to"]
        owner = actor(request)
        rows = selectors.owner_revenue(
            owner,
            since=datetime.combine(first, time.min, tzinfo=UTC),
            until=datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC),
        )
        names = dict(owner_selectors.offerings_for_owner(owner).values_list("pk", "name"))
        totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(AMOUNTS, 0))
        per_offering: dict[tuple[int | None, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(AMOUNTS, 0))
        days: list[dict[str, Any]] = []
        for row in rows:
            amounts = {name: getattr(row, name) for name in AMOUNTS}
            for name, value in amounts.items():
                totals[row.currency][name] += value
                per_offering[(row.offering_id, row.currency)][name] += value
            days.append({"day": row.day, "offering": row.offering_id, "currency": row.currency, **amounts})
        body = {
            "from": first,
            "to": last,
            "totals": [{"currency": c, **v} for c, v in sorted(totals.items())],
            "offerings": [
                {"offering": o, "offering_name": names.get(o or 0, ""), "currency": c, **v}
                for (o, c), v in sorted(per_offering.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1]))
            ],
            "days": days,
            "payable": selectors.owner_payable(owner),
        }
        return Response(RevenueSerializer(body).data)
