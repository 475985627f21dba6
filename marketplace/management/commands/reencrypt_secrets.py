"""Re-encrypt every secret at rest under the first key of MARKETPLACE_SECRETS_KEY (after a rotation).

Rotating the key: put the new key first and keep the old one after it (``NEW,OLD``), restart the
processes (they then encrypt with the new key and still read the old), run this command, and once it
reports nothing unreadable remove the old key. It walks every model field named ``*_encrypted``
(marketplace.lib.crypto's ciphertexts: clouds' credentials, webhook endpoints' secrets, bookings'
user-data) in primary-key batches, then allauth's MFA authenticators (TOTP secrets and recovery
seeds, sealed by marketplace.lib.mfa_secrets inside their JSON data); a value the new key already reads is left alone, so a second run
(or a run after an interruption) changes nothing. Each row is written only if it still holds the value
that was read (``UPDATE ... WHERE field = old``): a secret changed meanwhile was written under the new key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction

from marketplace.lib import crypto, mfa_secrets

log = logging.getLogger("marketplace.secrets")


@dataclass
class Counts:
    reencrypted: int = 0
    current: int = 0
    unreadable: int = 0
    changed_meanwhile: int = 0


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) holding a marketplace.lib.crypto ciphertext, in a fixed order."""
    found = [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.name.endswith("_encrypted") and isinstance(field, models.TextField | models.CharField)
    ]
    return sorted(found, key=lambda item: (item[0]._meta.label, item[1]))


def reencrypt_field(model: type[models.Model], field: str, *, batch_size: int, dry_run: bool) -> Counts:
    counts = Counts()
    manager = model._base_manager
    last: Any = None
    while True:
        rows = manager.exclude(**{field: ""}).order_by("pk")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        batch = list(rows.values_list("pk", field)[:batch_size])
        if not batch:
            return counts
        last = batch[-1][0]
        updates: list[tuple[Any, str, str]] = []
        for pk, token in batch:  # the cryptography outside the transaction
            if crypto.is_current(token):
                counts.current += 1
                continue
            try:
                updates.append((pk, token, crypto.rotate(token)))
            except crypto.SecretUnreadable:
                counts.unreadable += 1
                log.warning("%s %s.%s cannot be decrypted with any configured key", model._meta.label, pk, field)
        if dry_run:
            counts.reencrypted += len(updates)
            continue
        with transaction.atomic():
            for pk, old, new in updates:
                if manager.filter(pk=pk, **{field: old}).update(**{field: new}):
                    counts.reencrypted += 1
                else:
                    counts.changed_meanwhile += 1


def reencrypt_mfa(*, dry_run: bool) -> Counts:
    """The sealed secrets inside allauth's MFA authenticators, each row written only if unchanged."""
    counts = Counts()
    manager = apps.get_model("mfa", "Authenticator")._base_manager

    def rotated(stored: str) -> str:
        if not stored.startswith(mfa_secrets.MARKER) or mfa_secrets.is_current(stored):
            counts.current += stored.startswith(mfa_secrets.MARKER)
            return stored
        try:
            new = mfa_secrets.rotate(stored)
        except crypto.SecretUnreadable:
            counts.unreadable += 1
            return stored
        counts.reencrypted += 1
        return new

    for pk, kind, data in manager.order_by("pk").values_list("pk", "type", "data").iterator():
        new = mfa_secrets.map_secrets(kind, data, rotated)
        if new != data and not dry_run and not manager.filter(pk=pk, data=data).update(data=new):
            counts.changed_meanwhile += 1
    return counts


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the first (newest) key of MARKETPLACE_SECRETS_KEY."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="rows read and written at a time")
        parser.add_argument("--dry-run", action="store_true", help="count what would change, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        total = Counts()
        verb = "would be re-encrypted" if options["dry_run"] else "re-encrypted"
        dry_run = options["dry_run"]
        columns: list[tuple[str, Callable[[], Counts]]] = [
            (
                f"{model._meta.label}.{field}",
                partial(reencrypt_field, model, field, batch_size=batch_size, dry_run=dry_run),
            )
            for model, field in encrypted_fields()
        ]
        columns.append(("mfa.Authenticator.data", partial(reencrypt_mfa, dry_run=dry_run)))
        for label, run in columns:
            counts = run()
            for name in ("reencrypted", "current", "unreadable", "changed_meanwhile"):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
            line = (
                f"{label}: {counts.reencrypted} {verb}, "
                f"{counts.current} already under the new key, {counts.unreadable} unreadable"
            )
            if counts.changed_meanwhile:
                line += f", {counts.changed_meanwhile} changed meanwhile (left as written)"
            self.stdout.write(line)
        summary = (
            f"Total: {total.reencrypted} {verb}, {total.current} already under the new key, "
            f"{total.unreadable} unreadable."
        )
        log.info("reencrypt_secrets: %s", summary)
        self.stdout.write(summary)
        if total.unreadable:
            raise CommandError(
                f"{total.unreadable} secrets cannot be decrypted with any key in MARKETPLACE_SECRETS_KEY: "
                "keep the old keys configured until they are replaced."
            )
