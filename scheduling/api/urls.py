from django.urls import path

from scheduling.api import views

app_name = "scheduling-api"

urlpatterns = [
    path("timeslots", views.TimeslotListView.as_view(), name="timeslots"),
    path("timeslots/<int:booking_id>/usage", views.BookingUsageView.as_view(), name="booking-usage"),
    path("timeslots/<int:booking_id>/release", views.BookingReleaseView.as_view(), name="booking-release"),
    path("timeslots/<int:booking_id>/extend", views.BookingExtendView.as_view(), name="booking-extend"),
    path("timeslots/<str:slice_id>/request", views.TimeslotRequestView.as_view(), name="timeslot-request"),
    path("timeslots/<str:slice_id>/quote", views.TimeslotQuoteView.as_view(), name="timeslot-quote"),
    path("bookings", views.BookingListView.as_view(), name="bookings"),
    path("bookings/<int:booking_id>", views.BookingDetailView.as_view(), name="booking-detail"),
    path(
        "offerings/<int:offering_id>/price-history",
        views.OfferingPriceHistoryView.as_view(),
        name="offering-price-history",
    ),
]
