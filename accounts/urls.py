from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("handle/", views.handle_settings, name="handle"),
    path("time-zone/", views.timezone_settings, name="timezone"),
    path("time-zone/detected", views.timezone_detected, name="timezone_detected"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("become-owner/", views.become_owner, name="become_owner"),
    path("tokens/<int:pk>/revoke", views.api_token_revoke, name="api_token_revoke"),
    path("activity/", views.activity, name="activity"),
]
