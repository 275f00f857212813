"""Exact money: one constructor of written decimals, currency minor units, the one rounding step.

Every amount is a `decimal.Decimal` computed in a local context wide enough
that nothing is rounded implicitly; `round_money` is the only place an amount
loses digits, once per invoice line, in the project's rounding mode.
"""

from __future__ import annotations

import decimal
import functools
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

from babel.numbers import get_currency_precision, list_currencies

# 60 significant digits: products like quantity x price / per never round.
EXACT = decimal.Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[decimal.InvalidOperation,
                                                                   decimal.DivisionByZero,
                                                                   decimal.Overflow])


def exact_arithmetic():
    """Every decimal operation inside runs in `EXACT`, not Python's 28-digit default.

    The pricer spells `EXACT` out where it multiplies and divides, but sums,
    subtractions and formatting (Babel quantizes in the current context) use
    whatever context is current: with amounts past 28 digits (a quantity near
    DECIMAL(38, 18)'s limit times a large price) the default would round a
    subtotal silently. The commands and `evaluate` run inside this.
    """
    return decimal.localcontext(EXACT)


_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}
ZERO = Decimal(0)


def D(value: str | int | Decimal) -> Decimal:
    """The one constructor of a number the user wrote: text or int (never a float) to
    Decimal, `_` digit separators dropped (`1_000`, `$0.000_5`): the parser builds every
    number, amount and percentage of a `.pricing` file with it."""
    if isinstance(value, float):  # pragma: no cover - a programming error, not user input
        raise TypeError("floats never become money")
    if isinstance(value, str):
        return Decimal(value.replace("_", ""))
    return Decimal(value)


@functools.lru_cache(maxsize=None)
def minor_units(currency: str) -> int:
    return get_currency_precision(currency)


@functools.lru_cache(maxsize=1)
def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str, mode: str) -> Decimal:
    """Round once, to the currency's minor unit, in the project's mode."""
    return amount.quantize(quantum(currency), rounding=_MODES[mode], context=EXACT)


def rounder(currency: str, mode: str):
    """`round_money` for one currency and mode, with the quantum and mode looked up
    once: the evaluator rounds every line of a run with it."""
    step, rounding = quantum(currency), _MODES[mode]

    def money(amount: Decimal) -> Decimal:
        return amount.quantize(step, rounding=rounding, context=EXACT)

    return money


def zero(currency: str) -> Decimal:
    return ZERO.quantize(quantum(currency))


def from_minor(units: int, currency: str) -> Decimal:
    """`creditGrantCents`-style integers to an amount (12000000 cents -> 120000.00)."""
    return (Decimal(units).scaleb(-minor_units(currency), context=EXACT)).quantize(quantum(currency))


def plain(value: Decimal) -> str:
    """A decimal as plain text: no exponent, no needless trailing zeros."""
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):f}"
    return f"{value.normalize(EXACT):f}"


def units(quantity: Decimal) -> str:
    """A quantity of units as a message says it: `1 unit`, `0 units`, `2.5 units`."""
    return f"{plain(quantity)} unit{'' if abs(quantity) == 1 else 's'}"


def exact_text(value: Decimal | Fraction) -> str:
    """A quantity exactly: `plain` for a decimal or a fraction with a finite decimal
    expansion (`1/4` -> `0.25`), else the reduced fraction (`7/30`): never a
    figure cut short that would multiply out to another amount."""
    if isinstance(value, Decimal):
        return plain(value)
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest == 1:
        return plain(EXACT.divide(Decimal(value.numerator), Decimal(value.denominator)))
    return f"{value.numerator}/{value.denominator}"

