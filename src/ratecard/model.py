"""The compiled rating plan: pydantic models, compared by value, no positions inside.

This is what `ratecard compile` prints and what evaluation consumes. Money and
quantities are `Decimal` (serialised as strings). Rules carry a structural
`id` (`meter:LLM_TOKENS/rates/2`); where each rule was written (`file:line`) is
kept in `RatingPlan.origins`, outside the rules themselves, so a plan formatted
differently compiles to an equal model once `origins` is set aside.

The fields of LANGUAGE.md "Part 2" (derived and time-weighted quantities,
pooled tiers, calendar-aligned billing, fees in advance, caps, allowances,
discounts, plan changes, grant scopes and priorities) are `part2` fields: left
out of the JSON while unset, so a plan that uses none of them compiles to the
JSON it always did. Money is `Decimal` in the project's currency (never cents),
dates are `datetime.date`, and `applies_to` lists name meters or `fees`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import BaseModel, ConfigDict, Field

Cycle = Literal["monthly", "quarterly", "annual"]
Rounding = Literal["half_up", "half_even"]
Cadence = Literal["month", "quarter", "year", "period"]
CYCLE_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "annual": 12}
CADENCE_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
TimeUnit = Literal["month", "day", "hour"]
FEES = "fees"  # in `applies_to`: the plan's fee lines (every other entry names a meter)


def part2(default: Any, description: str) -> Any:
    """A field of Part 2: described in the schema, left out of the JSON while it is `default`."""
    return Field(default, description=description, exclude_if=lambda value: value == default)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ----------------------------------------------------------------- conditions


class Condition(Frozen):
    """`key op values`. Values are text: event properties are compared as text."""

    key: str
    op: Literal["=", "!=", "in", "not in"]
    values: tuple[str, ...]

    def matches(self, attrs: dict[str, str]) -> bool:
        value = attrs.get(self.key)
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        return value is None or value not in self.values

    @property
    def positive(self) -> bool:
        return self.op in ("=", "in")


# ----------------------------------------------------------------- prices


class Unit(Frozen):
    """`per 1K tokens`: prices are for `size` units of the meter's quantity."""

    size: Decimal = Decimal(1)
    name: str = "unit"

    def label(self) -> str:
        if self.size == 1:
            return self.name
        return f"{_compact(self.size)} {self.name}"


def _compact(value: Decimal) -> str:
    if value >= 1_000_000 and value % 1_000_000 == 0:
        return f"{value // 1_000_000}M"
    if value >= 1000 and value % 1000 == 0:
        return f"{value // 1000}K"
    return f"{value.normalize():f}"


class UnitPrice(Frozen):
    kind: Literal["unit"] = "unit"
    amount: Decimal
    unit: Unit


class Tier(Frozen):
    up_to: Decimal | None  # None: above the previous bound (the last tier)
    amount: Decimal  # per `unit`
    flat: Decimal = Decimal(0)


class TieredPrice(Frozen):
    kind: Literal["graduated", "volume"]
    unit: Unit
    tiers: tuple[Tier, ...]
    pooled: bool = part2(False, "`pooled graduated|volume`: the tiers are filled by the sum of the charge's "
                                "quantities over all its lines of the period (those this same rule prices); "
                                "the total amount is shared among the lines in proportion to their quantities")


class PackagePrice(Frozen):
    kind: Literal["package"] = "package"
    amount: Decimal
    size: Decimal
    unit_name: str


Price = Annotated[Union[UnitPrice, TieredPrice, PackagePrice], Field(discriminator="kind")]


class Modifier(Frozen):
    """`20% off` (factor 0.80) or `10% up` (factor 1.10)."""

    kind: Literal["modifier"] = "modifier"
    percent: Decimal
    direction: Literal["off", "up"]

    @property
    def factor(self) -> Decimal:
        sign = -1 if self.direction == "off" else 1
        return (Decimal(100) + sign * self.percent) / Decimal(100)


Action = Annotated[Union[UnitPrice, TieredPrice, PackagePrice, Modifier], Field(discriminator="kind")]


class Rule(Frozen):
    """One line of a rate card: conditions -> price or modifier.

    `specificity` is the number of conditions; `default` rules have -1 so that
    a rule with no conditions written as `: $1` (specificity 0) still beats it.
    """

    id: str
    conditions: tuple[Condition, ...] = ()
    is_default: bool = False
    action: Action
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    @property
    def specificity(self) -> int:
        return -1 if self.is_default else len(self.conditions)

    @property
    def is_modifier(self) -> bool:
        return isinstance(self.action, Modifier)

    def matches(self, attrs: dict[str, str]) -> bool:
        return all(c.matches(attrs) for c in self.conditions)


class RateCard(Frozen):
    """An ordered set of rules in one layer (meter, plan charge or contract override)."""

    unit: Unit
    rules: tuple[Rule, ...] = ()


# ----------------------------------------------------------------- meters


class Property(Frozen):
    """An event property in a derived quantity; its value must be a number."""

    kind: Literal["property"] = "property"
    name: str


