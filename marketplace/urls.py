from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from marketplace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("account/webhooks/", include("webhooks.urls")),
    path("account/", include("accounts.urls")),
    path("owner/", include("owners.urls")),
    path("", include("renters.urls")),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("billing/", include("billing.urls")),
    path("api/v1/billing/", include("billing.api.urls")),
    path("api/v1/webhooks/", include("webhooks.api.urls")),
    path("api/v1/", include("scheduling.api.urls")),
    path("", include("scheduling.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("", include("provisioning.urls")),
    path("api/v1/", include("provisioning.api.urls")),
    # Keep last: an unknown path under /api/ is a JSON 404 (never Django's page of URL patterns).
    re_path(r"^api/", views.api_not_found, name="api-not-found"),
]

# Refusals in the site's layout, with the reason in words (JSON under /api/).
handler403 = "marketplace.views.permission_denied"
handler404 = "marketplace.views.page_not_found"
handler400 = "marketplace.views.bad_request"
handler500 = "marketplace.views.server_error"
