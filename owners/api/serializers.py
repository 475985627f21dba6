"""Input and output shapes of the owner API (the rules are the services')."""

from __future__ import annotations

from rest_framework import serializers


class StandbyPoolInputSerializer(serializers.Serializer):
    profile = serializers.IntegerField(min_value=1, help_text="Id of one of the offering's priced profiles.")
    image = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default="", help_text="Blank: the offering's first image."
    )
    size = serializers.IntegerField(min_value=0, max_value=64, help_text="Servers kept booted and idle (0 keeps none).")


class StandbyServerCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    building = serializers.IntegerField()
    standby = serializers.IntegerField(help_text="Booted, wiped and idle: ready for a renter.")
    wiping = serializers.IntegerField(help_text="Being rebuilt after a renter, for the pool.")


class StandbyPoolSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    profile = serializers.IntegerField(source="profile_id")
    profile_name = serializers.CharField(source="profile.name")
    image = serializers.CharField()
    size = serializers.IntegerField()
    servers = StandbyServerCountsSerializer(source="server_counts", help_text="The pool's servers now, by state.")
    updated_at = serializers.DateTimeField()


class CapacitySerializer(serializers.Serializer):
    vcpus = serializers.IntegerField()
    ram_mib = serializers.IntegerField()
    disk_gb = serializers.IntegerField()
    bandwidth_mbps = serializers.IntegerField()


class OfferingStandbySerializer(serializers.Serializer):
    offering = serializers.IntegerField()
    capacity = CapacitySerializer()
    held_back = CapacitySerializer(help_text="What the standby servers hold back from sale.")
    sellable = CapacitySerializer(help_text="Capacity minus what is held back: what the market sells.")
    pools = StandbyPoolSerializer(many=True)
