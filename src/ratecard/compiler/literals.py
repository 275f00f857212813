"""Checked conversion of literals: money, dates, units, prices, enumerated words.

Each function returns the model value, or None after reporting why it could
not (wrong currency, negative amount, impossible date, unknown word...). The
callers build whatever they can so one run reports every problem.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Iterable

from .. import limits
from ..diagnostics import Span, did_you_mean, error
from ..money import known_currencies
from ..model import (
    Condition,
    Modifier,
    PackagePrice,
    Tier,
    TieredPrice,
    Unit,
    UnitPrice,
)
from ..syntax import nodes as n
from .context import Context


_CODE = re.compile(r"[A-Z]{3}")  # an ISO 4217 code's shape


def word(ctx: Context, ident: n.Ident, allowed: Iterable[str], what: str) -> str | None:
    allowed = tuple(allowed)
    if ident.name in allowed:
        return ident.name
    guess = did_you_mean(ident.name, allowed)
    hints = [f"did you mean `{guess}`?"] if guess else []
    hints.append("one of: " + ", ".join(f"`{a}`" for a in allowed))
    ctx.report(error("E300", f"unknown {what} `{ident.name}`", ident.span, hints=hints))
    return None


def money(ctx: Context, m: n.Money, what: str = "amount", allow_negative: bool = False) -> Decimal | None:
    ok = True
    code = m.currency.name if m.currency is not None else None
    if code is not None and not _CODE.fullmatch(code) and code.upper() not in known_currencies():
        # `fee "x" : 250 per` + a new line: `per` read as a currency (the parser's E107, where
        # the next word ends the statement and nothing stops the parse)
        number = m.raw.split()[0]
        ctx.report(error("E107", f"amount `{number}` without a currency", Span.point(m.span.file, m.span.line,
                                                                                      m.span.col, len(number)),
                         hints=[f"write `${number}` in the project's currency, or the ISO code after the "
                                f"number: `{number} EUR`"]))
        ok = False
    elif code is not None and code != ctx.currency:
        hint = (f"currency codes are written in capitals: `{m.raw.split()[0]} {code.upper()}`"
                if code.upper() in known_currencies() and code != code.upper() else
                f"write the amount in {ctx.currency}, or set `currency {code}` for the project")
        ctx.report(error(
            "E301",
            f"{what} is in {code}, but this project bills in {ctx.currency}",
            m.span,
            hints=[hint],
        ))
        ok = False
    if any(ch in m.raw.split()[0] for ch in "KM"):
        ctx.report(error("E308", "`K`/`M` suffixes are for quantities, not money", m.span,
                         hints=["write the amount in full, e.g. `$1_000`"]))
        ok = False
    if m.amount < 0 and not allow_negative:
        ctx.report(error("E302", f"negative {what} `{m.raw}`", m.span,
                         hints=["a discount is written as a modifier, e.g. `20% off`"]))
        ok = False
    if ok and not in_range(ctx, m.amount, m.raw, m.span, what, limits.MONEY_INTEGER_DIGITS,
                           limits.MONEY_DECIMALS, "an amount"):
        ok = False
    return m.amount if ok else None


def in_range(ctx: Context, value: Decimal, raw: str, span: Span, what: str, integer_digits: int,
             decimals: int, kind: str) -> bool:
    """E311 unless `value` has at most `integer_digits` digits before the point and
    `decimals` after (`limits`): bounded where it enters, nothing downstream overflows."""
    if limits.within(value, integer_digits, decimals):
        return True
    ctx.report(error("E311", f"{what} `{raw}` is out of range: {kind} has at most {integer_digits} "
                             f"digits before the decimal point and {decimals} after", span))
    return False


def plain_number(ctx: Context, num: n.Num, what: str, *, integer: bool = False,
                 positive: bool = False, allow_suffix: bool = False) -> Decimal | None:
    if num.suffix and not allow_suffix:
        ctx.report(error("E308", f"`{num.suffix}` suffix is not allowed in {what}", num.span))
        return None
    if integer and num.value != num.value.to_integral_value():
        ctx.report(error("E309", f"{what} must be a whole number, not `{num.raw}`", num.span))
        return None
    if positive and num.value <= 0:
        ctx.report(error("E309", f"{what} must be greater than zero, not `{num.raw}`", num.span))
        return None
    if num.value < 0:
        ctx.report(error("E309", f"{what} cannot be negative: `{num.raw}`", num.span))
        return None
    if not in_range(ctx, num.value, num.raw, num.span, what, limits.QUANTITY_INTEGER_DIGITS,
                    limits.QUANTITY_DECIMALS, "a quantity"):
        return None
    return num.value


def days(ctx: Context, num: n.Num, what: str) -> int | None:
    """Whole days from 0 to `limits.MAX_PAYMENT_DAYS` (E311 beyond)."""
    value = plain_number(ctx, num, what, integer=True)
    if value is None:
        return None
    if value > limits.MAX_PAYMENT_DAYS:
        ctx.report(error("E311", f"{what} `{num.raw}` is out of range: at most "
                                 f"{limits.MAX_PAYMENT_DAYS} days (ten years)", num.span))
        return None
    return int(value)


_OPEN_ENDED = {"`ends`": "a contract without an end", "`until`": "a price without an end",
               "expiry": "a grant that does not expire"}


def _date_range(ctx: Context, lit: n.DateLit, what: str) -> None:
    hints = [f"dates run from {limits.FIRST_DATE} to {limits.LAST_DATE}"]
    if what in _OPEN_ENDED:
        hints.append(f"leave out {what} for {_OPEN_ENDED[what]}")
    ctx.report(error("E307", f"`{lit.raw}` is out of range for {what}", lit.span, hints=hints))


def date(ctx: Context, lit: n.DateLit, what: str) -> dt.date | None:
    if lit.is_timestamp:
        ctx.report(error("E307", f"{what} takes a date (YYYY-MM-DD), not a timestamp", lit.span))
        return None
    try:
        day = dt.date.fromisoformat(lit.raw)
    except ValueError:
        ctx.report(error("E307", f"`{lit.raw}` is not a calendar date", lit.span))
        return None
    if not limits.FIRST_DATE <= day <= limits.LAST_DATE:
        _date_range(ctx, lit, what)
        return None
    return day


_FRACTION = re.compile(r"[Tt ]\d\d:\d\d:\d\d[.,](\d+)")


def _finer_than_microseconds(raw: str) -> bool:
    """Whether a timestamp's fraction has non-zero digits past the sixth, which
    `datetime.fromisoformat` drops."""
    found = _FRACTION.search(raw)
    return bool(found) and found.group(1)[6:].strip("0") != ""


def instant(ctx: Context, lit: n.DateLit, what: str) -> dt.datetime | None:
    """A timestamp (converted to UTC) or a date, meaning the end of that day.

    An instant is an exclusive end (a grant is active over `[granted, expires)`), held to
    the microsecond: digits beyond it round the instant **up**, never cut it. Rounding up
    keeps `expires > b` true for exactly the microsecond instants `b` (period starts) the
    written one is after; cutting made a grant expiring a nanosecond into a period miss
    that period (docs/language.md, "`expires`")."""
    try:
        if lit.is_timestamp:
            # `t` and `z` are `T` and `Z` (RFC 3339 section 5.6), which fromisoformat wants
            found = dt.datetime.fromisoformat(lit.raw.upper())
            if found.tzinfo is None:  # (JSON contracts: a time without an offset is UTC)
                found = found.replace(tzinfo=dt.timezone.utc)
            if _finer_than_microseconds(lit.raw):
                found += dt.timedelta(microseconds=1)
        else:
            day = dt.date.fromisoformat(lit.raw)
            if not limits.FIRST_DATE <= day <= limits.LAST_DATE:
                _date_range(ctx, lit, what)
                return None
            found = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    except ValueError:
        ctx.report(error("E307", f"`{lit.raw}` is not a valid {what}", lit.span))
        return None
    # aware datetimes compare without conversion: nothing overflows before the check
    if not limits.FIRST_INSTANT <= found <= limits.LAST_INSTANT:
        _date_range(ctx, lit, what)
        return None
    return found.astimezone(dt.timezone.utc)


def value_text(ctx: Context, value: n.Value, key: str, absent: str) -> str:
    """A dimension value as text (conditions, declared values, contract dimensions,
    test lines). `""` is E318: usage that gives a property as the empty string has
    no value for it, in every format (docs/usage.md, "An empty text is absent"), so
    no condition, declaration or test can name it; `absent` is the hint saying how
    to write what was meant."""
    if isinstance(value, n.Str):
        if value.value == "":
            ctx.report(error("E318", f"`\"\"` is not a value of `{key}`: a usage property given as an empty "
                                     "text is absent, in every format", value.span, hints=[absent]))
        return value.value
    if value.suffix:
        ctx.report(error("E308", "`K`/`M` suffixes are not allowed in dimension values", value.span))
    return value.raw.replace("_", "")


def condition(ctx: Context, c: n.Condition) -> Condition:
    key = c.key.name
    absent = (f"usage without `{key}` matches `{key} != \"...\"` and `{key} not in (...)`, and a rule "
              f"with no condition on `{key}` (`default`) prices it")
    return Condition(key=key, op=c.op, values=tuple(value_text(ctx, v, key, absent) for v in c.values))


def unit(ctx: Context, per: n.Per | None, fallback: Unit) -> Unit:
    if per is None:
        return fallback
    size = Decimal(1)
    if per.count is not None:
        size = plain_number(ctx, per.count, "a `per` quantity", positive=True, allow_suffix=True) or Decimal(1)
    return Unit(size=size, name=per.unit.name)


def action(ctx: Context, rhs: n.Rhs, card_unit: Unit, what: str):
    """A rule's right-hand side: a price (in its own unit or the card's) or a modifier."""
    if isinstance(rhs, n.Modifier):
        if rhs.percent < 0:
            ctx.report(error("E310", f"negative percentage `{rhs.raw}`", rhs.span,
                             hints=["write `N% up` to raise a price, `N% off` to lower it"]))
            return None
        if rhs.direction == "off" and rhs.percent > 100:
            ctx.report(error("E310", f"`{rhs.raw} off` would make the price negative", rhs.span))
            return None
        if rhs.percent > limits.MAX_PERCENT_UP or not limits.within(rhs.percent, 4, limits.PERCENT_DECIMALS):
            ctx.report(error("E310", f"`{rhs.raw} {rhs.direction}` is out of range: a percentage is at most "
                                     f"{limits.MAX_PERCENT_UP} with at most {limits.PERCENT_DECIMALS} "
                                     "decimal places", rhs.span))
            return None
        return Modifier(percent=rhs.percent, direction=rhs.direction)
    if isinstance(rhs, n.UnitPrice):
        amount = money(ctx, rhs.money, f"{what} price")
        if amount is None:
            return None
        return UnitPrice(amount=amount, unit=unit(ctx, rhs.per, card_unit))
    if isinstance(rhs, n.PackagePrice):
        amount = money(ctx, rhs.money, f"{what} package price")
        size = plain_number(ctx, rhs.size, "a package size", positive=True, allow_suffix=True)
        if amount is None or size is None:
            return None
        return PackagePrice(amount=amount, size=size, unit_name=rhs.unit.name)
    if isinstance(rhs, n.TieredPrice):
        tiers = tiers_of(ctx, rhs)
        if tiers is None:
            return None
        return TieredPrice(kind=rhs.mode, unit=unit(ctx, rhs.per, card_unit), tiers=tiers, pooled=rhs.pooled)
    raise TypeError(rhs)


def tiers_of(ctx: Context, price: n.TieredPrice) -> tuple[Tier, ...] | None:
    tiers: list[Tier] = []
    ok = True
    previous: n.Tier | None = None
    for i, t in enumerate(price.tiers):
        amount = money(ctx, t.price, "tier price")
        flat = money(ctx, t.flat, "flat amount") if t.flat is not None else Decimal(0)
        if amount is None or flat is None:
            ok = False
        if previous is not None and previous.bound is None:
            ctx.report(error("E304", "a tier after `above`: `above` must be the last tier", t.span,
                             hints=["move this tier before `above`"]))
            ok = False
        bound = None
        if t.bound is not None:
            bound = plain_number(ctx, t.bound, "a tier bound", positive=True, allow_suffix=True)
            if bound is None:
                ok = False
            elif previous is not None and previous.bound is not None and bound <= previous.bound.value:
                ctx.report(error(
                    "E303",
                    f"tiers out of order: `up to {t.bound.raw}` does not come after "
                    f"`up to {previous.bound.raw}`",
                    t.bound.span,
                    hints=["tier bounds are cumulative and must increase: "
                           "`up to 100`, then `up to 1000`, then `above`"],
                ))
                ok = False
        tiers.append(Tier(up_to=bound, amount=amount or Decimal(0), flat=flat or Decimal(0)))
        previous = t
    return tuple(tiers) if ok else None
