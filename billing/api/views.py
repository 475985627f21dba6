from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.api.serializers import (
    BalanceOut,
    BookingChargeOut,
    CardInput,
    CardOut,
    CardSetupOut,
    PaymentOut,
    PayoutInput,
    PayoutOut,
    PayoutsOut,
    StatementLineOut,
    TopUpInput,
)
from marketplace.lib import clock, inputs
from marketplace.lib.apischema import error_response
from marketplace.lib.errors import PermissionDeniedError, ValidationFailed
from marketplace.lib.idempotency import idempotent

# Error statuses of their own (the body is the API's error shape, apischema.error_responses).
NO_FUNDS = error_response("`insufficient_funds`, `spend_limit_reached` or `no_payment_method`: the money is not there.")
PROVIDER = error_response("`payment_provider_error`: the payment provider could not be reached.")


class BalanceView(APIView):
    """The renter's money per currency (``balances``, minor units and display strings); ``currency``,
    ``available`` and ``held`` are the default currency's (the one their bookings are in)."""

    @extend_schema(responses=BalanceOut)
    def get(self, request: Request) -> Response:
        currency = services.renter_currency(request.user)
        balances = selectors.renter_balances(request.user, currency)
        return Response(
            {
                "mode": settings.BILLING_MODE,
                "currency": currency,
                "available": balances[0].available,
                "held": balances[0].held,
                "balances": [b.as_dict() for b in balances],
                "topup_currencies": selectors.topup_currencies(request.user),
            }
        )


class PaymentListView(APIView):
    @extend_schema(responses=PaymentOut(many=True))
    def get(self, request: Request) -> Response:
        return Response(PaymentOut(selectors.payments(request.user)[:100], many=True).data)


class TopUpView(APIView):
    @extend_schema(request=TopUpInput, responses={201: PaymentOut, 402: NO_FUNDS})
    @idempotent
    def post(self, request: Request) -> Response:
        data = TopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        payment = services.topup_create(actor=request.user, **data.validated_data)
        payment, _ = services.payment_submit(payment=payment)
        return Response(PaymentOut(payment).data, status=201)


class CardSetupView(APIView):
    """POST: start adding a card; confirm the returned client secret with Stripe.js, then POST /cards."""

    @extend_schema(request=None, responses={201: CardSetupOut, 502: PROVIDER})
    def post(self, request: Request) -> Response:
        setup = services.card_setup_start(actor=request.user)
        return Response({**setup, "publishable_key": settings.STRIPE_PUBLISHABLE_KEY}, status=201)


class CardListView(APIView):
    @extend_schema(responses=CardOut(many=True))
    def get(self, request: Request) -> Response:
        return Response(CardOut(selectors.payment_methods(request.user), many=True).data)

    @extend_schema(request=CardInput, responses={201: CardOut, 502: PROVIDER})
    def post(self, request: Request) -> Response:
        data = CardInput(data=request.data)
        data.is_valid(raise_exception=True)
        method = services.card_setup_complete(actor=request.user, setup_intent_id=data.validated_data["setup_intent"])
        return Response(CardOut(method).data, status=201)


class BookingChargeListView(APIView):
    @extend_schema(responses=BookingChargeOut(many=True))
    def get(self, request: Request) -> Response:
        now = clock.now()
        charges = list(selectors.booking_charges(request.user)[:100])
        for c in charges:
            c.cost_so_far = selectors.running_cost(c, now)  # type: ignore[attr-defined]
        return Response(BookingChargeOut(charges, many=True).data)


class StatementView(APIView):
    @extend_schema(responses=StatementLineOut(many=True))
    def get(self, request: Request, year: int, month: int) -> Response:
        errors: dict[str, list[str]] = {}
        year_wrong = inputs.year_error(year)
        if year_wrong:
            errors["year"] = [year_wrong]
        if not 1 <= month <= 12:
            errors["month"] = ["Give a month from 1 to 12."]
        if errors:
            raise ValidationFailed(errors)
        lines = selectors.renter_statement(request.user, year, month)
        return Response(
            [
                {
                    "at": line.at,
                    "kind": line.kind,
                    "description": line.description,
                    "booking_id": line.booking_id,
                    "amount": line.amount,
                    "currency": line.currency,
                }
                for line in lines
            ]
        )


class PayoutListView(APIView):
    @extend_schema(responses=PayoutsOut)
    def get(self, request: Request) -> Response:
        if not request.user.is_owner:
            raise PermissionDeniedError("Only owners have payouts.")
        return Response(
            {
                "payable": selectors.owner_payable(request.user),
                "payouts": PayoutOut(selectors.payouts(request.user)[:100], many=True).data,
            }
        )

    @extend_schema(request=PayoutInput, responses={201: PayoutOut})
    @idempotent
    def post(self, request: Request) -> Response:
        if not request.user.is_owner:
            raise PermissionDeniedError("Only owners have payouts.")
        data = PayoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        payout = services.payout_request(
            actor=request.user, owner=request.user, trigger="on_demand", **data.validated_data
        )
        payout, _ = services.payout_submit(payout=payout)
        return Response(PayoutOut(payout).data, status=201)
