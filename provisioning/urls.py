from django.urls import path

from provisioning import views

app_name = "provisioning"

urlpatterns = [
    path("bookings/<int:booking_id>/server/", views.booking_server, name="booking_server"),
    path("bookings/<int:booking_id>/server/resize", views.booking_resize, name="booking_resize"),
    path("bookings/<int:booking_id>/server/console", views.booking_console, name="booking_console"),
]
