"""Market-specific refusals (all map to HTTP statuses through marketplace.lib.api)."""

from __future__ import annotations

from marketplace.lib.errors import ConflictError, DomainError


class SliceTaken(ConflictError):
    """The capacity the request needed was claimed first by someone else. HTTP 409."""

    code = "slice_taken"


class QuoteExpired(ConflictError):
    """The quote is no longer valid; ``extra['quote']`` carries a fresh one. HTTP 409."""

    code = "quote_expired"


class BiddingClosed(ConflictError):
    code = "bidding_closed"


class OfferingNotSelling(ConflictError):
    code = "offering_not_selling"


class NobodyCouldLogIn(DomainError):
    """The booking would give a server nobody can log into (no SSH key on file, no user-data). HTTP 400."""

    code = "no_login"


class ExtensionUnavailable(ConflictError):
    """An extension cannot be granted in full (capacity after the booking, the availability windows or
    the offering's longest request); ``longest_seconds`` is the longest that could be (0: none). HTTP 409."""

    code = "extension_unavailable"

    def __init__(self, message: str, *, longest_seconds: int):
        super().__init__(message, field="duration", extra={"longest_seconds": longest_seconds})
        self.longest_seconds = longest_seconds


class NotExtendable(ConflictError):
    """This booking cannot be extended at all, whatever the length (auction slices; a profile the
    offering no longer sells the same way). HTTP 409."""

    code = "not_extendable"
