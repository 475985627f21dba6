from django import forms

from accounts.models import User

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


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="For example: CI pipeline, laptop script.")
