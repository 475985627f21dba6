import zoneinfo
from functools import lru_cache

from django import forms
from django.conf import settings

from accounts.models import ApiToken, User

ROLE_CHOICES = [
    ("renter", "Rent compute time"),
    ("owner", "Sell capacity from my OpenStack cloud"),
    ("both", "Both"),
]


class RoleSignupForm(forms.Form):
    """Extra field on allauth's sign-up form: what the new user wants to do."""

    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="renter", label="I want to")
    # Filled by static/js/timezone.js with the browser's zone; an unknown or missing one leaves it unset.
    timezone = forms.CharField(
        required=False, max_length=64, widget=forms.HiddenInput(attrs={"data-browser-timezone": "always"})
    )

    def signup(self, request, user: User) -> None:  # type: ignore[no-untyped-def]
        role = self.cleaned_data["role"]
        user.is_owner = role in ("owner", "both")
        user.is_renter = role in ("renter", "both")
        fields = ["is_owner", "is_renter"]
        zone = self.cleaned_data.get("timezone") or ""
        if zone and zone in zoneinfo.available_timezones():
            user.timezone = zone
            fields.append("timezone")
        user.save(update_fields=fields)


class HandleForm(forms.Form):
    handle = forms.CharField(
        label="Public handle",
        max_length=30,
        help_text="3 to 30 lowercase letters, digits and hyphens. Other users see this, never your email.",
    )


def _expiry_choices() -> list[tuple[int, str]]:
    default, most = int(settings.MARKETPLACE_API_TOKEN_DEFAULT_DAYS), int(settings.MARKETPLACE_API_TOKEN_MAX_DAYS)
    days = sorted({d for d in (1, 7, 30, 90, 180, 365) if d <= most} | {default, most})
    return [(d, f"{d} day{'s' if d > 1 else ''}" + (" (default)" if d == default else "")) for d in days]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="For example: CI pipeline, laptop script.")
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the token may do. Give a script only what it needs.",
    )
    expires_in_days = forms.TypedChoiceField(coerce=int, label="Expires after")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["scopes"].initial = list(ApiToken.ALL_SCOPES)
        expiry = self.fields["expires_in_days"]
        expiry.choices = _expiry_choices()  # type: ignore[attr-defined]
        expiry.initial = int(settings.MARKETPLACE_API_TOKEN_DEFAULT_DAYS)


class ActivityFilterForm(forms.Form):
    """The activity page's filters: one kind of event, a span of days (UTC). All optional."""

    kind = forms.ChoiceField(required=False, label="Kind")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: object, kinds: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["kind"].choices = [("", "All kinds"), *((k, k.replace("_", " ")) for k in kinds)]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:  # type: ignore[operator]
            self.add_error("until", "The end date is before the start date.")
        return data


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, str]]:
    """Every IANA zone zoneinfo knows, by name (the system's posix/ and right/ copies left out)."""
    names = sorted(n for n in zoneinfo.available_timezones() if not n.startswith(("posix/", "right/")))
    return [(n, n.replace("_", " ")) for n in names]


class TimeZoneForm(forms.Form):
    """The portal's time zone. The select starts on the browser's zone when none is chosen yet
    (static/js/timezone.js fills it); the service checks the name."""

    timezone = forms.ChoiceField(
        label="Time zone",
        help_text="Pages show times in this zone and read the times you type in it. The API always uses UTC.",
        widget=forms.Select(attrs={"data-browser-timezone": "if-empty"}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["timezone"].choices = [("", "Not chosen (UTC)"), *timezone_choices()]  # type: ignore[attr-defined]
