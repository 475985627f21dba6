"""Reads for webhooks, restricted to what the user may see: their own endpoints and deliveries only."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from marketplace.lib.errors import NotFoundError
from webhooks.models import Delivery, DeliveryAttempt, Endpoint


def endpoints_of(user: User) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(user=user).order_by("-created_at", "-id")


def endpoint_of(user: User, endpoint_id: int) -> Endpoint:
    """The user's endpoint; another user's (or none) is a 404, never a 403 that says it exists."""
    ep = endpoints_of(user).filter(pk=endpoint_id).first()
    if ep is None:
        raise NotFoundError("No such webhook endpoint.")
    return ep


def deliveries_of(endpoint: Endpoint) -> QuerySet[Delivery]:
    return Delivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-id")


def delivery_of(endpoint: Endpoint, delivery_id: int) -> Delivery:
    d = deliveries_of(endpoint).filter(pk=delivery_id).first()
    if d is None:
        raise NotFoundError("No such delivery.")
    return d


def attempts_of(delivery: Delivery) -> QuerySet[DeliveryAttempt]:
    return DeliveryAttempt.objects.filter(delivery=delivery).order_by("-at", "-id")
