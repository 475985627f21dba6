"""Domain errors raised by services; one handler maps them to HTTP statuses."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the market refused the request. Maps to HTTP 400."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}


class ValidationFailed(DomainError):
    """Input that cannot be accepted as it is. ``errors`` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]):
        first = next(iter(errors.items()))
        super().__init__(f"{first[0]}: {first[1][0]}" if first[0] != "__all__" else first[1][0])
        self.errors = errors


class PermissionDeniedError(DomainError):
    status_code = 403
    code = "forbidden"


class NotFoundError(DomainError):
    status_code = 404
    code = "not_found"


class ConflictError(DomainError):
    """The request lost a race or contradicts the current state. HTTP 409."""

    status_code = 409
    code = "conflict"


class InvalidTransition(ConflictError):
    code = "invalid_transition"


class UpstreamError(Exception):
    """A service the market depends on (the payment provider, a cloud) refused or did not answer.

    Not a rule of the market (not a DomainError): services let it through to the caller, and the
    API answers ``status_code`` with ``api_code`` and ``public_message`` — never the remote's own
    words, which can name hosts and internals. Subclasses say which service and how it failed.
    """

    status_code = 502
    api_code = "upstream_error"
    public_message = "A service the market depends on failed; nothing was changed. Try again later."
