"""The API's errors as exceptions: ``{"error": code, "detail": message, "fields": {...}?}`` in the body."""

from __future__ import annotations

from typing import Any


class SliceMarketError(Exception):
    """Anything this client raises."""


class TransportError(SliceMarketError):
    """The server could not be reached (after the retries allowed for the request)."""


class ApiError(SliceMarketError):
    """An answer of 400 or above. ``code`` is the API's stable error code (``invalid``, ``not_found``,
    ``extension_unavailable``, ``rate_limited``...); ``fields`` maps input fields to their messages."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, list[str]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.body = body

    def get(self, key: str, default: Any = None) -> Any:
        """An extra key of the error body (e.g. ``longest_seconds`` of a 409 ``extension_unavailable``)."""
        return self.body.get(key, default) if isinstance(self.body, dict) else default


class BadRequest(ApiError):
    """400: the input was refused; see ``fields``."""


class Unauthorized(ApiError):
    """401: no token, or a token that is invalid, expired or revoked."""


class Forbidden(ApiError):
    """403: the token's scopes or the user's role do not allow it."""


class NotFound(ApiError):
    """404: no such slice, booking or offering of yours."""


class Conflict(ApiError):
    """409: the slice is taken, the booking cannot change now, the extension is not free..."""


class RateLimited(ApiError):
    """429 still after the retries; ``retry_after`` is the seconds the server asked to wait."""

    @property
    def retry_after(self) -> float | None:
        value = self.get("retry_after")
        return float(value) if value is not None else None


class ServerError(ApiError):
    """5xx."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_for(status: int, body: Any, text: str = "") -> ApiError:
    """The exception for an error answer, from its JSON body (or its text when not JSON)."""
    if isinstance(body, dict):
        code = str(body.get("error") or "error")
        message = str(body.get("detail") or text or f"HTTP {status}")
        fields = body.get("fields") if isinstance(body.get("fields"), dict) else None
    else:
        code, message, fields = "error", (text.strip()[:500] or f"HTTP {status}"), None
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, code, message, fields, body)
