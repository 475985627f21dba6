"""The owner API's revenue, mounted under /api/v1/owner/ (marketplace/urls.py)."""

from django.urls import path

from billing.api import owner_views

urlpatterns = [
    path("revenue", owner_views.OwnerRevenueView.as_view(), name="api-owner-revenue"),
]
