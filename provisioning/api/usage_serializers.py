"""The shape of GET /api/v1/bookings/{id}/server/usage, for the OpenAPI schema (output only)."""

from __future__ import annotations

from rest_framework import serializers

FIGURE_HELP = "Null when unavailable: ``unavailable`` says why."


class UsageSampleSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    server = serializers.IntegerField(help_text="The server record (one booking's tenure of a cloud server).")
    kind = serializers.ChoiceField(
        choices=["start", "periodic", "final"],
        help_text="start: when the server became the renter's; final: just before it was wiped or handed on.",
    )
    active = serializers.BooleanField(help_text="The server was ACTIVE at this reading.")
    cpu_time_ns = serializers.IntegerField(allow_null=True, help_text="Cumulative CPU time of all vCPUs.")
    memory_mib = serializers.IntegerField(allow_null=True)
    disk_read_bytes = serializers.IntegerField(allow_null=True)
    disk_write_bytes = serializers.IntegerField(allow_null=True)
    net_rx_bytes = serializers.IntegerField(allow_null=True)
    net_tx_bytes = serializers.IntegerField(allow_null=True)


class UsageIntervalSerializer(serializers.Serializer):
    server = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    seconds = serializers.FloatField()
    active = serializers.BooleanField(help_text="ACTIVE at both ends of the interval.")
    restarted = serializers.BooleanField(help_text="A counter restarted (rebuild, resize): counted from zero.")
    cpu_time_ns = serializers.IntegerField(allow_null=True)
    cpu_seconds = serializers.FloatField(allow_null=True)
    cpu_load = serializers.FloatField(allow_null=True, help_text="CPU seconds per second (1.0: one vCPU busy).")
    memory_mib = serializers.IntegerField(allow_null=True, help_text="At the end of the interval.")
    disk_read_bytes = serializers.IntegerField(allow_null=True)
    disk_write_bytes = serializers.IntegerField(allow_null=True)
    net_rx_bytes = serializers.IntegerField(allow_null=True)
    net_tx_bytes = serializers.IntegerField(allow_null=True)


class UsageTotalsSerializer(serializers.Serializer):
    cpu_time_ns = serializers.IntegerField(allow_null=True, help_text=FIGURE_HELP)
    cpu_seconds = serializers.FloatField(allow_null=True, help_text=FIGURE_HELP)
    memory_mib_peak = serializers.IntegerField(allow_null=True, help_text=FIGURE_HELP)
    disk_read_bytes = serializers.IntegerField(allow_null=True, help_text=FIGURE_HELP)
    disk_write_bytes = serializers.IntegerField(allow_null=True, help_text=FIGURE_HELP)
    net_rx_bytes = serializers.IntegerField(allow_null=True, help_text=FIGURE_HELP)
    net_tx_bytes = serializers.IntegerField(allow_null=True, help_text=FIGURE_HELP)
    seconds_active = serializers.FloatField(help_text="Seconds between readings that both found the server ACTIVE.")
    seconds_metered = serializers.FloatField(help_text="Seconds from the first to the last reading.")
    samples = serializers.IntegerField()


class BookingUsageSerializer(serializers.Serializer):
    samples = UsageSampleSerializer(many=True, help_text="Cumulative readings, oldest first.")
    series = UsageIntervalSerializer(many=True, help_text="Growth between consecutive readings of a server.")
    totals = UsageTotalsSerializer(help_text="Growth from the first to the last reading, across counter restarts.")
    unavailable = serializers.DictField(
        child=serializers.CharField(),
        help_text="Figure name (a key of totals) -> why the cloud could not give it, e.g. it needs the admin role.",
    )
    seconds_held = serializers.IntegerField(help_text="Seconds the renter held a server within the slice (billed).")
