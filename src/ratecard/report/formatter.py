"""Money, numbers, units and dates as an invoice's reader writes them (Babel).

Every figure a rendered document prints goes through `Formatter`, for the
document's currency and locale: invoices, the credits ledger and `diff`
share it, so one amount reads the same in each. `compact_unit` and
`expiry_text` are the two phrasings of units and expiry times they share.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval
from babel.numbers import format_currency, format_decimal, get_currency_name, parse_pattern

from ..money import exact_text
from .defaults import DEFAULT_LOCALE


def parse_locale(text: str) -> str:
    """A locale identifier Babel knows (`en_US`, `de-DE`), normalised; ValueError otherwise."""
    try:
        return str(Locale.parse(text.replace("-", "_")))
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValueError(f"unknown locale `{text}` (try en_US, en_GB, de_DE, fr_FR, ja_JP)") from None


class Formatter:
    """Money, numbers and dates for one currency and locale, all through Babel.

    Each distinct value is formatted once: Babel takes tens of microseconds per
    call, and a large run prints the same prices, amounts, counts and dates on
    thousands of lines. Values are remembered by their exact text (`1.0` and
    `1` print differently), up to `KEPT` of each kind. Babel is handed the
    parsed `Locale` (and parsed number patterns), not their names: a name is
    parsed again on every call, a third of the cost of a value not seen yet.
    """

    KEPT = 100_000

    def __init__(self, currency: str, locale: str = DEFAULT_LOCALE):
        self.currency = currency
        self.locale = parse_locale(locale)
        self._locale = Locale.parse(self.locale)  # what Babel is given (`locale` stays the name)
        self._seen: defaultdict[str, dict] = defaultdict(dict)
        self._money = self._seen["money"]
        self._quantities = self._seen["quantity"]

    def _once(self, kind: str, key, make) -> str:
        seen = self._seen[kind]
        found = seen.get(key)
        if found is None:
            if len(seen) >= self.KEPT:
                seen.clear()
            found = seen[key] = make()
        return found

    def money(self, amount: Decimal) -> str:
        """An amount in the currency's minor units: `$1,234.50`, `¥1,235`, `-$200.00`."""
        key = str(amount)
        found = self._money.get(key)  # the most asked for: looked up here, without `_once`'s call
        if found is None:
            found = self._once("money", key, lambda: format_currency(
                _no_negative_zero(amount), self.currency, locale=self._locale))
        return found

    def price(self, amount: Decimal) -> str:
        """A unit price or an exact share: at least the minor units, every digit it has."""
        return self._once("price", str(amount), lambda: format_currency(
            _no_negative_zero(amount), self.currency, locale=self._locale, decimal_quantization=False))

    def number(self, value: Decimal) -> str:
        """A quantity with grouping and every digit it has: what was billed, never rounded
        for display (41.499999987 stays 41.499999987)."""
        return self._once("number", str(value), lambda: format_decimal(
            value, locale=self._locale, decimal_quantization=False))

    def quantity(self, value: Decimal | Fraction) -> str:
        """A line's exact quantity (`Line.exact_quantity`): a decimal as `number`, a share
        without a finite decimal expansion as its fraction (`7/30`); see `money.exact_text`."""
        key = (type(value), str(value))
        found = self._quantities.get(key)
        if found is None:
            found = self._once("quantity", key, lambda: self._quantity(value))
        return found

    def _quantity(self, value: Decimal | Fraction) -> str:
        if isinstance(value, Decimal):
            sign, digits, exponent = value.as_tuple()
            if isinstance(exponent, int) and exponent < 0 and digits[-1] == 0:
                # the places it was given on purpose (a weighted quantity's 9), kept
                return self._once("places", str(value), lambda: format_decimal(
                    value, format=_places_pattern(-exponent), locale=self._locale))
            return self.number(value)
        text = exact_text(value)
        if "/" not in text:
            return self.number(Decimal(text))
        return f"{self.number(Decimal(value.numerator))}/{self.number(Decimal(value.denominator))}"

    def date(self, day: dt.date) -> str:
        return self._once("date", day, lambda: format_date(day, format="medium", locale=self._locale))

    def days(self, first: dt.date, last: dt.date) -> str:
        """An inclusive range of days, as the locale writes it: `Jan 1 – Mar 31, 2026`."""
        return self._once("days", (first, last), lambda: format_interval(
            first, max(first, last), "yMMMd", locale=self._locale))

    def currency_name(self) -> str:
        return self._once("currency_name", self.currency, lambda: get_currency_name(
            self.currency, locale=self._locale))


@functools.lru_cache(maxsize=64)
def _places_pattern(places: int):
    """The number pattern that writes `places` decimal places, parsed once (`format_decimal`
    parses a pattern given as text on every call)."""
    return parse_pattern("#,##0." + "0" * places)


def _no_negative_zero(amount: Decimal) -> Decimal:
    return amount.copy_abs() if amount.is_zero() else amount


_SIZED_UNIT = re.compile(r"^(\d+) (.+)$")


@functools.lru_cache(maxsize=4096)  # a run has few units, on every line
def compact_unit(label: str) -> str:
    """`1000000 requests` -> `1M requests`, `1000 calls` -> `1K calls`, as prices are written."""
    m = _SIZED_UNIT.match(label)
    if not m:
        return label
    size = int(m.group(1))
    for factor, suffix in ((1_000_000, "M"), (1_000, "K")):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{suffix} {m.group(2)}"
    return label


def expiry_text(expires: dt.datetime, fmt: Formatter) -> str:
    """An exclusive UTC expiry as people say it: `at the end of Dec 31, 2026` for a
    midnight (how `expires 2026-12-31` is stored), else the date and the UTC time, with
    the fraction of a second when it has one (`00:00:00.000001` is not midnight: shown as
    `00:00:00`, a grant that pays the period starting then read as expired before it)."""
    exp = expires.astimezone(dt.UTC)
    if exp.time() == dt.time(0, 0):
        return f"at the end of {fmt.date(exp.date() - dt.timedelta(days=1))}"
    fraction = f".{exp.microsecond:06d}".rstrip("0") if exp.microsecond else ""
    return f"{fmt.date(exp.date())}, {exp:%H:%M:%S}{fraction} UTC"