class Number(Frozen):
    """A number in a derived quantity, exact."""

    kind: Literal["number"] = "number"
    value: Decimal


class Operation(Frozen):
    """`left op right`; `/` by a literal zero is a compile error (E312)."""

    kind: Literal["operation"] = "operation"
    op: Literal["+", "-", "*", "/"]
    left: "Expression"
    right: "Expression"


Expression = Annotated[Union[Property, Number, Operation], Field(discriminator="kind")]


def expression_properties(expr: "Expression") -> tuple[str, ...]:
    """The properties an expression reads, each once, in the order written."""
    if isinstance(expr, Property):
        return (expr.name,)
    if isinstance(expr, Operation):
        return tuple(dict.fromkeys(expression_properties(expr.left) + expression_properties(expr.right)))
    return ()


def expression_text(expr: "Expression") -> str:
    """A derived quantity as the language writes it, with only the parentheses its meaning
    needs (`a - (b - c)`, `(a + b) * c`), for `explain`, hovers and messages."""
    if isinstance(expr, Property):
        return expr.name
    if isinstance(expr, Number):
        return format(expr.value, "f")
    rank = {"+": 1, "-": 1, "*": 2, "/": 2}

    def side(e: "Expression", right: bool) -> str:
        text = expression_text(e)
        if not isinstance(e, Operation):
            return text
        lower = rank[e.op] < rank[expr.op] or (right and rank[e.op] == rank[expr.op] and expr.op in "-/")
        return f"({text})" if lower else text
    return f"{side(expr.left, False)} {expr.op} {side(expr.right, True)}"


def evaluate_expression(expr: "Expression", values: Mapping[str, Decimal]) -> Decimal:
    """The exact value of `expr` for one event's numeric properties (call it inside
    `money.exact_arithmetic()`). Raises KeyError for a missing property and
    ZeroDivisionError (decimal.DivisionByZero, decimal.InvalidOperation for 0/0) for a
    division by zero: both make the event a bad row, never a zero (LANGUAGE.md Part 2)."""
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Property):
        return values[expr.name]
    left = evaluate_expression(expr.left, values)
    right = evaluate_expression(expr.right, values)
    if expr.op == "+":
        return left + right
    if expr.op == "-":
        return left - right
    if expr.op == "*":
        return left * right
    if right == 0:
        raise ZeroDivisionError("division by zero")
    return left / right


class Aggregation(Frozen):
    function: Literal["count", "sum", "max", "unique", "latest", "weighted"]
    field: str | None = None  # the property of `sum F`, `max F`, `unique F`, `latest F`, `weighted F`
    expression: Expression | None = part2(
        None, "a derived quantity (`sum prompt_tokens - cached_tokens`): evaluated exactly per event; set "
              "instead of `field` when the quantity is not a bare property (sum, max and latest only)")
    per: TimeUnit | None = part2(
        None, "`weighted` only: the quantity is the integral of `field` over time in F-months (each instant "
              "divided by the length of its calendar month), F-days or F-hours")

    @property
    def text(self) -> str:
        """How the meter measures, as written: `count`, `sum tokens`, `sum prompt_tokens - cached_tokens`."""
        if self.expression is not None:
            return f"{self.function} {expression_text(self.expression)}"
        if self.per is not None:
            return f"{self.function} {self.field} per {self.per}"
        return self.function if self.field is None else f"{self.function} {self.field}"


class Dimension(Frozen):
    name: str
    values: tuple[str, ...] | None = None  # a declared, closed value set


class Meter(Frozen):
    name: str
    title: str
    event: str
    aggregation: Aggregation
    dimensions: tuple[Dimension, ...] = ()
    where: tuple[Condition, ...] = ()
    rates: RateCard | None = None

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)


# ----------------------------------------------------------------- plans


class Fee(Frozen):
    name: str
    amount: Decimal
    cadence: Cadence = "period"
    in_advance: bool = part2(False, "`in advance`: billed on the invoice issued at the start of the period it "
                                    "pays for (the first on an invoice dated `starts`), not in arrears")


class Charge(Frozen):
    meter: str
    rates: RateCard | None = None  # None: priced by the meter's rate card


class Allowance(Frozen):
    """`allowance $10 per month { ... }`: a free grant made for every period, active in that
    period only, burning before every other grant; what it does not use is not breakage."""

    id: str = Field(description="`plan:<plan>/allowance/<n>`, the key of its origin")
    amount: Decimal = Field(description="money per `cadence` (scaled by months in the period, like fees)")
    cadence: Cadence = Field("period", description="`per month|quarter|year`; bare: per period")
    description: str = ""
    applies_to: tuple[str, ...] = Field((), description="meter names and/or `fees`; empty: every line")


