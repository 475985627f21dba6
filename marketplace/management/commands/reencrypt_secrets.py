"""Re-encrypt every secret at rest under the first key of MARKETPLACE_SECRETS_KEY (after a rotation).

Rotating the key: put the new key first and keep the old one after it (``NEW,OLD``), restart the
processes (they then encrypt with the new key and still read the old), run this command, and once it
reports nothing unreadable remove the old key. It walks every model field named ``*_encrypted``
(marketplace.lib.crypto's ciphertexts: clouds' credentials, webhook endpoints' secrets, bookings'
user-data) in primary-key batches; a value the new key already reads is left alone, so a second run
(or a run after an interruption) changes nothing. Each row is written only if it still holds the value
that was read (``UPDATE ... WHERE field = old``): a secret changed meanwhile was written under the new key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction

from marketplace.lib import crypto

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
        for model, field in encrypted_fields():
            counts = reencrypt_field(model, field, batch_size=batch_size, dry_run=options["dry_run"])
            for name in ("reencrypted", "current", "unreadable", "changed_meanwhile"):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
            line = (
                f"{model._meta.label}.{field}: {counts.reencrypted} {verb}, "
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
