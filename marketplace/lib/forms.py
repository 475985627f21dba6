"""Glue between forms (shape of input) and services (rules)."""

from __future__ import annotations

from typing import Any

from django import forms

from marketplace.lib import inputs
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


class BoundedDateTimeField(forms.DateTimeField):
    """A date and time inside the operator's calendar window (marketplace.lib.inputs)."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None:
            message = inputs.datetime_error(value)
            if message:
                raise forms.ValidationError(message, code="out_of_range")


def check_range(form: forms.BaseForm, start_field: str, end_field: str) -> None:
    """Refuse, on the end field, a range from ``start_field`` to ``end_field`` longer than the
    operator's maximum. Call from ``clean()``; fields already refused are left alone."""
    start, end = form.cleaned_data.get(start_field), form.cleaned_data.get(end_field)
    if start is not None and end is not None:
        message = inputs.range_error(start, end)
        if message:
            form.add_error(end_field, message)
