"""Per-request middleware of accounts: the staff's second factor for the admin, the user's time zone.

Staff reach the admin only with a second factor (issue 14 item 4).

A signed-in staff member without an active TOTP authenticator (allauth.mfa) who opens any admin page
is sent to set one up first, with a message saying why; the admin works once it is on. The admin's
own login page is allauth's (marketplace.urls), so logging in as staff asks for the code, and the
login is rate-limited like every other.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from urllib.parse import urlencode

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from marketplace.lib.api import is_api_path

STAFF_MFA_MESSAGE = "Staff need two-factor authentication for the admin: set it up to continue."


def staff_needs_mfa(user: object) -> bool:
    """A staff member without an active second factor (TOTP) while the rule is on."""
    if not getattr(settings, "MARKETPLACE_STAFF_MFA_REQUIRED", True):
        return False
    if not (getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False)):
        return False
    return not is_mfa_enabled(user, [Authenticator.Type.TOTP])  # type: ignore[arg-type]


class StaffMfaRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        admin_root = reverse("admin:index")
        if (
            request.path_info.startswith(admin_root)
            and request.path_info != reverse("admin:logout")
            and staff_needs_mfa(getattr(request, "user", None))
        ):
            messages.warning(request, STAFF_MFA_MESSAGE)
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('mfa_activate_totp')}?{query}")
        return self.get_response(request)


class UserTimeZoneMiddleware:
    """Portal pages show and read times in the signed-in user's zone (``User.timezone``; UTC while
    none is chosen). Under /api/ the zone is never activated: the API answers in UTC whoever asks.

    After AuthenticationMiddleware. Django's forms then read a typed date and time in this zone, and
    templates' ``date`` filter shows aware datetimes in it; base.html names the zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        name = getattr(user, "timezone", "") if getattr(user, "is_authenticated", False) else ""
        if name and not is_api_path(request):
            try:
                zone = zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                zone = None  # a zone the system no longer knows: UTC rather than an error page
            if zone is not None:
                timezone.activate(zone)
                try:
                    return self.get_response(request)
                finally:
                    timezone.deactivate()
        timezone.deactivate()
        return self.get_response(request)
