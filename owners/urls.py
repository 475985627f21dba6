from django.urls import path

from owners import views

app_name = "owners"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("clouds/new", views.cloud_create, name="cloud_create"),
    path("clouds/<int:pk>/", views.cloud_detail, name="cloud_detail"),
    path("clouds/<int:pk>/edit", views.cloud_edit, name="cloud_edit"),
    path("clouds/<int:pk>/test", views.cloud_test, name="cloud_test"),
    path("clouds/<int:pk>/delete", views.cloud_delete, name="cloud_delete"),
    path("offerings/new", views.offering_create, name="offering_create"),
    path("offerings/<int:pk>/", views.offering_detail, name="offering_detail"),
    path("offerings/<int:pk>/edit", views.offering_edit, name="offering_edit"),
    path("offerings/<int:pk>/status", views.offering_status, name="offering_status"),
    path("offerings/<int:pk>/windows", views.window_add, name="window_add"),
    path("offerings/<int:pk>/windows/<int:window_id>/delete", views.window_remove, name="window_remove"),
    path("offerings/<int:pk>/pricing/new", views.pricing_edit, name="pricing_create"),
    path("offerings/<int:pk>/pricing/<int:policy_id>/", views.pricing_edit, name="pricing_edit"),
    path("offerings/<int:pk>/pricing/<int:policy_id>/delete", views.pricing_delete, name="pricing_delete"),
    path("profiles/", views.profile_list, name="profile_list"),
    path("profiles/new", views.profile_create, name="profile_create"),
    path("profiles/<int:pk>/edit", views.profile_edit, name="profile_edit"),
]
