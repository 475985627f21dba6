"""Portal forms: the shape of input only; the services check the rules."""

from __future__ import annotations

from typing import Any

from django import forms

from marketplace.lib.durations import HELP as LENGTH_HELP
from marketplace.lib.durations import parse_length
from marketplace.lib.forms import BoundedDateTimeField, check_range
from marketplace.lib.inputs import BIGINT_MAX, INT_MAX, year_error
from marketplace.lib.money import CURRENCY_CHOICES, MoneyError, to_minor
from scheduling.models import SSH_CIDRS_MAX, USER_DATA_MAX_BYTES
from scheduling.selectors import ORDERINGS


class SliceSearchForm(forms.Form):
    cpu = forms.IntegerField(label="vCPU (at least)", required=False, min_value=1, max_value=INT_MAX)
    ram = forms.DecimalField(label="RAM GiB (at least)", required=False, min_value=0, max_digits=12, decimal_places=3)
    disk = forms.IntegerField(label="Disk GB (at least)", required=False, min_value=0, max_value=INT_MAX)
    bandwidth = forms.IntegerField(label="Mbit/s (at least)", required=False, min_value=0, max_value=INT_MAX)
    start = BoundedDateTimeField(
        label="From", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = BoundedDateTimeField(
        label="Until", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    duration = forms.CharField(
        label="Length",
        required=False,
        max_length=40,
        help_text=LENGTH_HELP + " Empty: each offering's shortest slice.",
        widget=forms.TextInput(attrs={"list": "lengths", "placeholder": "shortest"}),
    )
    region = forms.CharField(required=False, max_length=100)
    max_price = forms.DecimalField(label="Max price per grid unit", required=False, min_value=0, max_digits=14)
    currency = forms.ChoiceField(label="in", choices=[("", "any currency"), *CURRENCY_CHOICES], required=False)
    ordering = forms.ChoiceField(label="Order by", choices=[(k, k) for k in ORDERINGS], required=False, initial="price")
    per_offering = forms.TypedChoiceField(
        label="Start times per offering",
        choices=[(3, "3"), (10, "10"), (20, "20")],
        coerce=int,
        required=False,
        empty_value=3,  # type: ignore[arg-type]  # django-stubs types it as a string
    )
    offering = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, widget=forms.HiddenInput)
    profile = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, widget=forms.HiddenInput)

    def clean_duration(self) -> int | None:
        text = self.cleaned_data.get("duration") or ""
        if not text.strip():
            return None
        try:
            return parse_length(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("currency") and data.get("max_price") is not None:
            try:
                to_minor(data["max_price"], data["currency"])
            except MoneyError as exc:
                self.add_error("max_price", str(exc))
        check_range(self, "start", "end")
        return data


class SliceRequestForm(forms.Form):
    """Buying (or bidding for) a slice: its length, price inputs, and what the server carries. The
    service checks the image, the user-data and the SSH ranges; ``images`` makes the image a list."""

    duration = forms.IntegerField(required=False, max_value=INT_MAX)
    bid = forms.DecimalField(required=False, min_value=0, max_digits=20, decimal_places=6)
    quote = forms.CharField(required=False, max_length=64)
    image = forms.CharField(required=False, max_length=200)
    user_data = forms.CharField(
        label="Cloud-init user-data (optional)",
        required=False,
        strip=False,
        max_length=USER_DATA_MAX_BYTES * 4,  # the service counts the limit in UTF-8 bytes
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "placeholder": "#cloud-config"}),
        help_text=f"A #cloud-config document or a script, at most {USER_DATA_MAX_BYTES} bytes. Stored encrypted "
        "and never shown again, not even to the offering's owner. Needed if you have no SSH key on file.",
    )
    ssh_cidrs = forms.CharField(
        label="Who may reach SSH",
        required=False,
        max_length=1000,
        help_text=f"Addresses or CIDR ranges, separated by commas (at most {SSH_CIDRS_MAX}). "
        "Empty: only the address you are browsing from.",
    )

    def __init__(self, *args: Any, images: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if images:
            self.fields["image"].widget = forms.Select(choices=[(name, name) for name in images])


class PreemptForm(forms.Form):
    notice_seconds = forms.IntegerField(label="Notice (seconds)", required=False, min_value=0)  # the service bounds it
    reason = forms.CharField(required=False, max_length=200)


class ExtendForm(forms.Form):
    """How much longer a booking should run (seconds, or "5 min", "1 h"); the service checks the rules."""

    duration = forms.CharField(
        label="Extend by",
        max_length=40,
        help_text=LENGTH_HELP + " A multiple of the offering's grid.",
        widget=forms.TextInput(attrs={"list": "lengths", "placeholder": "5 min"}),
    )

    def clean_duration(self) -> int:
        text = self.cleaned_data.get("duration") or ""
        try:
            seconds = parse_length(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if seconds > INT_MAX:
            raise forms.ValidationError("That is longer than any offering sells.")
        return seconds


class CalendarForm(forms.Form):
    """Which day or week of an offering's calendar to show (a local date in the viewer's zone)."""

    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    span = forms.ChoiceField(choices=[("day", "Day"), ("week", "Week")], required=False)

    def clean_date(self) -> Any:
        value = self.cleaned_data.get("date")
        if value is not None:
            message = year_error(value.year)
            if message:
                raise forms.ValidationError(message)
        return value
