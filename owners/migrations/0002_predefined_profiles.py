from django.db import migrations

from owners.predefined import PREDEFINED, ensure_predefined_profiles


def create(apps, schema_editor):
    ensure_predefined_profiles(apps.get_model("owners", "SliceProfile"))


def remove(apps, schema_editor):
    apps.get_model("owners", "SliceProfile").objects.filter(owner=None, name__in=[p[0] for p in PREDEFINED]).delete()


class Migration(migrations.Migration):
    dependencies = [("owners", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
