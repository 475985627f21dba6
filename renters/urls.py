from django.urls import path

from renters import views

app_name = "renters"

urlpatterns = [
    path("offerings/", views.offering_browse, name="offering_browse"),
    path("offerings/<int:pk>/", views.offering_detail, name="offering_detail"),
    path("offerings/<int:pk>/prices/<int:profile_id>", views.offering_price_history, name="price_history"),
    path("account/settings/", views.renter_settings, name="settings"),
    path("account/keys/", views.ssh_keys, name="ssh_keys"),
    path("account/keys/<int:pk>/delete", views.ssh_key_remove, name="ssh_key_remove"),
]
