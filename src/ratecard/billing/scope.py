"""What a billing run covers: the contract terms and the billable windows.

`terms_and_windows(plan, through)` is the part of `evaluate` that decides,
before any usage is read, which contract periods have ended by `through`
and where an effective-dated rate change splits a period into segments.
A plan change strictly inside a period (`plan NAME from DATE`) cuts it into
plan parts (`periods.plan_parts`): each part is a window of its own (a
period window, `meter=None`), so every meter's usage -- a `max` or `unique`
too -- is aggregated per part, split at the change's instant, and rate
changes split a part, not the whole period. The contract terms are one per stretch of
the contract's time over which the same meters are billable (`contract_terms`): the usage
stage bills an event when the plan in effect at its time charges its meter, and reports
it `not_in_plan` otherwise, so a change to a plan that charges other meters bills each
plan's meters in its own stretch only.
The usage stage aggregates per window; `ratecard sql` prints those same
windows into a warehouse query, and `--aggregates` checks a precomputed
result against them, so all three must agree with `evaluate` exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from .. import rules
from ..model import Contract, RatingPlan
from ..usage.records import ContractTerm, Window
from .periods import Period, contract_on, midnight, periods, plan_parts, plan_stretches
from .segments import SPLIT_AGGREGATIONS, Segment, changes, split, within


def terms_and_windows(plan: RatingPlan, through: dt.date) -> tuple[list[ContractTerm], list[Window]]:
    """The contract terms and the windows (periods, then segments) a run bills."""
    terms, windows, _, _ = scope(plan, through)
    return terms, windows


def scope(plan: RatingPlan, through: dt.date, changes_of=None, segments_of: str | None = None):
    """(terms, windows, periods by contract, segments by period key and meter).

    `changes_of(contract, meter)` gives the dated rate changes of a contract's
    meter; the evaluator passes its pricer's cached one so the layers of ten
    thousand contracts are not worked out twice.

    With `segments_of` (a contract's name), only that contract's periods are
    split into segments: the terms and period windows are still every
    contract's (every event is classified against them), but a usage stage
    that aggregates that contract alone (`--contract`) joins no other's
    segments, and working out ten thousand contracts' rate changes was a
    tenth of such a run.
    """
    if changes_of is None:
        def changes_of(contract: Contract, meter: str):
            return changes(rules.layers_for(plan, contract, meter))
    contracts = sorted(plan.contracts.values(), key=lambda c: c.name)
    contract_periods: dict[str, list[Period]] = {c.name: periods(c, through) for c in contracts}
    # each period's parts (itself, unless a plan change falls inside it): one window each
    parts = {c.name: [part for p in contract_periods[c.name] for part in plan_parts(c, p)] for c in contracts}
    windows = [Window(p.key, c.name, midnight(p.start), midnight(p.end))
               for c in contracts for p in parts[c.name]]
    splits: dict[str, dict[str, tuple[Segment, ...]]] = {}
    for c in contracts if segments_of is None else [c for c in contracts if c.name == segments_of]:
        for p in parts[c.name]:
            on_plan = contract_on(c, p)
            for meter in _charged_meters(plan, on_plan):
                if meter.aggregation.function not in SPLIT_AGGREGATIONS:
                    continue
                inside = within(changes_of(on_plan, meter.name), p.start, p.end)
                if inside:
                    segments = split(p, meter.name, inside)
                    splits.setdefault(p.key, {})[meter.name] = segments
                    windows.extend(Window(s.key, c.name, midnight(s.start), midnight(s.end), meter.name)
                                   for s in segments)
    terms = [term for c in contracts for term in contract_terms(plan, c)]
    return terms, windows, contract_periods, splits


def contract_terms(plan: RatingPlan, contract: Contract) -> list[ContractTerm]:
    """The contract's terms: one per stretch of its time over which the same meters are
    billable. An event is billable when the plan in effect at its time charges one of its
    meters, so a change to a plan that charges other meters starts a new term; a change
    between plans that charge the same meters bills the same events and keeps one term
    (the usage query, and the fingerprint of its precomputed results, stay as they were)."""
    terms: list[ContractTerm] = []
    for start, end, name in plan_stretches(contract):
        meters = tuple(dict.fromkeys(ch.meter for ch in plan.plans[name].charges))
        ends = midnight(end) if end else None
        if terms and set(terms[-1].charged_meters) == set(meters):
            terms[-1] = dataclasses.replace(terms[-1], ends=ends)
            continue
        terms.append(ContractTerm(contract=contract.name, customer=contract.customer, plan=name,
                                  starts=midnight(start), ends=ends, charged_meters=meters))
    return terms


def _charged_meters(plan: RatingPlan, contract: Contract):
    seen = set()
    for charge in plan.plans[contract.plan].charges:
        meter = plan.meters.get(charge.meter)
        if meter is not None and meter.name not in seen:
            seen.add(meter.name)
            yield meter
