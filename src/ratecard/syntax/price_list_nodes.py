"""Syntax nodes of LANGUAGE.md "Part 2": price lists as companies publish them.

Derived quantities (an expression tree), calendar-aligned billing, spend caps,
allowances, `applies to` scopes, grant priorities, plan changes and discounts.
They are value nodes like those of `syntax.nodes` (which re-exports them, so
every consumer keeps writing `n.Discount`), kept apart so that each module
stays small. Like the others they keep what the user wrote (parentheses, raw
numbers) for `fmt`, and a span per part for the compiler's diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Union

from ..diagnostics import Span
from .leaves import DateLit, Description, Ident, Money, Num

# ----------------------------------------------------------------- derived quantities


@dataclass(slots=True, unsafe_hash=True)
class Property:
    """An event property read by a meter's expression (`prompt_tokens`)."""

    name: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class NumberTerm:
    """A number in a meter's expression (`1000` of `bytes / 1000`)."""

    num: Num
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Binary:
    """`left op right`, op one of + - * /."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Parens:
    """`( inner )`, kept so that `fmt` prints the parentheses the user wrote."""

    inner: "Expr"
    span: Span


Expr = Union[Property, NumberTerm, Binary, Parens]


# ----------------------------------------------------------------- plans and contracts


@dataclass(slots=True, unsafe_hash=True)
class Cap:
    """`cap $N`: per period, usage lines above N are brought down by a "Spend cap" line."""

    amount: Money
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class AppliesTo:
    """`applies to M1, M2` / `applies to fees`: the lines a discount, grant or allowance covers."""

    targets: tuple[Ident, ...]
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Allowance:
    """`allowance $10 per month { description "..."  applies to M }`: a free grant every period."""

    amount: Money
    cadence: Ident | None
    body: tuple[Union[Description, AppliesTo], ...] | None
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Priority:
    """`priority N` in a credit: lower burns first."""

    value: Num
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class PlanChange:
    """`plan NAME from DATE` in a contract: the contract is on plan NAME from DATE on."""

    name: Ident
    date: DateLit
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Percent:
    """`20%` of a discount (the value without the `%`)."""

    value: Decimal
    raw: str
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Once:
    """`once`: a discount for the contract's first period only."""

    span: Span


@dataclass(slots=True, unsafe_hash=True)
class ForPeriods:
    """`for N periods`: a discount for the contract's first N periods."""

    count: Num
    unit: Ident  # `periods` (or `period`), checked by the compiler
    span: Span


DiscountTerm = Union[Once, ForPeriods]


@dataclass(slots=True, unsafe_hash=True)
class Discount:
    """`discount 20% [once | for N periods] { description ... applies to ... for N periods }`
    or `discount $500 ...`: exactly one of `percent` and `money` is set. `term` is the one
    written after the amount; the block may state one too (the compiler allows one in all)."""

    percent: Percent | None
    money: Money | None
    term: DiscountTerm | None
    body: tuple[Union[Description, AppliesTo, Once, ForPeriods], ...] | None
    span: Span
