"""allauth's sign-up form, made atomic: the user, its role, its email address and its audit entry
commit together, or none of them does.

A separate module from accounts.forms: allauth's forms import ``ACCOUNT_SIGNUP_FORM_CLASS``
(accounts.forms.RoleSignupForm) when they load, so this subclass cannot live beside it.
"""

from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from django.db import transaction
from django.http import HttpRequest

from accounts import services


class SignupForm(AllauthSignupForm):
    def try_save(self, request: HttpRequest) -> tuple[Any, Any]:
        with transaction.atomic():
            user, response = super().try_save(request)
            if user is not None:
                services.user_signed_up(user=user, role=self.cleaned_data.get("role", ""))
        return user, response
