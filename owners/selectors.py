"""Reads of the owners' catalogue, already restricted to what the user may see."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from accounts.models import User
from owners.models import Cloud, Offering, PricingPolicy, SliceProfile


def clouds_for(user: User) -> QuerySet[Cloud]:
    if not user.is_authenticated:
        return Cloud.objects.none()
    return get_objects_for_user(user, "owners.view_cloud", klass=Cloud, accept_global_perms=False)


def offerings_for_owner(user: User) -> QuerySet[Offering]:
    if not user.is_authenticated:
        return Offering.objects.none()
    return get_objects_for_user(user, "owners.view_offering", klass=Offering, accept_global_perms=False)


def profiles_for(user: User) -> QuerySet[SliceProfile]:
    """Predefined profiles plus the user's own custom ones."""
    if not user.is_authenticated:
        return SliceProfile.objects.filter(owner__isnull=True)
    return SliceProfile.objects.filter(Q(owner__isnull=True) | Q(owner=user))


def published_offerings(
    *,
    vcpus: int | None = None,
    ram_mib: int | None = None,
    disk_gb: int | None = None,
    bandwidth_mbps: int | None = None,
    region: str | None = None,
    max_price: int | None = None,
    currency: str | None = None,
    available_from: datetime | None = None,
    available_to: datetime | None = None,
) -> QuerySet[Offering]:
    """Published offerings any renter may browse, filtered by needs.

    Resource filters keep offerings with a priced profile at least that large;
    ``max_price`` keeps those with a fixed, reserve or floor price per grid unit
    at or under it. The availability filter is refined in Python by
    ``offering_open_during`` (windows are weekly, in the owner's zone).
    """
    policies = PricingPolicy.objects.filter(offering=OuterRef("pk"))
    if vcpus:
        policies = policies.filter(profile__vcpus__gte=vcpus)
    if ram_mib:
        policies = policies.filter(profile__ram_mib__gte=ram_mib)
    if disk_gb:
        policies = policies.filter(profile__disk_gb__gte=disk_gb)
    if bandwidth_mbps:
        policies = policies.filter(profile__bandwidth_mbps__gte=bandwidth_mbps)
    if max_price is not None:
        policies = policies.filter(
            Q(model="fixed", price_per_unit__lte=max_price)
            | Q(model="auction", reserve_price__lte=max_price)
            | Q(model="dynamic", floor_price__lte=max_price)
        )
        if currency:
            policies = policies.filter(currency=currency)
    qs = (
        Offering.objects.filter(status=Offering.Status.PUBLISHED)
        .filter(Exists(policies))
        .select_related("cloud", "owner")
        .prefetch_related("windows", "pricing_policies__profile")
    )
    if region:
        qs = qs.filter(region__iexact=region)
    return qs


def offering_open_during(offering: Offering, start: datetime, end: datetime) -> bool:
    """True when the offering's windows are open at some point of [start, end) (from the weekly
    pattern: the cost does not grow with the range)."""
    from owners import availability

    return availability.offering_open_during(offering, start, end)


def regions() -> list[str]:
    return list(
        Offering.objects.filter(status=Offering.Status.PUBLISHED)
        .order_by("region")
        .values_list("region", flat=True)
        .distinct()
    )
