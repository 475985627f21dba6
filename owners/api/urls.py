from django.urls import path

from owners.api import views

urlpatterns = [
    path("clouds", views.CloudListView.as_view(), name="api-owner-clouds"),
    path("offerings", views.OfferingListView.as_view(), name="api-owner-offerings"),
    path("offerings/<int:offering_id>", views.OfferingDetailView.as_view(), name="api-owner-offering"),
    path("offerings/<int:offering_id>/status", views.OfferingStatusView.as_view(), name="api-owner-offering-status"),
    path("offerings/<int:offering_id>/windows", views.WindowListView.as_view(), name="api-owner-windows"),
    path(
        "offerings/<int:offering_id>/windows/<int:window_id>",
        views.WindowDetailView.as_view(),
        name="api-owner-window",
    ),
    path("offerings/<int:offering_id>/pricing", views.PricingListView.as_view(), name="api-owner-pricing"),
    path(
        "offerings/<int:offering_id>/pricing/<int:profile_id>",
        views.PricingDetailView.as_view(),
        name="api-owner-price",
    ),
    path("offerings/<int:offering_id>/standby", views.OfferingStandbyView.as_view(), name="api-owner-standby"),
    path("profiles", views.ProfileListView.as_view(), name="api-owner-profiles"),
    path("profiles/<int:profile_id>", views.ProfileDetailView.as_view(), name="api-owner-profile"),
]
