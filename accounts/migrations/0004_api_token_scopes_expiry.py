"""API tokens get scopes, an expiry and a revocation reason (issue 13).

Tokens that exist keep working as they did: every scope, and an expiry the default number of days
from this migration (they had none); the user sees it on the tokens page and can replace them.
The NOT NULL and the checks come in 0004: PostgreSQL refuses to ALTER a table in the transaction
that updated its rows ("pending trigger events")."""

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
        ("accounts", "0003_user_handle"),
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
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_reason",
            field=models.CharField(
                blank=True, help_text="Why: by its user, password change...", max_length=32
            ),
        ),
        # Rows last: no ALTER TABLE may follow an UPDATE in this transaction.
        migrations.RunSQL(
            "UPDATE accounts_apitoken SET scopes = ARRAY['read', 'market', 'billing', 'owner']::varchar(16)[]",
            migrations.RunSQL.noop,
        ),
        migrations.RunPython(_expire_existing, migrations.RunPython.noop),
    ]
