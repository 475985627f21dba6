from django.http import HttpRequest
from django.utils import timezone

# The navigation's sections, by the view that answered (namespace:url_name): the first prefix that
# matches wins. Pages under the account menu are "account"; their own menu link is marked by view name.
_SECTIONS = (
    ("home", "home"),
    ("renters:offering_", "offerings"),
    ("scheduling:slice", "slices"),
    ("scheduling:my_bookings", "bookings"),
    ("scheduling:booking_", "bookings"),
    ("provisioning:booking_", "bookings"),
    ("scheduling:owner_", "market"),
    ("owners:", "owner"),
    ("provisioning:offering_", "owner"),
    ("notifications:list", "notifications"),
    ("notifications:read", "notifications"),
)


def nav_section(request: HttpRequest) -> tuple[str, str]:
    """(section, view name) of the page: which navigation link says "you are here"."""
    match = getattr(request, "resolver_match", None)
    view = match.view_name if match is not None else ""
    if not view:
        return "", ""
    for prefix, section in _SECTIONS:
        if view == prefix or (prefix.endswith((":", "_")) and view.startswith(prefix)):
            return section, view
    return "account", view


def site(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated)
    section, view = nav_section(request)
    return {
        "site_name": "Slice Market",
        "is_owner": authenticated and getattr(user, "is_owner", False),
        "is_renter": authenticated and getattr(user, "is_renter", False),
        # The zone pages show times in (accounts.middleware.UserTimeZoneMiddleware activates the user's).
        "time_zone": timezone.get_current_timezone_name(),
        # The user has chosen none: static/js/timezone.js reports the browser's (once).
        "time_zone_unset": authenticated and not getattr(user, "timezone", "UTC"),
        # The navigation marks where the user is (templatetags/nav.py's {% current %}).
        "nav_section": section,
        "nav_view": view,
    }
