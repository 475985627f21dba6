from django.urls import path

from billing.api import views

app_name = "billing-api"

urlpatterns = [
    path("balance", views.BalanceView.as_view(), name="balance"),
    path("payments", views.PaymentListView.as_view(), name="payments"),
    path("cards", views.CardListView.as_view(), name="cards"),
    path("cards/setup", views.CardSetupView.as_view(), name="card_setup"),
    path("topups", views.TopUpView.as_view(), name="topups"),
    path("bookings", views.BookingChargeListView.as_view(), name="bookings"),
    path("statements/<int:year>/<int:month>", views.StatementView.as_view(), name="statement"),
    path("payouts", views.PayoutListView.as_view(), name="payouts"),
]
