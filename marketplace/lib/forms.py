"""Glue between forms (shape of input) and services (rules)."""

from __future__ import annotations

from django import forms

from marketplace.lib.errors import DomainError, ValidationFailed


def apply_domain_error(form: forms.BaseForm, exc: DomainError) -> None:
    """Show a service's refusal on the form: on the field it names when the form has it."""
    if isinstance(exc, ValidationFailed):
        for field, messages in exc.errors.items():
            target = field if field in form.fields else None
            for message in messages:
                form.add_error(target, message if target or field == "__all__" else f"{field}: {message}")
    else:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
