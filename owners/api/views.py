"""The owner API: clouds (read), offerings, windows, profiles, prices and an owned offering's standby
servers (the warm pool). Views call the owner portal's services only.

Paths under /api/v1/owner/ need a token's ``owner`` scope (accounts.permissions). An offering the
user does not own answers 404, as in the portal.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OWNER_API_PERMISSIONS
from accounts.requests import actor
from marketplace.lib.enqueue import send_on_commit
from marketplace.lib.errors import NotFoundError, ValidationFailed
from owners import hooks, selectors, services
from owners.api.serializers import (
    CloudSerializer,
    OfferingInputSerializer,
    OfferingSerializer,
    OfferingStandbySerializer,
    OfferingStatusInputSerializer,
    PricingInputSerializer,
    PricingSerializer,
    ProfileInputSerializer,
    ProfileSerializer,
    StandbyPoolInputSerializer,
    WindowSerializer,
)
from owners.models import AvailabilityWindow, Cloud, Offering, SliceProfile
from owners.services import OFFERING_TRANSITIONS

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
    permission_classes = OWNER_API_PERMISSIONS

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


# ---- clouds, offerings, windows, profiles, prices: the owner portal's pages as JSON ----------------
#
# Each view finds the object among the caller's own (404 otherwise, as the portal) and calls the
# portal's service, which checks the rules, writes and audits; the serializers check only the shape.


class _OwnerView(GenericAPIView):
    """Owners (and staff) only, a renter's token included (403); lists are paged like the others."""

    permission_classes = OWNER_API_PERMISSIONS
    filter_backends: list = []


def _owned_cloud(request: Request, cloud_id: int) -> Cloud:
    cloud = selectors.clouds_for(actor(request)).filter(pk=cloud_id).first()
    if cloud is None:
        raise ValidationFailed({"cloud": ["Not one of your clouds."]})
    return cloud


def _offering_out(offering: Offering) -> dict[str, Any]:
    return dict(OfferingSerializer(offering).data)


class CloudListView(_OwnerView):
    """The owner's clouds (credential secrets are never shown: ``has_secret`` says whether one is stored)."""

    serializer_class = CloudSerializer

    @extend_schema(summary="Your clouds", responses=CloudSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.clouds_for(actor(request)).order_by("name", "id"))
        return self.get_paginated_response(CloudSerializer(page, many=True).data)


