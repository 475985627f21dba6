from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated)
    return {
        "site_name": "Slice Market",
        "is_owner": authenticated and getattr(user, "is_owner", False),
        "is_renter": authenticated and getattr(user, "is_renter", False),
    }
