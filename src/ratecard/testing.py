"""`test` blocks: compile them against the project, synthesize usage, evaluate, compare.

    compile_tests(compiled) -> [TestCase]      validation errors are diagnostics with spans
    run_case(case, workdir) -> TestResult      one evaluation per test, then each `expect`
    explain_check(result, check) -> str       the `explain` of the invoice/line involved

A test bills one contract (named, or written inline and built with the
compiler's own `build_contract`) over the usage its `usage` lines describe,
through its `through` date, and compares figures of the resulting invoices with
its `expect` lines. Which invoices an expectation covers is decided in
`_select` and documented in docs/testing.md: every usage invoice the test
bills, or with `period DATE` the one whose period contains DATE.

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

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Sequence

from .usage import reference
from .billing import Evaluation, evaluate
from .billing.documents import Invoice, Line
from .billing.periods import Period, midnight, periods
from .compiler import Compiled, checks
from .compiler import literals as lit
from .compiler.build import build_contract
from .compiler.collect import collect
from .compiler.context import Context
from .diagnostics import Diagnostic, Note, Span, did_you_mean, error, has_errors, warning
from .model import Aggregation, Contract, Meter, RatingPlan
from .money import quantum
from .render import render
from .syntax import nodes as n
from .usage.records import UsageReport

UTC = dt.timezone.utc
INLINE_CONTRACT = "inline"
INLINE_CUSTOMER = "test-customer"
WEIGHT = "__ratecard_weight"
EVENT_PREFIX = "ratecard.test/"
LOOKAHEAD = dt.timedelta(days=400)  # longer than any billing period

LABELS = {
    "total": "total",
    "subtotal": "subtotal",
    "credits": "credits applied",
    "due": "due date",
    "invoices": "number of invoices",
}


# ----------------------------------------------------------------- compiled tests


@dataclass(frozen=True)
class SyntheticUsage:
    """One `usage` line, checked: a meter's quantity at an instant, with event properties."""

    meter: str
    quantity: Decimal
    at: dt.datetime
    properties: tuple[tuple[str, str], ...]
    span: Span


@dataclass(frozen=True)
class Expectation:
    what: str  # total | subtotal | credits | line | due | invoices
    span: Span
    money: Decimal | None = None
    date: dt.date | None = None
    count: int | None = None
    meter: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    period: dt.date | None = None

    @property
    def label(self) -> str:
        if self.what == "line":
            dims = ", ".join(f'{k} = "{v}"' for k, v in self.dimensions)
            return f"line {self.meter} {dims}".rstrip()
        return LABELS[self.what]


@dataclass
class TestCase:
    name: str
    span: Span  # the whole `test` block
    name_span: Span
    diagnostics: list[Diagnostic] = field(default_factory=list)
    plan: RatingPlan | None = None  # the project narrowed to this test's contract
    contract: str | None = None
    through: dt.date | None = None
    usage: list[SyntheticUsage] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)

    __test__ = False  # not a pytest class

    @property
    def runnable(self) -> bool:
        return (self.plan is not None and self.contract is not None and self.through is not None
                and not has_errors(self.diagnostics))


def _context(compiled: Compiled) -> Context:
    """A compiler context holding the compiled project, for building inline contracts."""
    ctx = Context(list(compiled.files))
    collect(ctx)  # the name tables; anything it reports was reported by the compile already
    ctx.diagnostics = []
    ctx.test_nodes = []
    plan = compiled.plan
    ctx.currency, ctx.rounding = plan.currency, plan.rounding
    ctx.meters, ctx.plans, ctx.contracts = dict(plan.meters), dict(plan.plans), dict(plan.contracts)
    return ctx