class OfferingListView(_OwnerView):
    """The owner's offerings, and a new one (a draft on one of the owner's clouds)."""

    serializer_class = OfferingSerializer

    @extend_schema(
        summary="Your offerings",
        parameters=[OpenApiParameter("status", str, description="Only offerings in this status.")],
        responses=OfferingSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        qs = selectors.offerings_for_owner(actor(request)).prefetch_related("windows").order_by("name", "id")
        status_filter = request.query_params.get("status")
        if status_filter:
            if status_filter not in OFFERING_TRANSITIONS:
                raise ValidationFailed({"status": [f"One of {', '.join(OFFERING_TRANSITIONS)}."]})
            qs = qs.filter(status=status_filter)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(OfferingSerializer(page, many=True).data)

    @extend_schema(
        summary="Create an offering (a draft)", request=OfferingInputSerializer, responses={201: OfferingSerializer}
    )
    def post(self, request: Request) -> Response:
        data = OfferingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        cloud = _owned_cloud(request, fields.pop("cloud"))
        offering = services.offering_create(actor=actor(request), cloud=cloud, **fields)
        return Response(_offering_out(offering), status=status.HTTP_201_CREATED)


class OfferingDetailView(_OwnerView):
    """One of the owner's offerings: read it, change it."""

    serializer_class = OfferingSerializer

    @extend_schema(summary="One of your offerings", responses=OfferingSerializer)
    def get(self, request: Request, offering_id: int) -> Response:
        return Response(_offering_out(_owned(request, offering_id)))

    @extend_schema(
        summary="Change an offering",
        request=OfferingInputSerializer(partial=True),
        responses=OfferingSerializer,
        description="Any of the fields. A capacity below a priced profile or below what live bookings hold is "
        "refused (400, on the field, with the instant); a grid change restates the prices per new unit.",
    )
    def patch(self, request: Request, offering_id: int) -> Response:
        offering = _owned(request, offering_id)
        data = OfferingInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        cloud = _owned_cloud(request, fields.pop("cloud")) if "cloud" in fields else None
        offering = services.offering_update(actor=actor(request), offering=offering, cloud=cloud, **fields)
        return Response(_offering_out(offering))


class OfferingStatusView(_OwnerView):
    """Publish, pause or retire one of the owner's offerings (retired is final)."""

    serializer_class = OfferingStatusInputSerializer

    @extend_schema(
        summary="Publish, pause or retire an offering",
        request=OfferingStatusInputSerializer,
        responses=OfferingSerializer,
        description="A move the offering's status does not allow is a 409; publishing before staff approved "
        "your owner account a 403, without a price a 400.",
    )
    def post(self, request: Request, offering_id: int) -> Response:
        offering = _owned(request, offering_id)
        data = OfferingStatusInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offering = services.offering_set_status(
            actor=actor(request), offering=offering, status=data.validated_data["status"]
        )
        return Response(_offering_out(offering))


class WindowListView(_OwnerView):
    """An offering's weekly availability windows (none: sold at all hours)."""

    serializer_class = WindowSerializer
    pagination_class = None

    @extend_schema(summary="An offering's availability windows", responses=WindowSerializer(many=True))
    def get(self, request: Request, offering_id: int) -> Response:
        return Response(WindowSerializer(_owned(request, offering_id).windows.all(), many=True).data)

    @extend_schema(summary="Add an availability window", request=WindowSerializer, responses={201: WindowSerializer})
    def post(self, request: Request, offering_id: int) -> Response:
        offering = _owned(request, offering_id)
        data = WindowSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        window = services.window_add(actor=actor(request), offering=offering, **data.validated_data)
        return Response(WindowSerializer(window).data, status=status.HTTP_201_CREATED)


class WindowDetailView(_OwnerView):
    serializer_class = WindowSerializer

    @extend_schema(summary="Remove an availability window", request=None, responses={204: None})
    def delete(self, request: Request, offering_id: int, window_id: int) -> Response:
        offering = _owned(request, offering_id)
        window = AvailabilityWindow.objects.filter(pk=window_id, offering=offering).first()
        if window is None:
            raise NotFoundError("No such window on this offering.")
        services.window_remove(actor=actor(request), window=window)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileListView(_OwnerView):
    """The profiles the owner may price: the platform's predefined ones and the owner's custom ones."""

    serializer_class = ProfileSerializer

    @extend_schema(summary="Profiles you may price", responses=ProfileSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = selectors.profiles_for(actor(request)).order_by("vcpus", "ram_mib", "name", "id")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ProfileSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a custom profile", request=ProfileInputSerializer, responses={201: ProfileSerializer}
    )
    def post(self, request: Request) -> Response:
        data = ProfileInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = services.profile_create(actor=actor(request), **data.validated_data)
        return Response(ProfileSerializer(profile).data, status=status.HTTP_201_CREATED)


def _own_profile(request: Request, profile_id: int) -> SliceProfile:
    profile = SliceProfile.objects.filter(pk=profile_id, owner=actor(request)).first()
    if profile is None:
        raise NotFoundError("No such profile of yours (predefined profiles cannot be changed).")
    return profile


class ProfileDetailView(_OwnerView):
    serializer_class = ProfileSerializer

    @extend_schema(summary="One of your custom profiles", responses=ProfileSerializer)
    def get(self, request: Request, profile_id: int) -> Response:
        return Response(ProfileSerializer(_own_profile(request, profile_id)).data)

    @extend_schema(
        summary="Change a custom profile",
        request=ProfileInputSerializer(partial=True),
        responses=ProfileSerializer,
        description="Refused (400) when the profile would no longer fit an offering that prices it.",
    )
    def patch(self, request: Request, profile_id: int) -> Response:
        profile = _own_profile(request, profile_id)
        data = ProfileInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        profile = services.profile_update(actor=actor(request), profile=profile, **data.validated_data)
        return Response(ProfileSerializer(profile).data)


class PricingListView(_OwnerView):
    """An offering's prices, one per profile."""

    serializer_class = PricingSerializer
    pagination_class = None

    @extend_schema(summary="An offering's prices", responses=PricingSerializer(many=True))
    def get(self, request: Request, offering_id: int) -> Response:
        policies = _owned(request, offering_id).pricing_policies.select_related("profile").order_by("profile__vcpus")
        return Response(PricingSerializer(policies, many=True).data)


class PricingDetailView(_OwnerView):
    """The price of one profile on one of the owner's offerings (the path names the profile)."""

    serializer_class = PricingSerializer

    def _target(self, request: Request, offering_id: int, profile_id: int) -> tuple[Offering, SliceProfile]:
        offering = _owned(request, offering_id)
        profile = selectors.profiles_for(actor(request)).filter(pk=profile_id).first()
        if profile is None:
            raise NotFoundError("No such profile.")
        return offering, profile

    @extend_schema(summary="A profile's price on an offering", responses=PricingSerializer)
    def get(self, request: Request, offering_id: int, profile_id: int) -> Response:
        offering, profile = self._target(request, offering_id, profile_id)
        policy = offering.pricing_policies.select_related("profile").filter(profile=profile).first()
        if policy is None:
            raise NotFoundError("This offering has no price for that profile.")
        return Response(PricingSerializer(policy).data)

    @extend_schema(
        summary="Set a profile's price on an offering",
        request=PricingInputSerializer,
        responses=PricingSerializer,
        description="Creates or replaces it. Refused (400, on the field) when the profile does not fit, the "
        "numbers do not make a coherent price, a price is above the market's maximum per hour, or the "
        "currency differs from the offering's other prices. Bookings already made keep their price.",
    )
    def put(self, request: Request, offering_id: int, profile_id: int) -> Response:
        offering, profile = self._target(request, offering_id, profile_id)
        currency = offering.pricing_policies.values_list("currency", flat=True).first()
        data = PricingInputSerializer(data=request.data, context={"currency": currency})
        data.is_valid(raise_exception=True)
        policy = services.pricing_policy_set(
            actor=actor(request), offering=offering, profile=profile, **data.validated_data
        )
        return Response(PricingSerializer(policy).data)

    @extend_schema(summary="Remove a profile's price from an offering", request=None, responses={204: None})
    def delete(self, request: Request, offering_id: int, profile_id: int) -> Response:
        offering, profile = self._target(request, offering_id, profile_id)
        policy = offering.pricing_policies.select_related("profile", "offering").filter(profile=profile).first()
        if policy is None:
            raise NotFoundError("This offering has no price for that profile.")
        services.pricing_policy_delete(actor=actor(request), policy=policy)
        return Response(status=status.HTTP_204_NO_CONTENT)
