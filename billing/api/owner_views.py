"""The owner API's revenue: what the owner's offerings earned, per currency, per offering and per day.

Mounted under /api/v1/owner/ (token scope ``owner``; owners and staff only). The figures are the
owner revenue page's (billing.selectors.owner_revenue_summary, from the ledger), over a bounded range of UTC days.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import OWNER_API_PERMISSIONS
from accounts.requests import actor
from billing import selectors
from billing.api.owner_serializers import RevenueQuerySerializer, RevenueSerializer
from marketplace.lib import clock


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
        body = {**selectors.owner_revenue_summary(owner, first, last), "payable": selectors.owner_payable(owner)}
        return Response(RevenueSerializer(body).data)
