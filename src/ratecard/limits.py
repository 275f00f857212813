"""The range of every number and date a pricing project may state.

The compiler checks each value where it enters (a `.pricing` literal, a JSON
contract field) against these bounds and reports a diagnostic naming the
place; nothing downstream then has to guard against a value it accepted.
They are chosen so that, for anything inside them:

- every date a bill derives stays a valid date: period ends (a year after the
  last date at most), due dates (period end + payment terms), a credit's end;
- every amount is computed in `money.EXACT` (60 significant digits) without
  overflow: a quantity below 10^20 (what the usage stage reads, DECIMAL(38, 18))
  times a price below 10^12 is below 10^32, leaving room for the modifiers
  before a line's amount reaches the 58 integer digits a rounded amount can hold;
- they are far wider than any real contract needs (docs/language.md, "Bounds").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

# dates: every `starts`, `ends`, `from`, `until`, `granted`, `expires`, test date
FIRST_DATE = dt.date(1970, 1, 1)
LAST_DATE = dt.date(2999, 12, 31)
# instants (a credit's `expires`): from the first day's start to the last day's end
FIRST_INSTANT = dt.datetime.combine(FIRST_DATE, dt.time(), tzinfo=dt.timezone.utc)
LAST_INSTANT = dt.datetime.combine(LAST_DATE + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)

# `payment net N`, `paymentTermsDays`: up to ten years
MAX_PAYMENT_DAYS = 3650

# amounts of money (prices, tier prices and flat amounts, fees, minimums, credits)
MONEY_INTEGER_DIGITS = 12  # below 10^12: a trillion in the currency's units
MONEY_DECIMALS = 12  # e.g. $0.000000000023 per byte

# quantities stated in the language (`per` sizes, package sizes, tier bounds,
# test usage): what a usage quantity may be, DECIMAL(38, 18)
QUANTITY_INTEGER_DIGITS = 20
QUANTITY_DECIMALS = 18
# An operand of `*` or `/` in a derived quantity: whole numbers of 10**-9 (usage.rows.FACTOR_SCALE).
FACTOR_DECIMALS = 9

# percentages of a modifier: `N% off` up to 100, `N% up` up to 1000 (x11)
MAX_PERCENT_UP = Decimal(1000)
PERCENT_DECIMALS = 6


def digits(value: Decimal) -> tuple[int, int]:
    """(integer digits, decimal places) of a finite decimal as written: 120.50 -> (3, 2),
    0.001 -> (0, 3). Trailing zeros after the point count, as written (`$1.500`: 3)."""
    integer = value.adjusted() + 1 if value and value.adjusted() >= 0 else 0
    return integer, max(0, -value.as_tuple().exponent)


def within(value: Decimal, integer_digits: int, decimals: int) -> bool:
    """A finite decimal with at most `integer_digits` before the point and `decimals` after."""
    if not value.is_finite():
        return False
    integer, places = digits(value)
    return integer <= integer_digits and places <= decimals


# Part 2 (LANGUAGE.md): `billing ... on day D`, a credit's `priority N`, a discount's
# `for N periods` -- whole numbers. A priority or a period count beyond a million
# says nothing a smaller one does not (there are 12,360 monthly periods in range).
FIRST_BILLING_DAY, LAST_BILLING_DAY = 1, 31
MAX_PRIORITY = 1_000_000
MAX_DISCOUNT_PERIODS = 1_000_000
