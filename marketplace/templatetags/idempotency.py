"""``{% idempotency_field %}``: the hidden key a portal form sends so that a double click acts once
(marketplace.lib.idempotency.idempotent_view). A new key each time the form is rendered."""

from __future__ import annotations

import uuid

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from marketplace.lib.idempotency import FORM_FIELD

register = template.Library()


@register.simple_tag
def idempotency_field() -> SafeString:
    return format_html('<input type="hidden" name="{}" value="{}">', FORM_FIELD, uuid.uuid4().hex)
