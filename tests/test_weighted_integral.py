"""The time-weighted integral (`usage.weighted`, part2-decisions section 2), exact: the oracle's
arithmetic, which the engines' pieces must match (billed end to end: tests/test_weighted_billing.py,
tests/test_weighted_engines.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from ratecard.usage.weighted import Report, integral, line_quantity, round_half_even

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


JAN, FEB, MAR = at("2026-01-01"), at("2026-02-01"), at("2026-03-01")


def test_the_conformance_next_storage_figures():
    # ../shared/conformance-next n01: logs 620 GB all month; media 930 GB from Jan 11
    logs = [Report(at("2026-01-01"), "r1", Decimal(620))]
    media = [Report(at("2026-01-11"), "r2", Decimal(930))]
    assert line_quantity(logs, JAN, FEB, "month") == Decimal("620")
    assert line_quantity(media, JAN, FEB, "month") == Decimal("630")  # 930 x 21/31
    # February: both values carry over from January's reports
    assert line_quantity(logs, FEB, MAR, "month") + line_quantity(media, FEB, MAR, "month") == Decimal(1550)


@given(st.integers(1, 9999), st.integers(2000, 2100), st.integers(1, 12),
       st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_one_value_held_a_whole_month_is_that_value_in_gb_months(day_before, year, month, value):
    start = dt.datetime(year, month, 1, tzinfo=UTC)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    reported = start - dt.timedelta(days=day_before % 40)  # at the month's start or in an earlier month
    assert integral([Report(reported, "r", value)], start, end, "month") == Fraction(value)


def test_per_day_and_per_hour_and_a_mid_month_period():
    reports = [Report(at("2026-01-15"), "a", Decimal(31 * 28))]
    # Jan 15 - Feb 15: 17 days of January (/31) + 14 days of February (/28)
    assert integral(reports, at("2026-01-15"), at("2026-02-15"), "month") == Fraction(28 * 17 + 31 * 14)
    assert integral(reports, at("2026-01-15"), at("2026-01-16"), "day") == 31 * 28
    assert integral(reports, at("2026-01-15"), at("2026-01-15T01:30:00"), "hour") == Fraction(3, 2) * 31 * 28


def test_the_greater_id_holds_at_one_instant_and_file_order_does_not_matter():
    t = at("2026-02-10")
    a, b = Report(t, "rep-00060", Decimal(100)), Report(t, "rep-00060b", Decimal(400))
    for reports in ([a, b], [b, a]):
        assert integral(reports, FEB, MAR, "month") == Fraction(400 * 19, 28)


def test_before_the_first_report_the_last_earlier_value_else_zero():
    reports = [Report(at("2025-12-20"), "old", Decimal(10)), Report(at("2026-01-16T12:00:00"), "new", Decimal(40))]
    # 10 for 15.5 days, then 40 for 15.5 days, of 31
    assert integral(reports, JAN, FEB, "month") == Fraction(10 * 31, 62) + Fraction(40 * 31, 62)
    assert integral(reports[1:], JAN, FEB, "month") == Fraction(40 * 31, 62)


def test_which_lines_exist():
    emptied = [Report(at("2026-01-10"), "a", Decimal(5)), Report(at("2026-02-20"), "b", Decimal(0))]
    assert line_quantity(emptied, MAR, at("2026-04-01"), "month") is None  # held 0 all March, no report
    assert line_quantity(emptied, FEB, MAR, "month") == round_half_even(Fraction(5 * 19, 28))
    zero = [Report(at("2026-03-05"), "z", Decimal(0))]
    assert line_quantity(zero, MAR, at("2026-04-01"), "month") == Decimal(0)  # a report of 0 gives a line


def test_rounded_once_half_even_to_nine_places():
    assert round_half_even(Fraction(1, 3)) == Decimal("0.333333333")
    assert round_half_even(Fraction(5, 10 ** 10)) == Decimal("0E-9")  # half to even: 0
    assert round_half_even(Fraction(15, 10 ** 10)) == Decimal("2E-9")
    assert round_half_even(Fraction(-15, 10 ** 10)) == Decimal("-2E-9")
    assert round_half_even(Fraction(930 * 21, 31)) == Decimal("630.000000000")
