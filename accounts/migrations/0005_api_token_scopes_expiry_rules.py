"""The rules of 0003's columns, in their own transaction (see 0003): every token expires, after it
was created; its scopes are known ones, at least one."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_api_token_scopes_expiry"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(),
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
