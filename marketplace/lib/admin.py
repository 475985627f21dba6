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


class RecordAdmin:
    """For records the market writes itself (bookings, auction rounds, outgoing events): staff read
    them in the admin and never add or edit them there, since a change has to go through the
    services (state machine, ledger, audit). Admin actions that call those services stay available.
    Without this, an empty POST to the change form "saved" every read-only field back unchanged,
    and the add form of a model whose fields are all read-only failed with a 500."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
