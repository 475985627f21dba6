from django.urls import path

from owners.api import views

urlpatterns = [
    path("offerings/<int:offering_id>/standby", views.OfferingStandbyView.as_view(), name="api-owner-standby"),
]
