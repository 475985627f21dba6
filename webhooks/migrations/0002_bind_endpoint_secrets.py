"""Bind every stored webhook endpoint secret to its row (marketplace.lib.crypto's context).

Secrets written before this were encrypted without a context; each is decrypted and encrypted again
bound to f"webhooks.endpoint:{pk}" (webhooks.services.secret_context). Ones already bound are left
alone, so the migration may run again; one no configured key reads is left as it is (the delivery
reports it: rotate the secret). No plaintext is written anywhere.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from marketplace.lib import crypto

FIELD = "secret_encrypted"


def _context(pk: int) -> str:
    return f"webhooks.endpoint:{pk}"  # webhooks.services.secret_context, frozen here


def _apply(apps: Any, change: Any) -> int:
    return crypto.rebind_column(apps.get_model("webhooks", "Endpoint"), FIELD, _context, change)


def bind_secrets(apps: Any, schema_editor: Any = None) -> int:
    return _apply(apps, crypto.bind)


def unbind_secrets(apps: Any, schema_editor: Any = None) -> int:
    return _apply(apps, crypto.unbind)


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_outbox_endpoints_deliveries")]

    operations = [migrations.RunPython(bind_secrets, unbind_secrets, elidable=True)]
