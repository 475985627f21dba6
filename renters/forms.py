from __future__ import annotations

from decimal import Decimal

from django import forms

from marketplace.lib.forms import BoundedDateTimeField, check_range
from marketplace.lib.inputs import INT_MAX
from marketplace.lib.money import CURRENCY_CHOICES


class OfferingFilterForm(forms.Form):
    """Browse filters. RAM is typed in GiB, as renters think of it."""

    cpu = forms.IntegerField(required=False, min_value=1, max_value=INT_MAX, label="vCPU at least")
    ram = forms.DecimalField(
        required=False, min_value=Decimal("0.125"), max_digits=12, decimal_places=3, label="RAM (GiB) at least"
    )
    disk = forms.IntegerField(required=False, min_value=0, max_value=INT_MAX, label="Disk (GB) at least")
    bandwidth = forms.IntegerField(required=False, min_value=0, max_value=INT_MAX, label="Bandwidth (Mbit/s) at least")
    region = forms.CharField(required=False, max_length=100, widget=forms.Select)
    max_price = forms.DecimalField(required=False, min_value=Decimal(0), max_digits=14, label="Max price per grid unit")
    currency = forms.ChoiceField(
        choices=[("", "any currency"), *CURRENCY_CHOICES], required=False, label="Currency of the max price"
    )
    available_from = BoundedDateTimeField(
        required=False, label="Available from", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    available_to = BoundedDateTimeField(
        required=False, label="until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: object, regions: list[str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # A list of the regions offered; the field stays free text (a region no longer offered finds nothing).
        region = self.fields["region"].widget
        assert isinstance(region, forms.Select)
        region.choices = [("", "any"), *((r, r) for r in regions or [])]

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("available_from"), data.get("available_to")
        if start and end and end <= start:
            self.add_error("available_to", "The end must be after the start.")
        else:
            check_range(self, "available_from", "available_to")
        if data.get("max_price") is not None and not data.get("currency"):
            self.add_error("currency", "Choose the currency of the max price: prices are compared in one currency.")
        if bool(start) != bool(end):
            self.add_error("available_to" if start else "available_from", "Give both ends of the availability range.")
        return data


class SSHKeyForm(forms.Form):
    name = forms.CharField(max_length=80)
    public_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="One line from your ~/.ssh/id_ed25519.pub (or similar)."
    )


class SpendLimitForm(forms.Form):
    """The limit in major units, as renters think of it; the view converts it, the service checks it."""

    spend_limit = forms.DecimalField(
        required=False,
        label="Monthly spend limit",
        help_text="A booking that would take this calendar month's spending above it is refused. "
        "Leave empty for no limit.",
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")


PRICE_RANGES = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "From… to…"}


class PriceRangeForm(forms.Form):
    """The price history's range on the offering page; custom ends are typed in the viewer's zone."""

    range = forms.ChoiceField(choices=list(PRICE_RANGES.items()), required=False, label="Range", initial="7d")
    since = BoundedDateTimeField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = BoundedDateTimeField(
        required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if data.get("range") != "custom":
            return data
        since, until = data.get("since"), data.get("until")
        if since is None and "since" not in self.errors:
            self.add_error("since", "Give the start of the range.")
        if until is None and "until" not in self.errors:
            self.add_error("until", "Give the end of the range.")
        if since and until and until <= since:
            self.add_error("until", "The end must be after the start.")
        else:
            check_range(self, "since", "until")
        return data


class DefaultsForm(forms.Form):
    """What new bookings start with; the choices come from the view, the service checks them again."""

    image = forms.ChoiceField(label="Default image", required=False)
    ssh_key = forms.TypedChoiceField(label="Default SSH key", required=False, coerce=int, empty_value=None)
    ssh_cidrs = forms.CharField(
        label="Who may reach SSH",
        required=False,
        max_length=1000,
        help_text="Addresses or CIDR ranges, separated by commas, e.g. 203.0.113.0/24. "
        "Empty: only the address you book from.",
    )

    def __init__(self, *args: object, images: list[str], keys: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        image_field = self.fields["image"]
        assert isinstance(image_field, forms.ChoiceField)
        image_field.choices = [("", "each offering's first image"), *((name, name) for name in images)]
        key_field = self.fields["ssh_key"]
        assert isinstance(key_field, forms.ChoiceField)
        key_field.choices = [("", "my newest key"), *((str(pk), label) for pk, label in keys)]
