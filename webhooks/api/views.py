"""/api/v1/webhooks: a user's endpoints (the secret in the answer to create and rotate only), the
delivery log of each, and manual redelivery. Another user's endpoint is a 404 (selectors).

Scopes (accounts.permissions): reading needs ``read``; writes, from this module, ``market``
(WRITE_SCOPES: an endpoint receives the market's news of the token's user).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.lib.api import BoundedLimitOffsetPagination
from marketplace.lib.apischema import error_response
from webhooks import selectors, services
from webhooks.api.serializers import (
    DeliveryDetailSerializer,
    DeliverySerializer,
    EndpointInput,
    EndpointSerializer,
    EndpointWithSecretSerializer,
)


class _View(GenericAPIView):
    filter_backends: list = []

    def _input(self, request: Request, *, partial: bool = False) -> dict[str, Any]:
        data = EndpointInput(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)


class EndpointListView(_View):
    """GET: your endpoints. POST {url, event_types, description}: a new one; its ``secret`` is in this answer only."""

    serializer_class = EndpointSerializer

    @extend_schema(operation_id="webhook_endpoints_list", responses=EndpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.endpoints_of(request.user))
        return self.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoint_create",
        request=EndpointInput,
        responses={
            201: EndpointWithSecretSerializer,
            400: error_response("A URL that is not public https, or bad types."),
        },
        examples=[
            OpenApiExample(
                "Booking news",
                value={
                    "url": "https://hooks.example.com/market",
                    "event_types": ["booking.confirmed", "booking.ended"],
                    "description": "ops alerts",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Created (the secret is shown this once)",
                value={
                    "id": 7,
                    "url": "https://hooks.example.com/market",
                    "description": "ops alerts",
                    "event_types": ["booking.confirmed", "booking.ended"],
                    "is_active": True,
                    "disabled_at": None,
                    "disabled_reason": "",
                    "consecutive_failures": 0,
                    "created_at": "2026-12-01T09:00:00Z",
                    "updated_at": "2026-12-01T09:00:00Z",
                    "secret": "whsec_3q2+7w…",
                },
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "A private address",
                value={
                    "error": "invalid",
                    "detail": "url: The URL must reach a public address.",
                    "fields": {"url": ["The URL must reach a public address."]},
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        d = self._input(request)
        d.pop("is_active", None)
        endpoint, secret = services.endpoint_create(actor=request.user, **d)
        return Response(EndpointWithSecretSerializer(endpoint, context={"secret": secret}).data, status=201)


class EndpointDetailView(_View):
    """GET, PATCH {url, event_types, description, is_active} (turning it on resends what waits), DELETE."""

    serializer_class = EndpointSerializer

    @extend_schema(operation_id="webhook_endpoint_retrieve")
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(EndpointSerializer(selectors.endpoint_of(request.user, endpoint_id)).data)

    @extend_schema(operation_id="webhook_endpoint_update", request=EndpointInput, responses=EndpointSerializer)
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.endpoint_of(request.user, endpoint_id)
        endpoint = services.endpoint_update(actor=request.user, endpoint=endpoint, **self._input(request, partial=True))
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(operation_id="webhook_endpoint_delete", responses={204: None})
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.endpoint_delete(actor=request.user, endpoint=selectors.endpoint_of(request.user, endpoint_id))
        return Response(status=204)


class EndpointRotateView(_View):
    """POST: a new secret at once (the old one stops signing); in this answer only."""

    serializer_class = EndpointWithSecretSerializer

    @extend_schema(operation_id="webhook_endpoint_rotate_secret", request=None, responses=EndpointWithSecretSerializer)
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.endpoint_of(request.user, endpoint_id)
        endpoint, secret = services.endpoint_rotate_secret(actor=request.user, endpoint=endpoint)
        return Response(EndpointWithSecretSerializer(endpoint, context={"secret": secret}).data)


class DeliveryListView(_View):
    """The endpoint's deliveries, newest first, each with its attempts (status, latency, error, answer)."""

    serializer_class = DeliverySerializer
    pagination_class = BoundedLimitOffsetPagination

    @extend_schema(operation_id="webhook_deliveries_list", responses=DeliverySerializer(many=True))
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.endpoint_of(request.user, endpoint_id)
        page = self.paginate_queryset(selectors.deliveries_of(endpoint).prefetch_related("attempt_log"))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryDetailView(_View):
    serializer_class = DeliveryDetailSerializer

    @extend_schema(operation_id="webhook_delivery_retrieve")
    def get(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        endpoint = selectors.endpoint_of(request.user, endpoint_id)
        return Response(DeliveryDetailSerializer(selectors.delivery_of(endpoint, delivery_id)).data)


class RedeliverView(_View):
    """POST: send this delivery's event again now (same event id); answers the new delivery (202)."""

    serializer_class = DeliverySerializer

    @extend_schema(operation_id="webhook_delivery_redeliver", request=None, responses={202: DeliverySerializer})
    def post(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        endpoint = selectors.endpoint_of(request.user, endpoint_id)
        again = services.delivery_redeliver(actor=request.user, delivery=selectors.delivery_of(endpoint, delivery_id))
        return Response(DeliverySerializer(again).data, status=202)
