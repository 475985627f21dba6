from __future__ import annotations

import uuid
from typing import Any

from django import forms

from marketplace.lib import inputs
from marketplace.lib.money import CURRENCY_CHOICES, MoneyError, to_minor


def _amount_minor(form: forms.Form, data: dict[str, Any], currency: str | None) -> dict[str, Any]:
    """``amount`` (typed in major units of ``currency``) as ``amount_minor``, or a form error on it."""
    if data.get("amount") is not None and currency:
        try:
            data["amount_minor"] = to_minor(data["amount"], currency)
        except MoneyError as exc:
            form.add_error("amount", str(exc))
    return data


class TopUpForm(forms.Form):
    """A top-up typed in major units, in one of the currencies the market sells in (``currencies``)."""

    amount = forms.DecimalField(label="Amount", min_value=0, max_digits=14)
    currency = forms.ChoiceField(label="Currency", choices=CURRENCY_CHOICES, initial="USD")

    def __init__(self, *args: Any, currencies: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if currencies:
            field = self.fields["currency"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [(c, c) for c in currencies]
            field.initial = currencies[0]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        return _amount_minor(self, data, data.get("currency"))


class StatementForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2100)
    month = forms.IntegerField(min_value=1, max_value=12)
    format = forms.ChoiceField(choices=[("html", "HTML"), ("csv", "CSV"), ("pdf", "PDF")], required=False)


class ShortNoticePolicyForm(forms.Form):
    short_notice_credit_percent = forms.IntegerField(
        label="Short-notice credit (% of the rate)",
        min_value=100,
        max_value=1000,
        help_text="A renter preempted with less notice than you promise is credited this % of the slice rate "
        "per second of missing notice (200 = 2x).",
    )


class AdjustmentForm(forms.Form):
    """A staff adjustment typed in major units (12.34 EUR); ``amount_minor`` is what the service takes."""

    account_kind = forms.ChoiceField(
        choices=[("renter_balance", "Renter balance"), ("owner_payable", "Owner earnings")]
    )
    amount = forms.DecimalField(
        max_digits=14, help_text="In the currency's units, e.g. 12.50; positive credits the user, negative debits them."
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    nonce = forms.CharField(widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        return _amount_minor(self, data, data.get("currency"))


class RefundForm(forms.Form):
    """A refund typed in major units of the payment's ``currency``."""

    amount = forms.DecimalField(min_value=0, max_digits=14)
    reason = forms.CharField(max_length=500)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"Amount ({currency})"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        return _amount_minor(self, data, self.currency)


class RevenueRangeForm(forms.Form):
    """The revenue page's days (both included, in the viewer's zone): at most the market's maximum range."""

    since = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        for name in ("since", "until"):
            wrong = inputs.year_error(data[name].year) if data.get(name) else None
            if wrong:
                self.add_error(name, wrong)
        if since and until and not self.errors:
            if until < since:
                self.add_error("until", "The last day cannot come before the first.")
            elif (until - since).days + 1 > inputs.max_range().days:
                self.add_error("until", f"A time range can be at most {inputs.max_range().days} days long.")
        return data
