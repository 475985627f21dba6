from __future__ import annotations

from django import template

from marketplace.lib.money import MoneyError, format_minor

register = template.Library()


@register.filter
def money(amount: int | None, currency: str = "USD") -> str:
    if amount is None:
        return "—"
    try:
        return format_minor(int(amount), currency)
    except (MoneyError, ValueError, TypeError):
        return str(amount)


@register.filter
def duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


@register.filter
def gib(mib: int | None) -> str:
    if mib is None:
        return "—"
    value = mib / 1024
    return f"{value:g} GiB"
