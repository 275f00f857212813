"""The compiled rating plan: pydantic models, compared by value, no positions inside.

This is what `ratecard compile` prints and what evaluation consumes. Money and
quantities are `Decimal` (serialised as strings). Rules carry a structural
`id` (`meter:LLM_TOKENS/rates/2`); where each rule was written (`file:line`) is
kept in `RatingPlan.origins`, outside the rules themselves, so a plan formatted
differently compiles to an equal model once `origins` is set aside.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Cycle = Literal["monthly", "quarterly", "annual"]
Rounding = Literal["half_up", "half_even"]
Cadence = Literal["month", "quarter", "year", "period"]
CYCLE_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "annual": 12}
CADENCE_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}


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


class Aggregation(Frozen):
    function: Literal["count", "sum", "max", "unique", "latest"]
    field: str | None = None


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


class Charge(Frozen):
    meter: str
    rates: RateCard | None = None  # None: priced by the meter's rate card


class Plan(Frozen):
    name: str
    title: str
    billing: Cycle = "monthly"
    payment_days: int = 30
    autopay: bool = False
    fees: tuple[Fee, ...] = ()
    charges: tuple[Charge, ...] = ()
    minimum: Decimal | None = None

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
