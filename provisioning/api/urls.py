from django.urls import path

from provisioning.api import views

urlpatterns = [
    path("bookings/<int:booking_id>/server", views.booking_server, name="api-booking-server"),
    path("bookings/<int:booking_id>/server/usage", views.booking_usage, name="api-booking-server-usage"),
    path("bookings/<int:booking_id>/server/console", views.booking_console, name="api-booking-server-console"),
]
