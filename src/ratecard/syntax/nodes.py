"""The syntax tree: value nodes that keep every span, built once from Lark's parse.

Nodes are never changed after the parser builds them, but they are not
`frozen` dataclasses: a frozen dataclass sets each field through
`object.__setattr__`, a cost paid for every node of every file (figures:
docs/scale.md, "Histories: syntax and compiler"). They hash and compare by value, as frozen
ones would (`unsafe_hash`), so nothing that keys on them changes.

Nothing after `syntax.parser` touches `lark.Tree`. These nodes keep what the
user wrote (raw number text, statement order, comments) because two consumers
need it: the compiler, to point diagnostics at the right characters, and `fmt`,
to print the file back canonically without losing anything the user meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Union

from ..diagnostics import Span
from .leaves import DateLit, Description, Ident, Money, Num, Str, Value


# ----------------------------------------------------------------- rules and prices


@dataclass(slots=True, unsafe_hash=True)
class Per:
    """`per 1K tokens` / `per call`: count is None when no number was written (per 1)."""

    count: Num | None
    unit: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Condition:
    key: Ident
    op: str  # "=", "!=", "in", "not in"
    values: tuple[Value, ...]
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class UnitPrice:
    money: Money
    per: Per | None
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Tier:
    bound: Num | None  # None for `above`
    price: Money
    flat: Money | None
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class TieredPrice:
    mode: str  # "graduated" | "volume"
    per: Per | None
    tiers: tuple[Tier, ...]
    span: Span
    pooled: bool = False  # `pooled graduated`: tiers filled by the charge's total over its lines


@dataclass(slots=True, unsafe_hash=True)
class PackagePrice:
    money: Money
    size: Num
    unit: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Modifier:
    percent: Decimal
    raw: str
    direction: str  # "off" | "up"
    span: Span


Price = Union[UnitPrice, TieredPrice, PackagePrice]
Rhs = Union[UnitPrice, TieredPrice, PackagePrice, Modifier]


@dataclass(slots=True, unsafe_hash=True)
class Rule:
    """`conditions : price-or-modifier`; `is_default` for the `default` keyword."""

    conditions: tuple[Condition, ...]
    is_default: bool
    rhs: Rhs
    span: Span
    lhs_span: Span


@dataclass(slots=True, unsafe_hash=True)
class Effective:
    """`from DATE [until DATE]`: the dates a rate applies (until is exclusive)."""

    start: DateLit | None
    until: DateLit | None
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class RateSpec:
    """What follows a `charge`/`override` name: one inline rule or a block of rules.

    An inline spec (`: $0.01 per call`, `: 20% off`) is a single unconditioned rule,
    stored with `inline=True` so `fmt` prints it back on one line.
    """

    inline: bool
    per: Per | None
    effective: Effective | None
    rules: tuple[Rule, ...]
    span: Span


# ----------------------------------------------------------------- statements


@dataclass(slots=True, unsafe_hash=True)
class Title:
    text: Str
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Event:
    name: Str
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Aggregation:
    """`count`, `sum F`, `sum a - b` (an `expression` that is not a bare property),
    `weighted F per month` (`function` "weighted", `per` the time unit)."""

    function: str  # count | sum | max | unique | latest | weighted
    field: Ident | None
    span: Span
    expression: "Expr | None" = None
    per: Ident | None = None


@dataclass(slots=True, unsafe_hash=True)
class DimensionDecl:
    name: Ident
    values: tuple[Value, ...] | None  # a known value set: `model in ("a", "b")`
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Dimensions:
    items: tuple[DimensionDecl, ...]
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Where:
    conditions: tuple[Condition, ...]
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Rates:
    per: Per | None
    effective: Effective | None
    rules: tuple[Rule, ...]
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Billing:
    cycle: Ident
    span: Span
    day: Num | None = None  # `on day D`: calendar-aligned periods


@dataclass(slots=True, unsafe_hash=True)
class Payment:
    days: Num
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Autopay:
    setting: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Fee:
    label: Str
    amount: Money
    cadence: Ident | None
    span: Span
    advance: Span | None = None  # where `in advance` is written, when it is


@dataclass(slots=True, unsafe_hash=True)
class Charge:
    meter: Ident
    spec: RateSpec | None
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Minimum:
    amount: Money
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Customer:
    id: Str
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class PlanRef:
    name: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Starts:
    date: DateLit
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Ends:
    date: DateLit
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Assignment:
    key: Ident
    value: Value
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class ContractDimensions:
    items: tuple[Assignment, ...]
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Override:
    meter: Ident
    spec: RateSpec
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class CreditPrice:
    amount: Money
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Granted:
    date: DateLit
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Expires:
    date: DateLit
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Credit:
    amount: Money
    body: tuple[Union[Description, CreditPrice, Granted, Expires], ...] | None
    span: Span


# ----------------------------------------------------------------- test blocks


@dataclass(slots=True, unsafe_hash=True)
class TestContract:
    name: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class TestInlineContract:
    body: tuple  # contract statements
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Usage:
    meter: Ident
    dimensions: tuple[Assignment, ...]
    quantity: Num
    at: DateLit
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Through:
    date: DateLit
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Expect:
    """`expect total|subtotal|credits applied|due|invoices|line ... [period DATE]`.

    `period` (not for `invoices`) narrows the expectation to the usage invoice
    whose billing period contains that date.
    """

    what: str  # total | subtotal | credits | due | invoices | line
    money: Money | None = None
    date: DateLit | None = None
    count: Num | None = None
    meter: Ident | None = None
    dimensions: tuple[Assignment, ...] = ()
    span: Span | None = None
    period: DateLit | None = None


# ----------------------------------------------------------------- top level


@dataclass(slots=True, unsafe_hash=True)
class CurrencyDecl:
    code: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class RoundingDecl:
    mode: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class GraceDecl:
    """`grace 2 days`: an ended period is issued into the ledger this long after it ends."""

    days: Num
    unit: Ident
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class NumberingDecl:
    """`numbering invoices "INV-{n:06}"`: the number format of one ledger document series."""

    series: Ident
    format: Str
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class MeterBlock:
    name: Ident
    body: tuple
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class PlanBlock:
    name: Ident
    body: tuple
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class ContractBlock:
    name: Ident
    body: tuple
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class TestBlock:
    name: Str
    body: tuple
    span: Span


Item = Union[CurrencyDecl, RoundingDecl, GraceDecl, NumberingDecl, MeterBlock, PlanBlock, ContractBlock,
             TestBlock]


@dataclass(slots=True, unsafe_hash=True)
class Comment:
    text: str  # including the leading '#'
    line: int
    col: int


@dataclass(slots=True, unsafe_hash=True)
class SourceFile:
    """One parsed `.pricing` file: its items in order, and its comments for `fmt`."""

    path: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...]


# Part 2's statements live in their own module; they are nodes like these.
from .price_list_nodes import (  # noqa: E402  (Part 2 statements, re-exported: one namespace of nodes)
    Allowance,
    AppliesTo,
    Binary,
    Cap,
    Discount,
    DiscountTerm,
    Expr,
    ForPeriods,
    NumberTerm,
    Once,
    Parens,
    Percent,
    PlanChange,
    Priority,
    Property,
)
