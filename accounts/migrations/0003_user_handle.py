"""Every user gets a public handle: existing users a random one (never derived from the email)."""

from django.db import migrations, models

import accounts.models


def fill_handles(apps, schema_editor):  # type: ignore[no-untyped-def]
    User = apps.get_model("accounts", "User")
    taken: set[str] = set()
    for user in User.objects.filter(handle__isnull=True).only("pk"):
        handle = accounts.models.new_handle()
        while handle in taken:
            handle = accounts.models.new_handle()
        taken.add(handle)
        User.objects.filter(pk=user.pk).update(handle=handle)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_idempotency_key")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="handle",
            field=models.CharField(max_length=30, null=True, verbose_name="public handle"),
        ),
        migrations.RunPython(fill_handles, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="handle",
            field=models.CharField(
                default=accounts.models.new_handle,
                help_text="How other users see you: owners' offerings show it, owners see renters by it.",
                max_length=30,
                unique=True,
                validators=[accounts.models.validate_handle],
                verbose_name="public handle",
            ),
        ),
    ]
