from django.urls import path

from webhooks.api import views

app_name = "webhooks-api"

urlpatterns = [
    path("endpoints", views.EndpointListView.as_view(), name="endpoints"),
    path("endpoints/<int:endpoint_id>", views.EndpointDetailView.as_view(), name="endpoint"),
    path("endpoints/<int:endpoint_id>/rotate-secret", views.EndpointRotateView.as_view(), name="rotate"),
    path("endpoints/<int:endpoint_id>/deliveries", views.DeliveryListView.as_view(), name="deliveries"),
    path(
        "endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>", views.DeliveryDetailView.as_view(), name="delivery"
    ),
    path(
        "endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver",
        views.RedeliverView.as_view(),
        name="redeliver",
    ),
]
