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
