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

    def signup(self, request, user: User) -> None:  # type: ignore[no-untyped-def]
        role = self.cleaned_data["role"]
        user.is_owner = role in ("owner", "both")
        user.is_renter = role in ("renter", "both")
        user.save(update_fields=["is_owner", "is_renter"])


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