class Plan(Frozen):
    name: str
    title: str
    billing: Cycle = "monthly"
    payment_days: int = 30
    autopay: bool = False
    fees: tuple[Fee, ...] = ()
    charges: tuple[Charge, ...] = ()
    minimum: Decimal | None = None
    billing_day: int | None = part2(None, "`billing ... on day D` (1..31): periods start on day D of the month "
                                          "(clamped to the month's end); the stretch from `starts` to the first "
                                          "such day is a short first period")
    cap: Decimal | None = part2(None, "`cap $N`: per period (prorated like fees on a short period), usage "
                                      "lines above N are brought down by one negative \"Spend cap\" line")
    allowances: tuple[Allowance, ...] = part2((), "`allowance` statements, in the order written")

    def charge(self, meter: str) -> Charge | None:
        for c in self.charges:
            if c.meter == meter:
                return c
        return None


# ----------------------------------------------------------------- contracts


class CreditGrant(Frozen):
    id: str  # "<contract>/credit/<n>"
    amount: Decimal
    description: str = ""
    price: Decimal | None = None  # invoiced on `granted` when set
    granted: dt.date
    expires: dt.datetime | None = None  # exclusive, UTC
    priority: int | None = part2(None, "`priority N` (N >= 0): lower burns first; then soonest expiry, then "
                                       "earliest grant, then contract order; grants without one burn last")
    applies_to: tuple[str, ...] = part2((), "`applies to`: the lines the grant pays, meter names and/or `fees`; "
                                            "empty: every usage, fee and minimum line")


class Discount(Frozen):
    """`discount N% {...}` or `discount $N`: a negative line on each invoice it covers, computed on
    the usage and fee lines it applies to (never the minimum true-up), rounded once."""

    id: str = Field(description="`contract:<contract>/discount/<n>`, the key of its origin")
    percent: Decimal | None = Field(None, description="`N%`: 0 < N <= 100, of the covered lines' amounts")
    amount: Decimal | None = Field(None, description="`$N`: money per covered invoice; never takes an invoice "
                                                     "below zero, what it cannot use is lost (reported)")
    description: str = ""
    applies_to: tuple[str, ...] = Field((), description="meter names and/or `fees`; empty: every usage and "
                                                        "fee line")
    periods: int | None = Field(None, description="the contract's first N periods (`once`: 1); None: every "
                                                  "period")


class PlanChange(Frozen):
    """`plan NAME from DATE`: the contract is on `plan` from `effective` (inclusive) on. The
    invoice of the period containing the date carries both plans' lines, each for its part."""

    plan: str
    effective: dt.date
    minimum: Decimal | None = Field(None, description="the minimum from `effective` on: the contract's own, "
                                                      "else the new plan's")
    cap: Decimal | None = Field(None, description="the cap from `effective` on: the contract's own, else the "
                                                  "new plan's")


class Contract(Frozen):
    """One customer on one plan; terms already resolved against the plan."""

    name: str
    customer: str
    plan: str
    starts: dt.date
    ends: dt.date | None = None  # inclusive
    dimensions: dict[str, str] = Field(default_factory=dict)
    billing: Cycle
    payment_days: int
    autopay: bool
    overrides: dict[str, RateCard] = Field(default_factory=dict)
    minimum: Decimal | None = None
    credits: tuple[CreditGrant, ...] = ()
    source: Literal["pricing", "json"] = "pricing"
    billing_day: int | None = part2(None, "`on day D` of the contract's `billing` statement, else the plan's")
    cap: Decimal | None = part2(None, "the contract's `cap`, else its plan's (per period)")
    discounts: tuple[Discount, ...] = part2((), "`discount` statements, in the order written")
    plan_changes: tuple[PlanChange, ...] = part2((), "`plan NAME from DATE`, in date order (all after `starts`, "
                                                     "at most one a day); `plan` is the plan before the first")

    @property
    def end_exclusive(self) -> dt.date | None:
        return None if self.ends is None else self.ends + dt.timedelta(days=1)


# ----------------------------------------------------------------- the plan


class RatingPlan(Frozen):
    currency: str = "USD"
    rounding: Rounding = "half_up"
    meters: dict[str, Meter] = Field(default_factory=dict)
    plans: dict[str, Plan] = Field(default_factory=dict)
    contracts: dict[str, Contract] = Field(default_factory=dict)
    origins: dict[str, str] = Field(
        default_factory=dict,
        description="rule or grant id -> 'file:line' where it was written (for explain)",
    )

    def without_origins(self) -> dict:
        """The plan compared by value: what it prices, not where it was written."""
        return self.model_dump(mode="json", exclude={"origins"})

    def with_contracts(self, contracts: list[Contract]) -> "RatingPlan":
        merged = dict(self.contracts)
        for c in contracts:
            merged[c.name] = c
        return self.model_copy(update={"contracts": dict(sorted(merged.items()))})


# ----------------------------------------------------------------- issuing (the ledger)


class Issuing(Frozen):
    """How `ratecard issue` finalizes invoices into the ledger (docs/ledger.md).

    Not part of `RatingPlan`: these settings decide when a document is issued
    and under what number, never what it bills, so they are kept out of the
    compiled model (`ratecard compile`, `diff` and the fingerprints compare
    what is billed)."""

    grace_days: int = 0  # an ended period waits this long for late usage
    invoices: str = "INV-{n:06}"  # usage, credit purchase and adjustment invoices
    credit_notes: str = "CN-{n:06}"
