"""Small pieces every app's Django admin uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin

from marketplace.lib.money import format_minor


def money(field: str, label: str | None = None) -> Callable[[Any], str]:
    """A changelist column showing a minor-unit field in major units with its currency (sortable)."""

    @admin.display(description=label or field.replace("_", " "), ordering=field)
    def show(obj: Any) -> str:
        value = getattr(obj, field)
        return "—" if value is None else format_minor(int(value), obj.currency)

    show.__name__ = f"{field}_money"
    return show
