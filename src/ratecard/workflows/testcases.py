"""`test` blocks, compiled: checked against the project into runnable `TestCase`s.

    compile_tests(compiled) -> [TestCase]      validation errors are diagnostics with spans

A test bills one contract (named, or written inline and built with the
compiler's own `build_contract`) over the usage its `usage` lines describe,
through its `through` date, and compares figures of the resulting invoices with
its `expect` lines. Everything a test says is checked here, before anything is
billed, so a mistake in a test is a diagnostic at its line (docs/testing.md);
running the cases is `testrun`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Sequence

from ..billing.periods import Period, midnight, periods, plan_at
from ..compiler import Compiled, checks
from ..compiler import literals as lit
from ..compiler.build import build_contract
from ..compiler.collect import collect
from ..compiler.context import Context
from ..diagnostics import Diagnostic, Note, Span, did_you_mean, error, has_errors, warning
from ..model import Contract, Meter, RatingPlan
from ..report.visible import dimensions_text
from ..syntax import nodes as n

INLINE_CONTRACT = "inline"
INLINE_CUSTOMER = "test-customer"
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
            dims = dimensions_text(self.dimensions, quoted=True)
            return f"line {self.meter} {dims}".rstrip()
        return LABELS[self.what]


@dataclass
class TestCase:
    name: str
    span: Span  # the whole `test` block
    name_span: Span
    diagnostics: list[Diagnostic] = field(default_factory=list)
    plan: RatingPlan | None = None  # the project narrowed to this test's contract
    # model id -> where it was written (the project's and an inline contract's): where
    # billing's E502 and E503 point (`billing/places.py`)
    spans: dict[str, Span] = field(default_factory=dict)
    contract: str | None = None
    through: dt.date | None = None
    usage: list[SyntheticUsage] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)

    __test__ = False  # not a pytest class

    @property
    def runnable(self) -> bool:
        return (self.plan is not None and self.contract is not None and self.through is not None
                and not has_errors(self.diagnostics))


@dataclass(frozen=True)
class BlockScope:
    """What checking each `usage` and `expect` line of one test block needs: the
    compiler context diagnostics go to, the project, and the block's contract and
    `through` (None when the block got them wrong: lines are still checked)."""

    ctx: Context
    plan: RatingPlan
    contract: Contract | None
    through: dt.date | None


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
    inline_spans: dict[str, Span] = {}
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
        contract, inline_spans = _inline_contract(ctx, compiled, contracts[0],
                                             [t for _, t in instants if t is not None])

    if contract is not None and through is not None:
        try:
            periods(contract, through)
        except (OverflowError, ValueError):
            ctx.report(error("E808", f"`through {through}` is too far ahead to bill contract "
                                     f"`{contract.name}` period by period", throughs[0].date.span))
            through = None

    scope = BlockScope(ctx, plan, contract, through)
    usage = []
    for node, at in instants:
        checked = _usage(scope, node, at)
        if checked is not None:
            usage.append(checked)

    expectations = []
    for stmt in (s for s in block.body if isinstance(s, n.Expect)):
        checked = _expectation(scope, stmt)
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
        origins = {k: f"{s.file}:{s.line}" for k, s in inline_spans.items()}
        case.plan = plan.model_copy(update={
            "contracts": {contract.name: contract},
            "origins": dict(sorted({**plan.origins, **origins}.items())),
        })
        case.spans = {**compiled.spans, **inline_spans}
    return case


def _instant(ctx: Context, at: n.DateLit) -> dt.datetime | None:
    """`on DATE` is midnight UTC of that day; a timestamp is taken as written."""
    try:
        if at.is_timestamp:
            return dt.datetime.fromisoformat(at.raw.upper()).astimezone(dt.UTC)  # `t`, `z`: RFC 3339
        return midnight(dt.date.fromisoformat(at.raw))
    except ValueError:
        ctx.report(error("E307", f"`{at.raw}` is not a valid {'timestamp' if at.is_timestamp else 'date'}",
                         at.span))
        return None


def _inline_contract(ctx: Context, compiled: Compiled, stmt: n.TestInlineContract,
                     instants: list[dt.datetime]) -> tuple[Contract | None, dict[str, Span]]:
    """Build `contract { ... }` against the project with the compiler's own builder; with it,
    where its parts were written (model id -> `Span`), kept out of the project's spans.

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
    return contract, new_spans


def _inside(span: Span, outer: Span) -> bool:
    return (span.file == outer.file and (outer.line, outer.col) <= (span.line, span.col)
            and (span.end_line, span.end_col) <= (outer.end_line, outer.end_col))


def _meter(scope: BlockScope, ident: n.Ident, at: dt.datetime | None = None) -> Meter | None:
    """The meter a usage or expect line names, which the contract's plan must charge: for a
    usage line at `at`, the plan in effect then (usage another plan charges would not be
    billed: `not_in_plan`); for an `expect line`, one of the contract's plans."""
    ctx, plan, contract = scope.ctx, scope.plan, scope.contract
    meter = plan.meters.get(ident.name)
    if meter is None:
        guess = did_you_mean(ident.name, plan.meters)
        ctx.report(error("E201", f"unknown meter `{ident.name}`"
                         + (f" (did you mean `{guess}`?)" if guess else ""), ident.span,
                         hints=[] if guess else ["no meter of that name is defined in this project"]))
        return None
    if contract is None:
        return meter
    if at is not None:
        names = [plan_at(contract, at.astimezone(dt.UTC).date())]
    else:
        names = list(dict.fromkeys([contract.plan, *(c.plan for c in contract.plan_changes)]))
    if all(plan.plans[name].charge(meter.name) is None for name in names):
        name = names[0]
        charged = ", ".join(c.meter for c in plan.plans[name].charges) or "nothing"
        when = f" on {at.date()}" if at is not None and contract.plan_changes else ""
        ctx.report(error("E801", f"plan `{name}` of contract `{contract.name}` does not charge "
                                 f"meter `{meter.name}`{when}", ident.span,
                         hints=[f"plan `{name}` charges: {charged}"]))
        return None
    return meter


# What a test line without a dimension means (the hint of E318, `""` as a value).
_WITHOUT = {"a usage line": "leave `{key}` out of the usage line to test usage without it",
            "`expect line`": "leave `{key}` out: `expect line` then adds every line of the meter, "
                             "the one without `{key}` too"}


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
        value = lit.value_text(ctx, a.value, key, _WITHOUT[what].format(key=key))
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


def _usage(scope: BlockScope, node: n.Usage, at: dt.datetime | None) -> SyntheticUsage | None:
    ctx, contract, through = scope.ctx, scope.contract, scope.through
    meter = _meter(scope, node.meter, at)
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


def _expectation(scope: BlockScope, stmt: n.Expect) -> Expectation | None:
    ctx, contract, through = scope.ctx, scope.contract, scope.through
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
    meter = _meter(scope, stmt.meter)
    if meter is None:
        return None
    dims = _assignments(ctx, meter, stmt.dimensions, meter.dimension_names, "`expect line`")
    if dims is None or amount is None:
        return None
    return Expectation(money=amount, meter=meter.name, dimensions=tuple(dims.items()), **base)
