from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    display_name = serializers.CharField()
    handle = serializers.CharField(help_text="The public handle other users see instead of the email.")
    is_owner = serializers.BooleanField()
    is_renter = serializers.BooleanField()
    timezone = serializers.CharField(
        source="time_zone_name",
        help_text="The zone the portal shows times in (UTC until chosen); the API always uses UTC.",
    )


class MeView(APIView):
    """Who the token or session belongs to: a quick check that an API token works."""

    serializer_class = MeSerializer

    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)
