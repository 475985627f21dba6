import accounts.models
from django.db import migrations, models


def unset_defaulted_utc(apps, schema_editor):  # type: ignore[no-untyped-def]
    # Until now every user had "UTC" by default and no page could change it: none of them chose it,
    # so each takes their browser's zone on their next page instead (issue 15 item 1).
    apps.get_model("accounts", "User").objects.filter(timezone="UTC").update(timezone="")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_api_token_scopes_expiry_rules"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="timezone",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The portal's times are in this zone (IANA name, e.g. Europe/Paris). The API always uses UTC.",
                max_length=64,
                validators=[accounts.models.validate_timezone],
                verbose_name="time zone",
            ),
        ),
        migrations.RunPython(unset_defaulted_utc, migrations.RunPython.noop),
    ]
