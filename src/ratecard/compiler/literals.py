"""Checked conversion of literals: money, dates, units, prices, enumerated words.

Each function returns the model value, or None after reporting why it could
not (wrong currency, negative amount, impossible date, unknown word...). The
callers build whatever they can so one run reports every problem.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable

from ..diagnostics import did_you_mean, error
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
    if m.currency is not None and m.currency.name != ctx.currency:
        ctx.report(error(
            "E301",
            f"{what} is in {m.currency.name}, but this project bills in {ctx.currency}",
            m.span,
            hints=[f"write the amount in {ctx.currency}, or set `currency {m.currency.name}` for the project"],
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
    return m.amount if ok else None


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
    return num.value


def date(ctx: Context, lit: n.DateLit, what: str) -> dt.date | None:
    if lit.is_timestamp:
        ctx.report(error("E307", f"{what} takes a date (YYYY-MM-DD), not a timestamp", lit.span))
        return None
    try:
        return dt.date.fromisoformat(lit.raw)
    except ValueError:
        ctx.report(error("E307", f"`{lit.raw}` is not a calendar date", lit.span))
        return None


def instant(ctx: Context, lit: n.DateLit, what: str) -> dt.datetime | None:
    """A timestamp (converted to UTC) or a date, meaning the end of that day."""
    try:
        if lit.is_timestamp:
            return dt.datetime.fromisoformat(lit.raw).astimezone(dt.timezone.utc)
        day = dt.date.fromisoformat(lit.raw)
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    except ValueError:
        ctx.report(error("E307", f"`{lit.raw}` is not a valid {what}", lit.span))
    except OverflowError:  # 9999-12-31 (its end is in year 10000), or UTC conversion past it
        ctx.report(error("E307", f"`{lit.raw}` is out of range for {what}", lit.span))
    return None


def value_text(ctx: Context, value: n.Value) -> str:
    if isinstance(value, n.Str):
        return value.value
    if value.suffix:
        ctx.report(error("E308", "`K`/`M` suffixes are not allowed in dimension values", value.span))
    return value.raw.replace("_", "")


def condition(ctx: Context, c: n.Condition) -> Condition:
    return Condition(key=c.key.name, op=c.op, values=tuple(value_text(ctx, v) for v in c.values))


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
        return TieredPrice(kind=rhs.mode, unit=unit(ctx, rhs.per, card_unit), tiers=tiers)
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
