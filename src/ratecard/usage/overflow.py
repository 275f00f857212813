"""A usage total past what the engines hold exactly: said as such, not as a broken file.

Every quantity is a DECIMAL(38, 18): at most 20 integer digits and 18 decimal
places (docs/usage.md). Each event's value is checked row by row (past it, a
bad row, E500), but good values can add up past it: the engine then stops the
query (DuckDB: `Overflow in SUM of DECIMAL`, `Overflow in HUGEINT addition`;
Spark in ANSI mode: `[ARITHMETIC_OVERFLOW]`), and nothing is billed, rightly.
That is not a file ratecard cannot read (E501): it is E506, and the files are
read once more (this is the failure path) to name the `sum` meters and the
customers whose values add up past the bound. A line is one meter of one
customer's contract in one period, so its running sum can only pass the bound
if the values of that meter and customer, above zero or below, add up past it.

A `weighted` meter's quantity is not summed by the engine: it is a value times
how long it held, integrated exactly in Python (`weighted`), and a value below
the bound held for a month of hours is past it (10^20 GB held 744 hours). Such a
line is held to the same bound and is E506 too (`weighted_past_bound`), named by
its meter, customer, contract and period, in every engine alike: billing checks
it before pricing, where every engine's weighted lines meet.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Sequence

from ..diagnostics import Diagnostic, error
from ..model import RatingPlan
from ..money import EXACT
from .row_reader import read_rows
from .rows import (QUANTITY_DIGITS, QUANTITY_SCALE, UnreadableFile, derived_value, needed_keys, parse_quantity,
                   row_problem, text_value)

INTEGER_DIGITS = QUANTITY_DIGITS - QUANTITY_SCALE  # 20
BOUND = Decimal(10) ** INTEGER_DIGITS
# what the bound is, in the words of both E506s
HOLDS = (f"the {INTEGER_DIGITS} integer digits and {QUANTITY_SCALE} decimal places a quantity holds "
         "exactly (DECIMAL(38, 18))")
SHOWN = 3  # (meter, customer) pairs named; the count of the others follows

# what DuckDB and Spark say when a DECIMAL sum passes DECIMAL(38): their own words, not any
# "overflow" (a usage file may be named `overflow.jsonl`, and its parse error is not one)
_OVERFLOW = re.compile(r"\bOverflow in |\[ARITHMETIC_OVERFLOW\]|\[NUMERIC_VALUE_OUT_OF_RANGE\b")


def is_overflow(message: str) -> bool:
    """Whether an engine's message is an arithmetic overflow (not a file it cannot read)."""
    return _OVERFLOW.search(message) is not None


def overflow_problem(plan: RatingPlan, files: Sequence[str], message: str) -> Diagnostic:
    """The E506 for a query the engine stopped with an overflow (`message`, its words),
    naming what the files' events add up to past the bound (`files`: local usage files;
    none for tables, whose rows cannot be read here)."""
    try:
        found = sums_past_bound(plan, files)
    except (OSError, ValueError, UnreadableFile):  # the files were read once already: not expected, not fatal here
        found = []
    holds = HOLDS
    larger = "sum QUANTITY / 1000"
    if not found:
        text = ("usage total past the exact range: the engine stopped on an overflow, as a sum of the usage "
                f"does past {holds}")
    else:
        named = "; ".join(f"the events of meter {meter} ({how}) for customer `{customer}` add up to "
                          f"{_text(total)}" for meter, how, customer, total in found[:SHOWN])
        more = f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        text = f"usage total past the exact range: {named}{more}, past {holds}"
        summed = found[0][1].removeprefix("sum ")  # `tokens`, `prompt_tokens - cached_tokens`
        larger = f"sum {summed} / 1000" if " " not in summed else f"sum ({summed}) / 1000"
    return error("E506", text, hints=[
        "ratecard never rounds a quantity: check the events' values and their unit (bytes sent where "
        f"gigabytes were meant?), or measure the meter in a larger unit (`{larger}`) and price it per "
        "that unit",
        f"the engine said: {_first_sentence(message)}"])


def weighted_past_bound(how: str, per: str, customer: str, where: str, quantity: Decimal) -> Diagnostic:
    """The E506 of a `weighted` line whose quantity is past the bound: `how` is the meter's
    aggregation (`weighted gigabytes per hour`), `where` the line in words (contract, meter,
    dimensions, period), `quantity` its integral, rounded once."""
    holds = f"{HOLDS}, as a `sum` meter's total does"
    larger = {"hour": "`per day` or `per month`", "day": "`per month`"}.get(per)
    unit = f"measure it {larger}, or " if larger else ""
    return error("E506", f"usage total past the exact range: {where} (customer `{customer}`) comes to "
                         f"{_text(quantity)} ({how}), past {holds}", hints=[
        "a weighted quantity is a value times how long it held, and ratecard never rounds it to fit: "
        f"check the reported values and their unit, or {unit}report the value in a larger unit and price "
        "it per that unit"])


def sums_past_bound(plan: RatingPlan, files: Sequence[str]) -> list[tuple[str, str, str, Decimal]]:
    """(meter, how it measures, customer, total) for each `sum` meter and customer whose
    events' values, those above zero or those below, add up to 10^20 or more in magnitude,
    in meter and customer order."""
    by_type: dict[str, list] = {}
    for m in plan.meters.values():
        if m.aggregation.function == "sum":
            by_type.setdefault(m.event, []).append(m)
    if not by_type:
        return []
    keys = needed_keys(plan)
    totals: dict[tuple[str, str], list[Decimal]] = {}  # (meter, customer) -> [above zero, below zero]
    for path in files:
        for _line, obj, _raw in read_rows(path):
            if isinstance(obj, str):
                continue
            problem, props = row_problem(obj, by_type, keys)
            if problem is not None:
                continue
            customer = text_value(obj["customer"])
            for meter in by_type.get(text_value(obj["type"]), ()):
                if not all(c.matches(props) for c in meter.where):
                    continue
                if meter.aggregation.expression is not None:
                    value = derived_value(meter, props)[0]
                else:
                    value = parse_quantity(props.get(meter.aggregation.field))
                if value:
                    sums = totals.setdefault((meter.name, customer), [Decimal(0), Decimal(0)])
                    sums[value < 0] = EXACT.add(sums[value < 0], value)
    found = []
    for (meter, customer), sums in sorted(totals.items()):
        past = [total for total in sums if abs(total) >= BOUND]
        if past:
            found.append((meter, plan.meters[meter].aggregation.text, customer, past[0]))
    return found


def _first_sentence(message: str) -> str:
    """Spark goes on to suggest `try_sum` or `spark.sql.ansi.enabled` false: a NULL or a
    wrapped sum, billed. Only what happened is repeated."""
    head, stop, _ = message.partition(". ")
    return head + "." if stop else message


def _text(total: Decimal) -> str:
    return format(EXACT.normalize(total), "f")
