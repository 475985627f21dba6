from django.http import HttpRequest
from django.utils import timezone


def site(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated)
    return {
        "site_name": "Slice Market",
        "is_owner": authenticated and getattr(user, "is_owner", False),
        "is_renter": authenticated and getattr(user, "is_renter", False),
        # The zone pages show times in (accounts.middleware.UserTimeZoneMiddleware activates the user's).
        "time_zone": timezone.get_current_timezone_name(),
        # The user has chosen none: static/js/timezone.js reports the browser's (once).
        "time_zone_unset": authenticated and not getattr(user, "timezone", "UTC"),
    }