def compile_tests(compiled: Compiled) -> list[TestCase]:
    """Check every `test` block of a compiled project (which must have compiled without errors)."""
    if compiled.plan is None:
        return []
    ctx = _context(compiled)
    seen: dict[str, n.TestBlock] = {}
    cases = []
    for block in compiled.tests:
        case = _compile_one(ctx, compiled, block)
        first = seen.get(block.name.value)
        if first is not None:
            case.diagnostics.insert(0, error(
                "E800", f"duplicate test name \"{block.name.value}\"", block.name.span,
                notes=[Note("first used here", first.name.span)],
                hints=["test names are global across the project so reports are unambiguous"]))
        else:
            seen[block.name.value] = block
        cases.append(case)
    return cases


def _compile_one(ctx: Context, compiled: Compiled, block: n.TestBlock) -> TestCase:
    case = TestCase(block.name.value, block.span, block.name.span)
    ctx.diagnostics = []
    where = f'test "{block.name.value}"'

    contracts = [s for s in block.body if isinstance(s, (n.TestContract, n.TestInlineContract))]
    throughs = [s for s in block.body if isinstance(s, n.Through)]
    for extra, label in [(contracts, "contract"), (throughs, "through")]:
        for stmt in extra[1:]:
            ctx.report(error("E203", f"`{label}` is given twice in {where}", stmt.span,
                             notes=[Note("first given here", extra[0].span)]))
    if not contracts:
        ctx.report(error("E204", f"{where} has no `contract`", block.name.span,
                         hints=["name one (`contract acme`) or write one inline "
                                "(`contract { plan pro  starts 2026-01-01 }`)"]))
    if not throughs:
        ctx.report(error("E204", f"{where} has no `through`", block.name.span,
                         hints=["add `through DATE`: the test bills every period that has ended by then"]))
    through = lit.date(ctx, throughs[0].date, "`through`") if throughs else None

    usage_nodes = [s for s in block.body if isinstance(s, n.Usage)]
    instants = [(u, _instant(ctx, u.at)) for u in usage_nodes]

    contract: Contract | None = None
    plan = compiled.plan
    origins: dict[str, str] = {}
    if contracts and isinstance(contracts[0], n.TestContract):
        ref = contracts[0].name
        contract = plan.contracts.get(ref.name)
        if contract is None:
            guess = did_you_mean(ref.name, plan.contracts)
            ctx.report(error("E202", f"unknown contract `{ref.name}`"
                             + (f" (did you mean `{guess}`?)" if guess else ""), ref.span,
                             hints=[] if guess else ["no contract of that name is defined in this project; "
                                                     "or write one inline: `contract { plan ... }`"]))
    elif contracts:
        contract, origins = _inline_contract(ctx, compiled, contracts[0],
                                             [t for _, t in instants if t is not None])

    if contract is not None and through is not None:
        try:
            periods(contract, through)
        except (OverflowError, ValueError):
            ctx.report(error("E808", f"`through {through}` is too far ahead to bill contract "
                                     f"`{contract.name}` period by period", throughs[0].date.span))
            through = None

    usage = []
    for node, at in instants:
        checked = _usage(ctx, plan, contract, through, node, at)
        if checked is not None:
            usage.append(checked)

    expectations = []
    for stmt in (s for s in block.body if isinstance(s, n.Expect)):
        checked = _expectation(ctx, plan, contract, through, stmt)
        if checked is not None:
            expectations.append(checked)
    if not any(isinstance(s, n.Expect) for s in block.body):
        ctx.report(warning("W800", f"{where} has no `expect` lines, so it checks nothing",
                           block.name.span, hints=["add e.g. `expect total $40.00`"]))

    case.diagnostics = sorted(ctx.diagnostics, key=Diagnostic.sort_key)
    case.through = through
    case.usage = usage
    case.expectations = expectations
    if contract is not None:
        case.contract = contract.name
        case.plan = plan.model_copy(update={
            "contracts": {contract.name: contract},
            "origins": dict(sorted({**plan.origins, **origins}.items())),
        })
    return case


