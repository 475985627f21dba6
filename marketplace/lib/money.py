"""Money as integer minor units with a 3-letter currency.

Fractions appear only when converting a rate; that conversion happens in
``prorate`` with explicit half-up rounding, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 exponents for the currencies we accept; anything else is refused.
CURRENCY_EXPONENTS: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0, "SEK": 2}
CURRENCY_CHOICES = [(code, code) for code in CURRENCY_EXPONENTS]


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError as exc:
        raise MoneyError(f"unsupported currency {currency!r}") from exc


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int):
            raise MoneyError("money amounts are whole minor units")
        exponent(self.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

    def major(self) -> Decimal:
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def __str__(self) -> str:
        return f"{self.major():.{exponent(self.currency)}f} {self.currency}"


def to_minor(value: str | int | float | Decimal, currency: str) -> int:
    """Convert a major-unit amount (e.g. "0.50" USD) to minor units, refusing sub-minor precision."""
    try:
        dec = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"{value!r} is not an amount") from exc
    if not dec.is_finite():
        raise MoneyError(f"{value!r} is not an amount")
    if dec and dec.adjusted() >= 15:  # 1e999999999 would overflow (or build a billion-digit int)
        raise MoneyError(f"{value} {currency} is too large an amount")
    scaled = dec.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{value} {currency} has more than {exponent(currency)} decimal places")
    return int(scaled)


def format_minor(amount: int, currency: str) -> str:
    return str(Money(amount, currency))


def prorate(amount: int, numerator: int, denominator: int) -> int:
    """amount * numerator / denominator in minor units, rounded half up. The one rounding point."""
    if denominator <= 0:
        raise MoneyError("denominator must be positive")
    result = (Decimal(amount) * Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(result)


def rate_for_seconds(amount_per_unit: int, unit_seconds: int, seconds: int) -> int:
    """A per-``unit_seconds`` rate restated per ``seconds``, in minor units, rounded half up.

    The one place a rate is converted between time units: an offering's grid change (the price
    per second is kept: 2 cents per 1 min is 10 cents per 5 min) and a price per hour shown
    beside a price per grid unit both come from here.
    """
    if unit_seconds <= 0 or seconds <= 0:
        raise MoneyError("time units must be positive")
    return prorate(amount_per_unit, seconds, unit_seconds)


def format_major(amount: int, currency: str) -> str:
    """A person's reading of an amount: thousands separated, e.g. "1,000.00 EUR"."""
    places = exponent(currency)
    return f"{Money(amount, currency).major():,.{places}f} {currency}"
