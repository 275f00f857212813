"""`test` blocks, run: synthesize usage, evaluate, compare, explain what failed.

    run_case(case, workdir) -> TestResult      one evaluation per test, then each `expect`
    explain_check(result, check) -> str       the `explain` of the invoice/line involved

Which invoices an expectation covers is decided in `_select` and documented in
docs/testing.md: every invoice the test bills but credit purchases (the opening
invoice of fees in advance included), or with `period DATE` the usage invoice
whose period contains DATE.

Usage lines become events of the meter they name, written to a JSONL file and
read by the pure-Python reference aggregator (synthesized usage is tiny, so
this avoids starting DuckDB per test; the reference implements the same
contract). Two adjustments keep "a quantity for a meter" exact:

- each meter reads its own synthetic event type, so a usage line feeds only
  the meter it names even when several meters read one event type;
- `count` and `unique` meters aggregate to N as if N events (with N distinct
  values, for `unique`) had been recorded; they are passed as one weighted
  event, so `usage API_CALLS 50M ...` costs no more than `usage API_CALLS 5`,
  and the usage report still says N events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Sequence

from ..billing import Evaluation, evaluate
from ..billing.documents import Invoice, Line
from ..diagnostics import Diagnostic, error
from ..model import Aggregation, RatingPlan
from ..money import quantum
from ..report.explain import explain_view
from ..report.render import render
from ..usage import reference
from ..usage.records import UsageReport
from .testcases import Expectation, TestCase

WEIGHT = "__ratecard_weight"
EVENT_PREFIX = "ratecard.test/"


@dataclass
class Check:
    """One expectation's outcome, and what to explain when it failed."""

    expectation: Expectation
    passed: bool
    expected: str
    actual: str
    invoices: list[str]  # numbers of the invoices the figure comes from
    lines: dict[str, list[int]] = field(default_factory=dict)  # invoice -> indexes of matched lines
    note: str = ""


@dataclass
class TestResult:
    case: TestCase
    status: str  # ok | fail | error
    checks: list[Check] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    evaluation: Evaluation | None = None

    __test__ = False  # not a pytest class

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def weighted_meters(plan: RatingPlan) -> RatingPlan:
    """The plan as the synthetic events see it: one event type per meter, and
    `count`/`unique` meters summing a weight (one weighted event per usage line)."""
    meters = {}
    for name, m in plan.meters.items():
        update: dict = {"event": EVENT_PREFIX + name}
        if m.aggregation.function in ("count", "unique"):
            update["aggregation"] = Aggregation(function="sum", field=WEIGHT)
        elif m.aggregation.expression is not None:  # a test states the derived quantity itself
            update["aggregation"] = Aggregation(function=m.aggregation.function, field=WEIGHT)
        meters[name] = m.model_copy(update=update)
    return plan.model_copy(update={"meters": meters})


def synthetic_aggregator(plan: RatingPlan, terms, windows, files, **options) -> UsageReport:
    """The reference aggregator over synthetic events (same contract as `aggregate_usage`)."""
    report = reference.aggregate_usage(weighted_meters(plan), terms, windows, files, **options)
    weighted = {name for name, m in plan.meters.items() if m.aggregation.function in ("count", "unique")}
    report.aggregates = [
        a._replace(events=int(a.quantity)) if a.meter in weighted else a
        for a in report.aggregates
    ]
    return report


def synthetic_events(case: TestCase) -> list[dict]:
    contract = case.plan.contracts[case.contract]
    meters = case.plan.meters
    events = []
    for i, u in enumerate(case.usage, start=1):
        fn = meters[u.meter].aggregation
        props = dict(u.properties)
        if fn.function in ("count", "unique"):
            if u.quantity == 0:
                continue  # zero events: no line at all
            props[WEIGHT] = str(u.quantity)
        else:  # a derived meter's quantity is carried as it is (part2-decisions 1.6)
            props[fn.field if fn.expression is None else WEIGHT] = str(u.quantity)
        events.append({
            # zero-padded, so that for `latest` a later line wins a tie on time
            "id": f"usage-{i:06d}",
            "type": EVENT_PREFIX + u.meter,
            "customer": contract.customer,
            "time": u.at.isoformat().replace("+00:00", "Z"),
            "properties": props,
        })
    return events


def run_case(case: TestCase, workdir: str | Path, index: int = 0) -> TestResult:
    """Evaluate one test; its synthetic events are written to `workdir`."""
    if not case.runnable:
        return TestResult(case, "error", diagnostics=list(case.diagnostics))
    path = Path(workdir) / f"test-{index:04d}.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for e in synthetic_events(case):
            fh.write(json.dumps(e, sort_keys=True) + "\n")
    evaluation = evaluate(case.plan, [str(path)], case.through, aggregator=synthetic_aggregator,
                          spans=case.spans)
    diagnostics = list(case.diagnostics)
    if not evaluation.ok:
        return TestResult(case, "error", diagnostics=diagnostics + list(evaluation.diagnostics),
                          evaluation=evaluation)
    run = evaluation.run
    if run.events.rejected:
        reasons = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in run.rejected.items() if v)
        diagnostics.append(error("E807", f"{run.events.rejected} usage line(s) of this test were not "
                                         f"billed ({reasons})", case.name_span))
        return TestResult(case, "error", diagnostics=diagnostics, evaluation=evaluation)
    checks_ = [_check(case, run.invoices, exp) for exp in case.expectations]
    status = "ok" if all(c.passed for c in checks_) else "fail"
    return TestResult(case, status, checks_, diagnostics, evaluation)


