from django.urls import path

from provisioning import views

app_name = "provisioning"

urlpatterns = [
    path("bookings/<int:booking_id>/server/", views.booking_server, name="booking_server"),
    path("bookings/<int:booking_id>/server/resize", views.booking_resize, name="booking_resize"),
    path("bookings/<int:booking_id>/server/console", views.booking_console, name="booking_console"),
    path("bookings/<int:booking_id>/server/usage.json", views.booking_usage_json, name="booking_usage_json"),
]

# The owner portal's standby pages (they read Server rows, so they are provisioning's).
urlpatterns += [
    path("owner/offerings/<int:pk>/standby", views.offering_standby, name="offering_standby"),
    path("owner/offerings/<int:pk>/standby/adopt", views.offering_adopt, name="offering_adopt"),
    path("owner/offerings/<int:pk>/utilisation", views.offering_utilisation, name="offering_utilisation"),
]