def _instant(ctx: Context, at: n.DateLit) -> dt.datetime | None:
    """`on DATE` is midnight UTC of that day; a timestamp is taken as written."""
    try:
        if at.is_timestamp:
            return dt.datetime.fromisoformat(at.raw).astimezone(UTC)
        return midnight(dt.date.fromisoformat(at.raw))
    except ValueError:
        ctx.report(error("E307", f"`{at.raw}` is not a valid {'timestamp' if at.is_timestamp else 'date'}",
                         at.span))
        return None


def _inline_contract(ctx: Context, compiled: Compiled, stmt: n.TestInlineContract,
                     instants: list[dt.datetime]) -> tuple[Contract | None, dict[str, str]]:
    """Build `contract { ... }` against the project with the compiler's own builder.

    The contract gets a synthetic name and, unless it states one, a synthetic
    customer; without `starts` it starts on the first day of the month of the
    test's earliest usage.
    """
    name = INLINE_CONTRACT
    k = 1
    while name in compiled.plan.contracts:
        k += 1
        name = f"{INLINE_CONTRACT}_{k}"
    body = list(stmt.body)
    span = stmt.span
    head = Span(span.file, span.line, span.col, span.line, span.col + len("contract"))
    if not any(isinstance(s, n.Customer) for s in body):
        raw = f'"{INLINE_CUSTOMER}"'
        body.append(n.Customer(n.Str(INLINE_CUSTOMER, raw, head), head))
    if not any(isinstance(s, n.Starts) for s in body):
        if not instants:
            ctx.report(error("E204", "this inline contract has no `starts`, and the test has no usage "
                                     "to take it from", head,
                             hints=["add `starts 2026-01-01` inside `contract { ... }`"]))
            return None, {}
        first = min(instants).date().replace(day=1)
        body.append(n.Starts(n.DateLit(first.isoformat(), False, head), head))
    before = set(ctx.spans)
    contract = build_contract(ctx, name, tuple(body), head)
    new_spans = {k: v for k, v in ctx.spans.items() if k not in before}
    for key in new_spans:
        del ctx.spans[key]
    if contract is None:
        return None, {}
    new_spans[f"contract:{name}"] = head
    # the compiler's checks on rate cards (ambiguity, unknown keys, provably
    # unpriced lines), keeping what they find inside this inline contract
    plan = compiled.plan.with_contracts([contract])
    spans = {**compiled.spans, **new_spans}
    for check in (checks.ambiguity, checks.condition_keys, checks.provably_unpriced):
        for d in check(plan, spans):
            if d.span is not None and _inside(d.span, stmt.span):
                ctx.report(d)
    origins = {k: f"{s.file}:{s.line}" for k, s in new_spans.items()}
    return contract, origins


def _inside(span: Span, outer: Span) -> bool:
    return (span.file == outer.file and (outer.line, outer.col) <= (span.line, span.col)
            and (span.end_line, span.end_col) <= (outer.end_line, outer.end_col))


def _meter(ctx: Context, plan: RatingPlan, contract: Contract | None, ident: n.Ident) -> Meter | None:
    """The meter a usage or expect line names, which the contract's plan must charge."""
    meter = plan.meters.get(ident.name)
    if meter is None:
        guess = did_you_mean(ident.name, plan.meters)
        ctx.report(error("E201", f"unknown meter `{ident.name}`"
                         + (f" (did you mean `{guess}`?)" if guess else ""), ident.span,
                         hints=[] if guess else ["no meter of that name is defined in this project"]))
        return None
    if contract is not None and plan.plans[contract.plan].charge(meter.name) is None:
        charged = ", ".join(c.meter for c in plan.plans[contract.plan].charges) or "nothing"
        ctx.report(error("E801", f"plan `{contract.plan}` of contract `{contract.name}` does not charge "
                                 f"meter `{meter.name}`", ident.span,
                         hints=[f"plan `{contract.plan}` charges: {charged}"]))
        return None
    return meter