def _select(invoices: list[Invoice], exp: Expectation) -> list[Invoice]:
    """The invoices an expectation covers: every one but credit purchases (the opening invoice
    of fees in advance too), or the usage invoice closing the period that contains `period`
    (the opening invoice's period is the instant `starts`: it contains no date)."""
    billed = [i for i in invoices if i.kind in ("usage", "advance")]
    if exp.period is None:
        return billed
    return [i for i in billed if i.period.start <= exp.period < i.period.end]


def _line_matches(line: Line, exp: Expectation) -> bool:
    return (line.kind == "usage" and line.charge == exp.meter
            and all(line.dimensions.get(k) == v for k, v in exp.dimensions))


def _check(case: TestCase, invoices: list[Invoice], exp: Expectation) -> Check:
    currency = case.plan.currency
    selected = _select(invoices, exp)
    numbers = [i.number for i in selected]
    if exp.what == "invoices":
        actual = len(invoices)
        return Check(exp, actual == exp.count, str(exp.count), str(actual),
                     [i.number for i in invoices])
    if exp.what == "due":
        if not selected:
            return Check(exp, False, exp.date.isoformat(), "no usage invoice", [])
        last = max(selected, key=lambda i: (i.period.start, i.issued))
        return Check(exp, last.due == exp.date, exp.date.isoformat(), last.due.isoformat(),
                     [last.number])
    expected = format_money(exp.money, currency)
    if exp.what == "line":
        lines = {i.number: [k for k, ln in enumerate(i.lines) if _line_matches(ln, exp)] for i in selected}
        lines = {k: v for k, v in lines.items() if v}
        if not lines:
            return Check(exp, False, expected, "no such line", numbers,
                         note=f"no usage line {exp.label[len('line '):]} on "
                              + (f"the invoice for {exp.period}" if exp.period else "the test's invoices"))
        by_number = {i.number: i for i in selected}
        actual = sum((by_number[num].lines[k].amount for num, ks in lines.items() for k in ks), Decimal(0))
        return Check(exp, actual == exp.money, expected, format_money(actual, currency),
                     list(lines), lines)
    attr = {"total": "total", "subtotal": "subtotal", "credits": "credits_applied"}[exp.what]
    actual = sum((getattr(i, attr) for i in selected), Decimal(0).quantize(quantum(currency)))
    return Check(exp, actual == exp.money, expected, format_money(actual, currency), numbers)


def format_money(amount: Decimal, currency: str) -> str:
    """`$40.00` (USD) or `40.00 EUR`, at the currency's minor unit unless more digits were written."""
    q = quantum(currency)
    shown = amount.quantize(q) if amount.quantize(q) == amount else amount
    return f"${shown}" if currency == "USD" else f"{shown} {currency}"


def run_tests(cases: Sequence[TestCase], workdir: str | Path) -> list[TestResult]:
    return [run_case(case, workdir, k) for k, case in enumerate(cases)]


# ----------------------------------------------------------------- explaining failures


def explain_check(result: TestResult, check: Check) -> str:
    """`explain` of what a failed expectation looked at: its line(s), or its invoice(s)."""
    if result.evaluation is None or not check.invoices:
        return ""
    if check.expectation.what == "invoices":
        return ""  # the report lists the invoices; how each was priced is beside the point
    view = explain_view(result.evaluation, result.case.plan, result.case.contract)
    wanted = set(check.invoices)
    kept = []
    for inv, doc in zip(view.invoices, [i for i in result.evaluation.run.invoices
                                        if i.contract == result.case.contract]):
        if doc.number not in wanted:
            continue
        if check.expectation.what == "line" and check.lines:
            indexes = set(check.lines.get(doc.number, ()))
            inv = replace(inv, lines=[ln for k, ln in enumerate(inv.lines) if k in indexes])
        elif check.expectation.what == "due":
            inv = replace(inv, lines=[])  # the header has the dates; the lines do not matter
        kept.append(inv)
    return render("explain.txt.j2", None, **replace(view, invoices=kept).context())


def invoice_list(result: TestResult) -> list[str]:
    """One line per invoice the test billed, for `expect invoices` failures."""
    if result.evaluation is None or result.evaluation.run is None:
        return []
    return [f"{i.number} ({i.kind.replace('_', ' ')}, {i.period.start} to {i.period.end}, "
            f"total {format_money(i.total, result.case.plan.currency)})"
            for i in result.evaluation.run.invoices if i.contract == result.case.contract]
