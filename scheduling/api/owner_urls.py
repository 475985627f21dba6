"""The owner API's market endpoints, mounted under /api/v1/owner/ (marketplace/urls.py)."""

from django.urls import path

from scheduling.api import owner_views

urlpatterns = [
    path("bookings", owner_views.OwnerBookingListView.as_view(), name="api-owner-bookings"),
    path("bookings/<int:booking_id>", owner_views.OwnerBookingDetailView.as_view(), name="api-owner-booking"),
    path("bookings/<int:booking_id>/preempt", owner_views.BookingPreemptView.as_view(), name="api-owner-preempt"),
    path(
        "offerings/<int:offering_id>/preempt",
        owner_views.OfferingPreemptView.as_view(),
        name="api-owner-offering-preempt",
    ),
]
