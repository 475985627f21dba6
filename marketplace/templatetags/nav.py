"""The navigation's "you are here": ``<a href=… {% current "offerings" %}>`` marks the active link."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def current(context: Any, name: str, value: str = "page") -> SafeString:
    """` aria-current="page"` when ``name`` is this page's section or its view name
    (marketplace.context_processors.nav_section), else nothing."""
    if name and name in (context.get("nav_section"), context.get("nav_view")):
        return format_html(' aria-current="{}"', value)
    return mark_safe("")
