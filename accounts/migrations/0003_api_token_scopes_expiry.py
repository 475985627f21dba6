"""API tokens get scopes, an expiry and a revocation reason (issue 13).

Tokens that exist keep working as they did: every scope, and an expiry the default number of days
from this migration (they had none); the user sees it on the tokens page and can replace them."""

from datetime import timedelta

import django.contrib.postgres.fields
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone



def _expire_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    ApiToken = apps.get_model("accounts", "ApiToken")
    expires = timezone.now() + timedelta(days=getattr(settings, "MARKETPLACE_API_TOKEN_DEFAULT_DAYS", 90))
    ApiToken.objects.filter(expires_at__isnull=True).update(expires_at=expires)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_idempotency_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(
                    choices=[
                        ("read", "read: look (search, bookings, usage, balance)"),
                        ("market", "market: buy, bid, quote, release"),
                        ("billing", "billing: top up, add cards"),
                        ("owner", "owner: offerings, revenue, payouts"),
                    ],
                    max_length=16,
                ),
                default=list,
                size=None,
            ),
        ),
        migrations.RunSQL(
            "UPDATE accounts_apitoken SET scopes = ARRAY['read', 'market', 'billing', 'owner']::varchar(16)[]",
            migrations.RunSQL.noop,
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(_expire_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_reason",
            field=models.CharField(
                blank=True, help_text="Why: by its user, password change...", max_length=32
            ),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(("scopes__contained_by", ["read", "market", "billing", "owner"]), ("scopes__len__gte", 1)),
                name="accounts_apitoken_scopes_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(("expires_at__gt", models.F("created_at"))),
                name="accounts_apitoken_expires_after_created",
            ),
        ),
    ]
