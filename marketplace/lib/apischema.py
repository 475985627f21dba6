"""The OpenAPI schema (/api/v1/schema) behind login unless MARKETPLACE_API_SCHEMA_PUBLIC is on.

Signed in (browser session or token) it answers with the API's default permissions (a token needs
its ``read`` scope); anonymous callers get the API's 401. The setting is read per request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings


class ApiSchemaView(SpectacularAPIView):
    def get_permissions(self) -> list[Any]:
        if getattr(settings, "MARKETPLACE_API_SCHEMA_PUBLIC", False):
            return [AllowAny()]
        return [permission() for permission in api_settings.DEFAULT_PERMISSION_CLASSES]
