"""Encrypt the TOTP secrets and recovery-code seeds allauth stored in plain text before
accounts.mfa.MFAAdapter (marketplace.lib.mfa_secrets). Sealed values are left alone, so the migration
may run again; the reverse writes them back in plain text (only for rolling the code back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations

from marketplace.lib import mfa_secrets


def _apply(apps: Any, change: Callable[[str], str]) -> int:
    changed = 0
    for row in apps.get_model("mfa", "Authenticator").objects.all().iterator():
        data = mfa_secrets.map_secrets(row.type, row.data, change)
        if data != row.data:
            row.data = data
            row.save(update_fields=["data"])
            changed += 1
    return changed


def seal_secrets(apps: Any, schema_editor: Any = None) -> int:
    return _apply(apps, mfa_secrets.seal)


def unseal_secrets(apps: Any, schema_editor: Any = None) -> int:
    return _apply(apps, lambda stored: mfa_secrets.unseal(stored) if stored.startswith(mfa_secrets.MARKER) else stored)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_user_timezone_unset"), ("mfa", "0003_authenticator_type_uniq")]

    operations = [migrations.RunPython(seal_secrets, unseal_secrets, elidable=True)]
