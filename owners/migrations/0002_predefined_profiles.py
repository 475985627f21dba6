from django.db import migrations

PREDEFINED = [
    # name, vCPU, RAM MiB, disk GB, bandwidth Mbit/s, flavor
    ("Micro", 1, 1024, 10, 100, "m1.micro"),
    ("Small", 1, 2048, 20, 250, "m1.small"),
    ("Medium", 2, 4096, 40, 500, "m1.medium"),
    ("Large", 4, 8192, 80, 1000, "m1.large"),
]


def create(apps, schema_editor):
    SliceProfile = apps.get_model("owners", "SliceProfile")
    for name, vcpus, ram, disk, bw, flavor in PREDEFINED:
        SliceProfile.objects.update_or_create(
            owner=None, name=name,
            defaults={"vcpus": vcpus, "ram_mib": ram, "disk_gb": disk, "bandwidth_mbps": bw, "flavor_name": flavor},
        )


def remove(apps, schema_editor):
    apps.get_model("owners", "SliceProfile").objects.filter(owner=None, name__in=[p[0] for p in PREDEFINED]).delete()


class Migration(migrations.Migration):
    dependencies = [("owners", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
