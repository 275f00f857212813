"""A deliberately simple, pure-Python usage aggregator: the oracle for tests.

It implements the same contract as `ratecard.usage.aggregate_usage` with
plain loops and dicts, one event at a time, so that its correctness can be
checked by reading it. The DuckDB and Spark engines must produce identical
reports; hypothesis tests compare them. It is slow on purpose of clarity and
is never used to bill in production runs. It imports no engine or query code
(only the row definitions, `rows` and `row_reader`, the `records`, and the
words of E506, `overflow`), so that it checks the engines rather than repeats them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, localcontext

from ..model import Meter, RatingPlan
from ..money import EXACT
from .records import (
    REJECTION_REASONS,
    Aggregate,
    BadRow,
    ContractTerm,
    UsageReport,
    Window,
    bad_row_diagnostics,
)
from .overflow import BOUND, overflow_problem
from .row_reader import read_rows
from .rows import derived_value, needed_keys, parse_quantity, parse_time, row_problem, text_value
from .weighted import Report, line_quantity, window_pieces


@dataclass
class _Event:
    file: str
    line: int
    id: str
    type: str
    customer: str
    time: dt.datetime
    properties: dict[str, str]


def _matches_where(meter: Meter, props: dict[str, str]) -> bool:
    return all(c.matches(props) for c in meter.where)


def aggregate_usage(plan: RatingPlan, terms: list[ContractTerm], windows: list[Window],
                    files: list[str], *, skip_bad_rows: str | None = None,
                    memory_limit: str | None = None, threads: int | None = None) -> UsageReport:
    report = UsageReport(rejected={r: 0 for r in REJECTION_REASONS})
    events: list[_Event] = []
    by_type: dict[str, list[Meter]] = {}
    for m in plan.meters.values():
        by_type.setdefault(m.event, []).append(m)

    keys = needed_keys(plan)
    for path in files:
        for line, obj, raw in read_rows(path):
            report.events_read += 1
            if isinstance(obj, str):
                reason, props = obj, {}
            else:
                reason, props = row_problem(obj, by_type, keys)
            if reason is not None:
                report.bad_rows.append(BadRow(path, line, reason, raw))
                continue
            events.append(_Event(path, line, text_value(obj["id"]), text_value(obj["type"]),
                                 text_value(obj["customer"]), parse_time(obj["time"]), props))

    report.diagnostics.extend(bad_row_diagnostics(report.bad_rows))
    if report.bad_rows and skip_bad_rows is not None:
        report.rejected["bad_row"] = len(report.bad_rows)
        report.diagnostics = []

    # dedup: keep, per (customer, id), the earliest event; ties by type, then
    # by the properties meters read (absent first)

    def rank(e: _Event) -> tuple:
        return (e.time, e.type, tuple((e.properties.get(k) is not None, e.properties.get(k) or "")
                                      for k in keys))

    kept: dict[tuple[str, str], _Event] = {}
    for e in events:
        key = (e.customer, e.id)
        cur = kept.get(key)
        if cur is None or rank(e) < rank(cur):
            if cur is not None:
                report.rejected["duplicate"] += 1
            kept[key] = e
        else:
            report.rejected["duplicate"] += 1

    terms_by_customer: dict[str, list[ContractTerm]] = {}
    for t in terms:
        terms_by_customer.setdefault(t.customer, []).append(t)
    windows_by_contract: dict[str, list[Window]] = {}
    segments: dict[tuple[str, str], list[Window]] = {}
    for w in windows:
        if w.meter is None:
            windows_by_contract.setdefault(w.contract, []).append(w)
        else:
            segments.setdefault((w.contract, w.meter), []).append(w)

    groups: dict[tuple, dict] = {}
    # (customer, weighted meter, dims) -> its reports: every kept event the meter reads (type
    # and `where`), whatever contract, or none, it falls in. A level is a fact about the
    # customer's account (LANGUAGE.md: "per customer and dimension combination"), so a report
    # keeps its reason in the counts (outside_contract, not_in_plan, ...) but its level holds
    # on into the windows that charge the meter (part2-decisions 2.3).
    held: dict[tuple, list[Report]] = {}
    for e in kept.values():
        for m in by_type.get(e.type, []):
            if m.aggregation.function == "weighted" and _matches_where(m, e.properties):
                dims = tuple((d, e.properties.get(d)) for d in m.dimension_names)
                held.setdefault((e.customer, m.name, dims), []).append(
                    Report(e.time, e.id, parse_quantity(e.properties[m.aggregation.field])))
    for e in kept.values():
        customer_terms = terms_by_customer.get(e.customer)
        if not customer_terms:
            report.rejected["unknown_customer"] += 1
            continue
        term = next((t for t in customer_terms
                     if t.starts <= e.time and (t.ends is None or e.time < t.ends)), None)
        if term is None:
            report.rejected["outside_contract"] += 1
            continue
        window = next((w for w in windows_by_contract.get(term.contract, ())
                       if w.start <= e.time < w.end), None)
        if window is None:
            report.rejected["not_yet_billable"] += 1
            continue
        meters = by_type.get(e.type, [])
        if not meters:
            report.rejected["no_meter"] += 1
            continue
        passing = [m for m in meters if _matches_where(m, e.properties)]
        if not passing:
            report.rejected["filtered"] += 1
            continue
        # the term in effect at the event's time: a plan change to a plan that charges other
        # meters starts a new term, so this is the plan in effect then, not the first plan
        charged = [m for m in passing if m.name in term.charged_meters]
        if not charged:
            report.rejected["not_in_plan"] += 1
            continue
        report.billed += 1
        for m in charged:
            dims = tuple((d, e.properties.get(d)) for d in m.dimension_names)
            if m.aggregation.function == "weighted":
                continue  # its report is in `held` already
            segment = next((s for s in segments.get((term.contract, m.name), ())
                            if s.start <= e.time < s.end), window)
            g = groups.setdefault((segment.key, m.name, dims), {"events": 0, "values": []})
            g["events"] += 1
            g["values"].append(e)

    with localcontext(EXACT):
        _quantities(plan, groups, report)
    stopped = bool(report.bad_rows) and skip_bad_rows is None  # the bad rows are what is said
    if not stopped and any(plan.meters[a.meter].aggregation.function == "sum" and abs(a.quantity) >= BOUND
                           for a in report.aggregates):
        # a line's sum past DECIMAL(38, 18): the engines stop on it (E506), and so does this
        return UsageReport(rejected={r: 0 for r in REJECTION_REASONS},
                           diagnostics=[overflow_problem(plan, files, _ENGINES_WORDS)])
    _weighted(plan, held, windows_by_contract, segments, terms_by_customer, report)
    report.aggregates.sort(key=lambda a: (a.window, a.meter,
                                          tuple((k, v is not None, v or "") for k, v in a.dimensions)))
    return report


# what an engine says when a sum passes DECIMAL(38) (DuckDB's words; E506 repeats them in a hint)
_ENGINES_WORDS = "Out of Range Error: Overflow in SUM of DECIMAL: the result does not fit in DECIMAL(38)"


def _quantities(plan: RatingPlan, groups: dict, report: UsageReport) -> None:
    for (window, meter_name, dims), g in groups.items():
        meter = plan.meters[meter_name]
        fn, field = meter.aggregation.function, meter.aggregation.field
        evs = g["values"]

        def value(e: _Event) -> Decimal:
            if meter.aggregation.expression is not None:
                return derived_value(meter, e.properties)[0]  # never None: the row was checked
            return parse_quantity(e.properties[field])

        if fn == "count":
            q = Decimal(len(evs))
        elif fn == "sum":
            q = sum((value(e) for e in evs), Decimal(0))
        elif fn == "max":
            q = max(value(e) for e in evs)
        elif fn == "unique":
            q = Decimal(len({e.properties[field] for e in evs if e.properties.get(field) is not None}))
        else:  # latest: greatest time, ties by greatest id
            last = max(evs, key=lambda e: (e.time, e.id))
            q = value(last)
        report.aggregates.append(Aggregate(window, meter_name, dims, q, g["events"]))


def _weighted(plan: RatingPlan, held: dict, windows_by_contract: dict, segments: dict,
              terms_by_customer: dict[str, list[ContractTerm]], report: UsageReport) -> None:
    """Each weighted key's line in every window, of every contract of its customer, whose
    plan charges the meter (its meter's segments where a rate change splits a period part,
    else the part): the integral of the customer's reports over the window, from the
    reports themselves (`weighted.line_quantity`), a report from before the contract's
    start or from another plan's stretch included. Where the plan in effect does not charge
    the meter, what the last report held is no one's usage (part2-decisions 6.9)."""
    for (customer, meter_name, dims), reports in held.items():
        per = plan.meters[meter_name].aggregation.per
        customer_terms = terms_by_customer.get(customer, ())
        for contract in dict.fromkeys(t.contract for t in customer_terms):
            _weighted_contract(contract, meter_name, dims, reports, per, windows_by_contract, segments,
                               customer_terms, report)


def _weighted_contract(contract: str, meter_name: str, dims: tuple, reports: list[Report], per: str,
                       windows_by_contract: dict, segments: dict, terms: list[ContractTerm],
                       report: UsageReport) -> None:
    """One weighted key's lines in the windows of one contract of its customer."""
    own = segments.get((contract, meter_name), ())
    for w in windows_by_contract.get(contract, ()):
        term = next((t for t in terms if t.contract == contract and t.starts <= w.start
                     and (t.ends is None or w.start < t.ends)), None)
        if term is None or meter_name not in term.charged_meters:
            continue
        for part in [s for s in own if w.start <= s.start < w.end] or [w]:
            q = line_quantity(reports, part.start, part.end, per)
            if q is not None:
                events = sum(1 for r in reports if part.start <= r.time < part.end)
                report.aggregates.append(Aggregate(part.key, meter_name, dims, q, events,
                                                   tuple(window_pieces(reports, part.start, part.end))))
