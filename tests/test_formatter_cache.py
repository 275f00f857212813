"""`Formatter` remembers each figure it formats, per currency and locale, and hands Babel the
parsed locale and patterns (report.formatter): what it prints is Babel's own text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.numbers import format_currency, format_decimal

from ratecard.report.formatter import Formatter


def test_two_currencies_and_locales_never_share_a_figure():
    usd, eur_de, jpy_ja, usd_de = Formatter("USD"), Formatter("EUR", "de_DE"), Formatter("JPY", "ja_JP"), \
        Formatter("USD", "de_DE")
    amount = Decimal("1234.50")
    for _ in range(2):  # the second time from what each remembered
        assert usd.money(amount) == "$1,234.50"
        assert eur_de.money(amount) == "1.234,50\xa0€"
        assert jpy_ja.money(amount) == format_currency(amount, "JPY", locale="ja_JP")
        assert usd_de.money(amount) == "1.234,50\xa0$"
        assert usd.number(Decimal("1234.5")) == "1,234.5" and eur_de.number(Decimal("1234.5")) == "1.234,5"
        assert usd.date(dt.date(2026, 5, 16)) == "May 16, 2026" and eur_de.date(dt.date(2026, 5, 16)) == "16.05.2026"


def test_places_kept_are_babels_for_each_count_of_places():
    usd, de = Formatter("USD"), Formatter("EUR", "de_DE")
    for text in ("1.50", "1234.500000000", "0.10", "-7.0"):
        value = Decimal(text)
        places = -value.as_tuple().exponent
        for fmt, locale in ((usd, "en_US"), (de, "de_DE")):
            assert fmt.quantity(value) == format_decimal(value, format="#,##0." + "0" * places, locale=locale)


def test_figures_match_babel_given_the_locale_by_name():
    for currency, locale in (("USD", "en_US"), ("EUR", "fr_FR"), ("INR", "en_IN"), ("CHF", "de_CH")):
        fmt = Formatter(currency, locale)
        for text in ("0", "-0.00", "12345678.91", "-200", "0.0001"):
            value = Decimal(text)
            expected_money = format_currency(value.copy_abs() if value.is_zero() else value, currency, locale=locale)
            assert fmt.money(value) == expected_money
            assert fmt.number(value) == format_decimal(value, locale=locale, decimal_quantization=False)