def _assignments(ctx: Context, meter: Meter, items: Iterable[n.Assignment], allowed: Sequence[str],
                 what: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    first: dict[str, n.Assignment] = {}
    ok = True
    declared = {d.name: d.values for d in meter.dimensions}
    for a in items:
        key = a.key.name
        if key not in allowed:
            guess = did_you_mean(key, allowed)
            msg = f"`{key}` is not a dimension of meter `{meter.name}`"
            if guess:
                msg += f" (did you mean `{guess}`?)"
            ctx.report(error("E802", msg, a.key.span, hints=[
                f"{what} may set: {', '.join(allowed) or 'nothing (the meter has no dimensions)'}; "
                "contract dimensions are set on the contract"]))
            ok = False
            continue
        if key in first:
            ctx.report(error("E403", f"dimension `{key}` is set twice", a.key.span,
                             notes=[Note("first set here", first[key].span)]))
            ok = False
            continue
        first[key] = a
        value = lit.value_text(ctx, a.value)
        values = declared.get(key)
        if values is not None and value not in values:
            ctx.report(warning("W801", f"\"{value}\" is not one of the declared values of dimension "
                                       f"`{key}` of meter `{meter.name}`", a.value.span,
                               hints=["declared: " + ", ".join(f'"{v}"' for v in values)]))
        out[key] = value
    return out if ok else None


def _billed_period(contract: Contract, through: dt.date, instant: dt.datetime) -> Period | None:
    try:
        billed = periods(contract, through)
    except (OverflowError, ValueError):  # dates near year 9999
        return None
    for p in billed:
        if midnight(p.start) <= instant < midnight(p.end):
            return p
    return None


def _later(day: dt.date) -> dt.date:
    """A `through` date that bills the period containing `day` (capped at the calendar's end)."""
    return day + LOOKAHEAD if day < dt.date.max - LOOKAHEAD else dt.date.max


def _usage(ctx: Context, plan: RatingPlan, contract: Contract | None, through: dt.date | None,
           node: n.Usage, at: dt.datetime | None) -> SyntheticUsage | None:
    meter = _meter(ctx, plan, contract, node.meter)
    if meter is None:
        return None
    where_keys = [c.key for c in meter.where]
    allowed = list(dict.fromkeys(list(meter.dimension_names) + where_keys))
    props = _assignments(ctx, meter, node.dimensions, allowed, "a usage line")
    whole = meter.aggregation.function in ("count", "unique")
    quantity = lit.plain_number(ctx, node.quantity, "a usage quantity", integer=whole, allow_suffix=True)
    if props is None or quantity is None or at is None:
        return None
    # a positive `where` condition on a property the line leaves unset is taken
    # as met: the usage is the meter's, so it passes the meter's own filter
    for cond in meter.where:
        if cond.positive and cond.key not in props:
            props[cond.key] = cond.values[0]
    failing = [c for c in meter.where if not c.matches(props)]
    if failing:
        c = failing[0]
        shown = ", ".join(f'"{v}"' for v in c.values)
        ctx.report(error("E803", f"meter `{meter.name}` filters this usage out "
                                 f"(`where {c.key} {c.op} {shown}`)", node.span,
                         hints=["usage the meter's `where` excludes is never billed"]))
        return None
    if contract is not None:
        start, stop = midnight(contract.starts), contract.end_exclusive
        if at < start or (stop is not None and at >= midnight(stop)):
            ends = f", ends {contract.ends}" if contract.ends else ""
            ctx.report(error("E804", f"usage on {node.at.raw} is outside contract `{contract.name}` "
                                     f"(starts {contract.starts}{ends})", node.at.span))
            return None
        if through is not None and _billed_period(contract, through, at) is None:
            p = _billed_period(contract, _later(at.date()), at)
            when = f"its period {p.start} to {p.end} ends" if p else "its period ends"
            ctx.report(error("E805", f"usage on {node.at.raw} is not billed by `through {through}`: "
                                     f"{when} after it", node.at.span,
                             hints=[f"move `through` to {p.end} or later" if p
                                    else "move `through` later"]))
            return None
    return SyntheticUsage(meter.name, quantity, at, tuple(sorted(props.items())), node.span)


def _expectation(ctx: Context, plan: RatingPlan, contract: Contract | None, through: dt.date | None,
                 stmt: n.Expect) -> Expectation | None:
    period = None
    if stmt.period is not None:
        period = lit.date(ctx, stmt.period, "`period`")
        if period is None:
            return None
        if contract is not None and through is not None \
                and _billed_period(contract, through, midnight(period)) is None:
            billed = [f"{p.start} to {p.end}" for p in periods(contract, through)]
            ctx.report(error("E806", f"no usage invoice of contract `{contract.name}` covers {period} "
                                     f"by `through {through}`", stmt.period.span,
                             hints=["billed periods: " + ", ".join(billed) if billed
                                    else "no period has ended by `through`"]))
            return None
    base = {"what": stmt.what, "span": stmt.span, "period": period}
    if stmt.what == "invoices":
        count = lit.plain_number(ctx, stmt.count, "a number of invoices", integer=True)
        return None if count is None else Expectation(count=int(count), **base)
    if stmt.what == "due":
        day = lit.date(ctx, stmt.date, "a due date")
        return None if day is None else Expectation(date=day, **base)
    amount = lit.money(ctx, stmt.money, "an expected amount")
    if stmt.what != "line":
        return None if amount is None else Expectation(money=amount, **base)
    meter = _meter(ctx, plan, contract, stmt.meter)
    if meter is None:
        return None
    dims = _assignments(ctx, meter, stmt.dimensions, meter.dimension_names, "`expect line`")
    if dims is None or amount is None:
        return None
    return Expectation(money=amount, meter=meter.name, dimensions=tuple(dims.items()), **base)


# ----------------------------------------------------------------- running


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
        else:
            props[fn.field] = str(u.quantity)
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
    evaluation = evaluate(case.plan, [str(path)], case.through, aggregator=synthetic_aggregator)
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
    """The usage invoices an expectation covers: all of them, or the one of `period`."""
    usage = [i for i in invoices if i.kind == "usage"]
    if exp.period is None:
        return usage
    return [i for i in usage if i.period.start <= exp.period < i.period.end]


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
        last = max(selected, key=lambda i: i.period.start)
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
    from .explain import explain_view

    if result.evaluation is None or not check.invoices:
        return ""
    if check.expectation.what == "invoices":
        return ""  # the report lists the invoices; how each was priced is beside the point
    view = explain_view(result.evaluation, result.case.plan, result.case.contract)
    wanted = set(check.invoices)
    kept = []
    for inv, doc in zip(view["invoices"], [i for i in result.evaluation.run.invoices
                                           if i.contract == result.case.contract]):
        if doc.number not in wanted:
            continue
        if check.expectation.what == "line" and check.lines:
            indexes = set(check.lines.get(doc.number, ()))
            inv = {**inv, "lines": [ln for k, ln in enumerate(inv["lines"]) if k in indexes]}
        elif check.expectation.what == "due":
            inv = {**inv, "lines": []}  # the header has the dates; the lines do not matter
        kept.append(inv)
    return render("explain.txt.j2", None, **{**view, "invoices": kept})


def invoice_list(result: TestResult) -> list[str]:
    """One line per invoice the test billed, for `expect invoices` failures."""
    if result.evaluation is None or result.evaluation.run is None:
        return []
    return [f"{i.number} ({i.kind.replace('_', ' ')}, {i.period.start} to {i.period.end}, "
            f"total {format_money(i.total, result.case.plan.currency)})"
            for i in result.evaluation.run.invoices if i.contract == result.case.contract]
