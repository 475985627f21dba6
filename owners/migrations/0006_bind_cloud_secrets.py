"""Bind every stored cloud credential secret to its row (marketplace.lib.crypto's context).

Secrets written before this were encrypted without a context; each is decrypted and encrypted again
bound to f"owners.cloud:{pk}" (owners.models.secret_context). Ones already bound are left alone, so
the migration may run again; one no configured key reads is left as it is (reveal_secret reports it,
and ``manage.py reencrypt_secrets`` counts it). No plaintext is written anywhere.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from marketplace.lib import crypto

FIELD = "app_credential_secret_encrypted"


def _context(pk: int) -> str:
    return f"owners.cloud:{pk}"  # owners.models.secret_context, frozen here


def _apply(apps: Any, change: Any) -> int:
    return crypto.rebind_column(apps.get_model("owners", "Cloud"), FIELD, _context, change)


def bind_secrets(apps: Any, schema_editor: Any = None) -> int:
    return _apply(apps, crypto.bind)


def unbind_secrets(apps: Any, schema_editor: Any = None) -> int:
    return _apply(apps, crypto.unbind)


class Migration(migrations.Migration):
    dependencies = [("owners", "0005_owner_vetting")]

    operations = [migrations.RunPython(bind_secrets, unbind_secrets, elidable=True)]
