"""Answers of the booking-server endpoints (documented in the OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers


class ServerAddressOut(serializers.Serializer):
    network = serializers.CharField()
    addr = serializers.CharField()
    version = serializers.IntegerField()


class BookingServerOut(serializers.Serializer):
    state = serializers.CharField(help_text="The server's state; `none` before it is launched.")
    ready = serializers.BooleanField(help_text="The server is ACTIVE: connect now.")
    name = serializers.CharField(required=False)
    addresses = ServerAddressOut(many=True, required=False)
    ssh = serializers.CharField(required=False, help_text="The command to connect, empty without an address.")
    keypair = serializers.CharField(required=False)
    security_group = serializers.CharField(required=False)
    isolation_note = serializers.CharField(required=False)
    error = serializers.CharField(required=False)
    flavor = serializers.CharField(required=False)
    image = serializers.CharField(required=False)
    ssh_cidrs = serializers.ListField(child=serializers.CharField(), help_text="The SSH sources let in.")
    has_user_data = serializers.BooleanField(required=False, help_text="Renter and staff only.")
    console = serializers.URLField(required=False, help_text="Renter and staff only: the console log's URL.")


class ConsoleOut(serializers.Serializer):
    available = serializers.BooleanField()
    output = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True, help_text="Why there is no output, when there is none.")
