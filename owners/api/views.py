"""The owner API: an owned offering's standby servers (the warm pool). Views call services only.

Paths under /api/v1/owner/ need a token's ``owner`` scope (accounts.permissions). An offering the
user does not own answers 404, as in the portal.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import actor
from marketplace.lib.enqueue import send_on_commit
from marketplace.lib.errors import NotFoundError, ValidationFailed
from owners import hooks, selectors, services
from owners.api.serializers import OfferingStandbySerializer, StandbyPoolInputSerializer
from owners.models import Offering, SliceProfile

POOL_STATE_NAMES = ("pending", "building", "standby", "wiping")


def _owned(request: Request, offering_id: int) -> Offering:
    offering = selectors.offerings_for_owner(actor(request)).filter(pk=offering_id).first()
    if offering is None:
        raise NotFoundError("No such offering.")
    return offering


def standby_body(offering: Offering) -> dict[str, Any]:
    pools = list(offering.standby_pools.select_related("profile"))
    counts = hooks.standby_census([p.pk for p in pools])
    for p in pools:
        p.server_counts = {s: counts.get(p.pk, {}).get(s, 0) for s in POOL_STATE_NAMES}  # type: ignore[attr-defined]
    return {
        "offering": offering.pk,
        "capacity": offering.capacity(),
        "held_back": offering.standby_capacity(),
        "sellable": offering.sellable_capacity(),
        "pools": pools,
    }


class OfferingStandbyView(APIView):
    """The standby servers an owned offering keeps booted and idle, per profile and image."""

    serializer_class = OfferingStandbySerializer

    @extend_schema(responses=OfferingStandbySerializer, summary="An owned offering's standby pools")
    def get(self, request: Request, offering_id: int) -> Response:
        """Each pool (profile, image, size) with its servers' counts by state, and what they hold back from sale."""
        return Response(OfferingStandbySerializer(standby_body(_owned(request, offering_id))).data)

    @extend_schema(
        request=StandbyPoolInputSerializer,
        responses=OfferingStandbySerializer,
        summary="Set how many standby servers of a profile (and image) an owned offering keeps",
    )
    def put(self, request: Request, offering_id: int) -> Response:
        """Set one pool's size (0..64): refused with a 400 naming the instant when live bookings hold the
        capacity the servers would need. The pool refills (or shrinks) in the background."""
        offering = _owned(request, offering_id)
        data = StandbyPoolInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = SliceProfile.objects.filter(
            pk=data.validated_data["profile"], pricing_policies__offering=offering
        ).first()
        if profile is None:
            raise ValidationFailed({"profile": ["Not one of this offering's priced profiles."]})
        pool = services.standby_pool_set(
            actor=actor(request),
            offering=offering,
            profile=profile,
            image=data.validated_data.get("image", ""),
            size=data.validated_data["size"],
        )
        send_on_commit("provisioning.refill_pool", pool.pk)
        offering.refresh_from_db()
        return Response(OfferingStandbySerializer(standby_body(offering)).data)
