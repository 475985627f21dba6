from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("costs", views.costs, name="costs"),
    path("cards/add", views.card_add, name="card_add"),
    path("cards/added", views.card_added, name="card_added"),
    path("cards/<int:pk>/default", views.card_default, name="card_default"),
    path("cards/<int:pk>/remove", views.card_remove, name="card_remove"),
    path("topup", views.topup, name="topup"),
    path("statement", views.statement, name="statement"),
    path("terms/<int:offering_id>", views.offering_terms, name="offering_terms"),
    path("owner/", views.owner_revenue, name="owner_revenue"),
    path("owner/connect", views.connect_onboard, name="connect_onboard"),
    path("owner/connect/return", views.connect_return, name="connect_return"),
    path("owner/payouts", views.payout_request, name="payout_request"),
    path("owner/offerings/<int:offering_id>/policy", views.offering_policy, name="offering_policy"),
    path("webhooks/stripe", views.stripe_webhook, name="stripe_webhook"),
]
