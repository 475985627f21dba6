from django.urls import path

from scheduling import calendar_views, views

app_name = "scheduling"

urlpatterns = [
    path("market/slices/", views.slice_search, name="slices"),
    path("market/slices/<str:slice_id>/request", views.slice_request, name="slice_request"),
    path("market/slices/<str:slice_id>/quote", views.slice_quote, name="slice_quote"),
    path("market/bookings/", views.my_bookings, name="my_bookings"),
    path("market/bookings/<int:pk>/release", views.booking_release, name="booking_release"),
    path("market/bookings/<int:pk>/extend", views.booking_extend, name="booking_extend"),
    path("market/bookings/<int:pk>/profile", views.booking_change_profile, name="booking_change_profile"),
    path("owner/market/", views.owner_market, name="owner_market"),
    path("owner/market/bookings/<int:pk>/preempt", views.owner_preempt, name="owner_preempt"),
    path("owner/market/offerings/<int:pk>/preempt", views.owner_preempt_offering, name="owner_preempt_offering"),
    path("market/bookings/<int:pk>/status", views.booking_status, name="booking_status"),
    path("offerings/<int:pk>/calendar", calendar_views.offering_calendar, name="offering_calendar"),
    path("owner/offerings/<int:pk>/calendar", calendar_views.owner_offering_calendar, name="owner_offering_calendar"),
    path("account/calendar-feed/", calendar_views.booking_feed, name="booking_feed"),
    path("feeds/<str:feed_token>/bookings.ics", calendar_views.feed_bookings, name="feed_bookings"),
    path("feeds/<str:feed_token>/offerings.ics", calendar_views.feed_offerings, name="feed_offerings"),
    path("market/bookings/<int:pk>/next", views.booking_buy_next, name="booking_buy_next"),
    path("market/slices/<str:slice_id>/bid-preview", views.slice_bid_preview, name="slice_bid_preview"),
]
