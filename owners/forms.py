"""Owner portal forms: they check the shape of input; services check the rules."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from django import forms

from marketplace.lib.inputs import INT_MAX
from marketplace.lib.money import CURRENCY_CHOICES, MoneyError, format_major, to_minor
from owners.bounds import HOUR, PRICE_LABELS, human_seconds, per_hour
from owners.models import WEEKDAYS, Cloud, Offering, PricingPolicy, SliceProfile


class CloudForm(forms.ModelForm):
    app_credential_secret = forms.CharField(
        label="Application credential secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave blank to keep the current secret.",
    )

    class Meta:
        model = Cloud
        fields = [
            "name",
            "driver",
            "auth_url",
            "region_name",
            "project_id",
            "app_credential_id",
            "compute_endpoint_override",
            "image_endpoint_override",
        ]

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        # The simulator is offered only where the operator allows it (MARKETPLACE_ALLOW_SIMULATOR).
        self.fields["driver"].choices = Cloud.driver_choices()  # type: ignore[attr-defined]
        self.fields["auth_url"].help_text = "https:// only; the address must be on the public internet."


class OfferingForm(forms.ModelForm):
    allowed_images_text = forms.CharField(
        label="Allowed images / applications",
        required=False,
        help_text="Comma-separated, e.g. ubuntu-24.04, debian-12, jupyter.",
    )

    class Meta:
        model = Offering
        fields = [
            "cloud",
            "name",
            "description",
            "region",
            "vcpus",
            "ram_mib",
            "disk_gb",
            "bandwidth_mbps",
            "grid_seconds",
            "min_length_seconds",
            "max_length_seconds",
            "timezone",
            "preemption_notice_seconds",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {"preemption_notice_seconds": "Notice before preemption (seconds)"}

    def __init__(self, *args, clouds=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["cloud"].queryset = clouds if clouds is not None else Cloud.objects.none()
        self.fields["region"].required = False
        if self.instance.pk:
            self.fields["allowed_images_text"].initial = ", ".join(self.instance.allowed_images)
            if self.instance.pricing_policies.exists():
                self.fields[
                    "grid_seconds"
                ].help_text += (
                    " Changing it restates this offering's prices per new grid unit, keeping the price per second."
                )

    def _post_clean(self) -> None:
        # Model validation is the service's job (it raises messages we show on the form).
        pass

    def service_fields(self) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if k not in ("cloud", "allowed_images_text")}
        data["allowed_images"] = [
            i.strip() for i in self.cleaned_data.get("allowed_images_text", "").split(",") if i.strip()
        ]
        if not data.get("region"):
            data.pop("region", None)
        return data


class WindowForm(forms.Form):
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        initial=[0, 1, 2, 3, 4, 5, 6],
    )
    start_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="Before the start time means the window runs past midnight.",
    )


class ProfileForm(forms.ModelForm):
    class Meta:
        model = SliceProfile
        fields = ["name", "vcpus", "ram_mib", "disk_gb", "bandwidth_mbps", "flavor_name"]

    def _post_clean(self) -> None:
        pass


MONEY_FIELDS = ("price_per_unit", "reserve_price", "base_price", "floor_price", "cap_price")


def _no_constant(name: str) -> float:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text[:20])
    return value


def _sane_int(text: str) -> int:
    if len(text.lstrip("-")) > 15:
        raise ValueError(text[:20] + "…")
    return int(text)


class PricingForm(forms.Form):
    """Prices are typed in the currency's major unit (e.g. 0.05 USD) and stored in minor units."""

    profile = forms.ModelChoiceField(queryset=SliceProfile.objects.none())
    model = forms.ChoiceField(choices=PricingPolicy.Model.choices)
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    price_per_unit = forms.DecimalField(required=False, min_value=Decimal(0), label=PRICE_LABELS["price_per_unit"])
    reserve_price = forms.DecimalField(required=False, min_value=Decimal(0), label=PRICE_LABELS["reserve_price"])
    bidding_closes_seconds = forms.IntegerField(
        required=False, min_value=0, max_value=INT_MAX, label="Bidding closes (seconds before start)"
    )
    clearing_rule = forms.ChoiceField(choices=[("", "—")] + list(PricingPolicy.ClearingRule.choices), required=False)
    base_price = forms.DecimalField(required=False, min_value=Decimal(0), label=PRICE_LABELS["base_price"])
    floor_price = forms.DecimalField(required=False, min_value=Decimal(0), label=PRICE_LABELS["floor_price"])
    cap_price = forms.DecimalField(required=False, min_value=Decimal(0), label=PRICE_LABELS["cap_price"])
    surge_curve = forms.CharField(
        required=False,
        initial="[[0, 1.0], [50, 1.25], [80, 1.75], [100, 2.5]]",
        help_text="JSON list of [utilisation %, multiplier].",
    )
    release_charge = forms.ChoiceField(choices=PricingPolicy.ReleaseCharge.choices)

    def __init__(  # type: ignore[no-untyped-def]
        self, *args, profiles=None, grid_seconds: int | None = None, currency: str | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        if profiles is not None:
            self.fields["profile"].queryset = profiles  # type: ignore[attr-defined]
        if currency:
            # One currency per offering: a new price starts in the offering's currency.
            self.fields["currency"].initial = currency
            self.fields["currency"].help_text = f"This offering's prices are in {currency}."
        if grid_seconds:
            self.grid_seconds = grid_seconds
            units = HOUR / grid_seconds
            for name in MONEY_FIELDS:
                self.fields[name].help_text = (
                    f"Per grid unit of {human_seconds(grid_seconds)}, in major units (e.g. 0.05); "
                    f"× {units:g} = the price per hour."
                )
                now = (self.initial or {}).get(name)
                cur = (self.initial or {}).get("currency") or currency or "USD"
                if now is not None:
                    minor = to_minor(now, cur)
                    self.fields[name].help_text += (
                        f" Now {format_major(minor, cur)} per {human_seconds(grid_seconds)}"
                        f" = {format_major(per_hour(minor, grid_seconds), cur)} per hour."
                    )

    def clean_surge_curve(self) -> list:
        raw = self.cleaned_data.get("surge_curve") or ""
        if not raw.strip():
            return []
        try:
            value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_sane_int)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from exc
        except ValueError as exc:  # NaN, Infinity, 1e999 or a 5000-digit number: the database cannot hold them
            raise forms.ValidationError(f"Not a usable number: {exc}.") from exc
        return value

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        currency = data.get("currency") or "USD"
        for name in MONEY_FIELDS:
            value = data.get(name)
            if value is None:
                continue
            try:
                data[name] = to_minor(value, currency)
            except MoneyError as exc:
                self.add_error(name, str(exc))
        return data

    @staticmethod
    def initial_from(policy: PricingPolicy) -> dict:
        from marketplace.lib.money import Money

        initial = {
            f: getattr(policy, f)
            for f in ("model", "currency", "bidding_closes_seconds", "clearing_rule", "release_charge")
        }
        initial["profile"] = policy.profile_id
        initial["surge_curve"] = json.dumps(policy.surge_curve)
        for name in MONEY_FIELDS:
            value = getattr(policy, name)
            initial[name] = Money(value, policy.currency).major() if value is not None else None
        return initial


class StandbyPoolForm(forms.Form):
    """How many standby servers of one priced profile (and image) an offering keeps booted and idle."""

    profile = forms.ModelChoiceField(
        queryset=SliceProfile.objects.none(), help_text="One of the offering's priced profiles."
    )
    image = forms.ChoiceField(required=False, help_text="The image the idle servers run.")
    size = forms.IntegerField(
        label="Standby servers",
        min_value=0,
        max_value=64,
        help_text="0 to 64; 0 keeps none (the servers left are deleted).",
    )

    def __init__(self, *args, offering: Offering, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        priced = SliceProfile.objects.filter(pricing_policies__offering=offering).distinct().order_by("vcpus", "name")
        self.fields["profile"].queryset = priced  # type: ignore[attr-defined]
        images = [i for i in offering.allowed_images or [] if i]
        if images:
            self.fields["image"].choices = [(i, i) for i in images]  # type: ignore[attr-defined]
        else:
            # An offering that allows any image: the owner names one (blank: the cloud's default).
            self.fields["image"] = forms.CharField(
                required=False, max_length=200, help_text="The image the idle servers run."
            )
