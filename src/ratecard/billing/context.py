"""What pricing a contract needs, worked out once per billing run.

The run (`run.py`) works out the periods, the segments and the usage
aggregates once; line building (`lines.py`) and a contract's invoices
(`invoices.py`) read them from one `RunContext` instead of a dozen
parameters each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Mapping, Sequence

from ..diagnostics import Span
from ..model import Contract, Plan, RatingPlan
from ..usage.records import Aggregate
from .engine_rating import EnginePrices
from .periods import Period
from .pricer import Pricer
from .segments import Segment

# contract -> (invoice kind, period start) -> (grant id, amount): credit draws made final already
# (the ledger's). The kind tells the opening invoice (`advance`, dated `starts`) from the first
# period's, which starts the same day.
Drawn = Mapping[str, Mapping[tuple[str, dt.date], Sequence[tuple[str, Decimal]]]]


@dataclass
class RunContext:
    """Everything pricing a contract needs, worked out once per run."""

    plan: RatingPlan
    through: dt.date
    pricer: Pricer
    contract_periods: dict[str, list[Period]]
    splits: dict[str, dict[str, tuple[Segment, ...]]]  # period key -> meter -> its segments
    by_window: dict[str, list[Aggregate]]
    money: Callable[[Decimal], Decimal]  # an exact amount rounded once, to the currency's minor unit
    keep_priced: bool  # a `PricedLine` per usage line: for explain, views, or the sink
    drawn: Drawn = field(default_factory=dict)  # credit draws made final already, by contract
    engine: EnginePrices | None = None  # the prices the usage engine priced lines with, if it did
    # model id -> where it was written (`Compiled.spans`): where E502 and E503 are fixed (`places.py`)
    spans: Mapping[str, Span] = field(default_factory=dict)

    def plan_of(self, contract: Contract) -> Plan:
        return self.plan.plans[contract.plan]
