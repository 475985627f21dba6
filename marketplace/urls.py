from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from marketplace import views
from marketplace.lib.apischema import ApiSchemaView, docs_view


class AdminLoginRedirect(RedirectView):
    """The admin's login is allauth's (its rate limits, MFA), keeping ``next``. Someone already signed
    in who lands here may not use the admin (not staff): a 403, not a loop through the login page."""

    pattern_name = "account_login"
    query_string = True

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            raise PermissionDenied("Your account may not use the admin.")
        return super().get(request, *args, **kwargs)


urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/login/", AdminLoginRedirect.as_view(), name="admin-login-redirect"),  # before the admin's own
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("account/webhooks/", include("webhooks.urls")),
    path("account/notifications/", include("notifications.urls")),
    path("account/", include("accounts.urls")),
    path("owner/", include("owners.urls")),
    path("", include("renters.urls")),
    path("api/v1/schema", ApiSchemaView.as_view(), name="api-schema"),
    path("api/v1/docs", docs_view, name="api-docs"),
    path("billing/", include("billing.urls")),
    path("api/v1/billing/", include("billing.api.urls")),
    path("api/v1/webhooks/", include("webhooks.api.urls")),
    path("api/v1/", include("scheduling.api.urls")),
    path("", include("scheduling.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("", include("provisioning.urls")),
    path("api/v1/", include("provisioning.api.urls")),
    path("api/v1/owner/", include("owners.api.urls")),
    path("api/v1/owner/", include("scheduling.api.owner_urls")),
    path("api/v1/owner/", include("billing.api.owner_urls")),
    # Keep last: an unknown path under /api/ is a JSON 404 (never Django's page of URL patterns).
    re_path(r"^api/", views.api_not_found, name="api-not-found"),
]

# Refusals in the site's layout, with the reason in words (JSON under /api/).
handler403 = "marketplace.views.permission_denied"
handler404 = "marketplace.views.page_not_found"
handler400 = "marketplace.views.bad_request"
handler500 = "marketplace.views.server_error"
