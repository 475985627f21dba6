from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="endpoints"),
    path("<int:endpoint_id>/", views.endpoint_detail, name="endpoint"),
    path("<int:endpoint_id>/rotate", views.endpoint_rotate, name="rotate"),
    path("<int:endpoint_id>/toggle", views.endpoint_toggle, name="toggle"),
    path("<int:endpoint_id>/delete", views.endpoint_delete, name="delete"),
    path("<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver", views.delivery_redeliver, name="redeliver"),
]
