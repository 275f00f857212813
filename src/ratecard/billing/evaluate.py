"""RatingPlan + usage aggregates + credits -> invoices (the evaluator).

    periods per contract -> windows (periods, and segments of periods where a
      rate changes inside them) -> usage stage (aggregates, rejections)
      -> lines per period: fees, usage (priced through the rules engine), minimum
      -> credit purchases, credit burn-down, breakage -> `InvoiceRun`

Every line is computed exactly and rounded once, in the project's rounding
mode, to the currency's minor unit; subtotals and totals are sums of rounded
lines. Rule resolution is cached per (contract, meter, dimension values, day),
so pricing a million aggregates resolves each distinct line shape once.

Effective dates (see `segments.py`): a `count` or `sum` meter whose rules
change inside a period is aggregated per segment; segments are priced in time
order, each at the rules of its first day, with tiers continuing from what the
earlier segments used; adjacent segments priced by the same rule and
modifiers are billed as one line, so a change that keeps the price changes
nothing on the invoice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Mapping, NamedTuple, Sequence

from ..diagnostics import Diagnostic, Span, error, has_errors
from ..gcpause import gc_paused
from ..model import CADENCE_MONTHS, Contract, Plan, RatingPlan
from ..money import EXACT, ZERO, exact_arithmetic, plain, rounder
from .. import rules as engine
from . import parallel
from ..usage.records import REJECTION_REASONS, Aggregate, UsageReport
from .credits import Bill, GrantLedger, burn, purchase_number
from .documents import (
    Breakage,
    CreditApplied,
    Invoice,
    InvoiceRun,
    Line,
    PeriodRange,
    Reconciliation,
    TierLine,
)
from .periods import Period
from .pricing import BeyondLastTier, NegativeQuantity, Priced, price_quantity
from .scope import scope
from .unsupported import unsupported
from .segments import (
    Change,
    Segment,
    SplitInfo,
    affecting,
    changes,
    pricing_key,
    within,
)

Aggregator = Callable[..., UsageReport]
# contract -> period start -> (grant id, amount): credit draws made final already (the ledger's)
Drawn = Mapping[str, Mapping[dt.date, Sequence[tuple[str, Decimal]]]]


@dataclass(frozen=True)
class PricedLine:
    """A usage line with everything `explain` shows about how it was priced."""

    contract: str
    period: Period
    line: Line
    aggregate: Aggregate
    resolution: engine.Resolution
    priced: Priced
    exact: Decimal
    split: SplitInfo | None = None  # set when a rate changes inside the period


@dataclass
class Evaluation:
    run: InvoiceRun | None
    diagnostics: list[Diagnostic]
    usage: UsageReport | None = None
    priced: list[PricedLine] = field(default_factory=list)
    ledgers: list[GrantLedger] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.run is not None and not has_errors(self.diagnostics)


_MISSING = object()


class _LineFacts(NamedTuple):
    """A resolution and what a line priced by it shows, shared by every line of its shape."""

    resolution: engine.Resolution
    rule: str
    modifiers: tuple[str, ...]
    dimensions: dict[str, str]  # the line's present dimension values (copied by each Line)
    title: str


def _q(value: Decimal) -> Decimal:
    """A quantity or unit price as written: exact, without storage zeros."""
    exponent = value.as_tuple().exponent
    if exponent == 0:
        return value
    if exponent > 0 or value == value.to_integral_value():
        return value.quantize(_ONE)
    return Decimal(plain(value))


_ONE = Decimal(1)


class _Pricer:
    """Prices usage aggregates for one plan, caching rule resolution."""

    def __init__(self, plan: RatingPlan, explain: bool = True):
        self.plan = plan
        self.explain = explain  # keep each resolution's candidates (for `explain`)
        self.cache: dict[tuple, _LineFacts | None] = {}
        self.shape_ids: dict[tuple[str, str], tuple[int, bool]] = {}
        self.interned: dict[tuple, int] = {}
        self.layers: dict[tuple[str, str], tuple[engine.Layer, ...]] = {}

        self.changes: dict[tuple[str, str], tuple[Change, ...]] = {}
        self.descriptions: dict[int, tuple[str, tuple[str, ...]]] = {}
        self.normal: dict[Decimal, Decimal] = {}
        self.orders: dict[str, dict[str, int]] = {}
        self.dim_keys: dict[tuple, tuple] = {}

    def layers_of(self, contract: Contract, meter: str) -> tuple[engine.Layer, ...]:
        lk = (contract.name, meter)
        if lk not in self.layers:
            self.layers[lk] = engine.layers_for(self.plan, contract, meter)
        return self.layers[lk]

    def changes_of(self, contract: Contract, meter: str) -> tuple[Change, ...]:
        lk = (contract.name, meter)
        if lk not in self.changes:
            self.changes[lk] = changes(self.layers_of(contract, meter))
        return self.changes[lk]

    def resolve(self, contract: Contract, meter: str, dims: tuple, day: dt.date):
        """The resolution for a line; cached per *shape*, not per contract.

        Contracts that share a plan, have no override for the meter and carry
        the same dimensions resolve alike, so ten thousand contracts on three
        plans resolve each (meter, dimension values) a handful of times. The
        day matters only when the layers carry dated rules.
        """
        facts = self.facts(contract, meter, dims, day)
        return None if facts is None else facts.resolution

    def facts(self, contract: Contract, meter: str, dims: tuple, day: dt.date,
              shape: tuple[int, bool] | None = None) -> "_LineFacts | None":
        """What every line of this shape shares: the resolution and what it prints.

        One dictionary lookup per line for the shape (interned to a number;
        `shape` when the caller has looked it up already) and one for the line;
        everything else is worked out on a shape's first line.
        """
        shape, dated = shape or self.shape_of(contract, meter)
        key = (shape, dims, day) if dated else (shape, dims)
        found = self.cache.get(key, _MISSING)
        if found is _MISSING:
            present = {k: v for k, v in dims if v is not None}
            attrs = engine.line_attributes(contract, present)
            resolution = engine.resolve(self.layers_of(contract, meter), attrs, day, explain=self.explain)
            found = self.cache[key] = None if resolution is None else _LineFacts(
                resolution, *self.describe(resolution), present, self.plan.meters[meter].title)
        return found

    def describe(self, resolution: engine.Resolution) -> tuple[str, tuple[str, ...]]:
        """The winning rule's origin and the modifiers' text, once per resolution."""
        key = id(resolution)
        found = self.descriptions.get(key)
        if found is None:
            origins = self.plan.origins
            found = self.descriptions[key] = (
                origins.get(resolution.base.id, resolution.base.id),
                tuple(f"{plain(r.action.percent)}% {r.action.direction} ({origins.get(r.id, r.id)})"
                      for r, _ in resolution.modifiers))
        return found

    def exact(self, value: Decimal) -> Decimal:
        """`_q` for the few distinct prices and tier bounds of a plan, memoised."""
        found = self.normal.get(value)
        if found is None:
            found = self.normal[value] = _q(value)
        return found

    def shape_of(self, contract: Contract, meter: str) -> tuple[int, bool]:
        """(the shape as a number, whether its rules are dated), worked out once per
        (contract, meter). A shape is what a resolution depends on besides the
        line: plan, meter, the contract when it overrides the meter, contract
        dimensions."""
        found = self.shape_ids.get((contract.name, meter))
        if found is None:
            shape = (contract.plan, meter, contract.name if meter in contract.overrides else None,
                     tuple(sorted(contract.dimensions.items())))
            found = self.shape_ids[(contract.name, meter)] = (
                self.interned.setdefault(shape, len(self.interned)), bool(self.changes_of(contract, meter)))
        return found

    def charge_order(self, plan: Plan) -> dict[str, int]:
        """Meter name -> its position among the plan's charges (lines follow it)."""
        found = self.orders.get(plan.name)
        if found is None:
            found = self.orders[plan.name] = {c.meter: i for i, c in enumerate(plan.charges)}
        return found

    def dims_key(self, dims: tuple) -> tuple:
        """How lines of one meter sort by dimension values: absent first, then by text."""
        found = self.dim_keys.get(dims)
        if found is None:
            found = self.dim_keys[dims] = tuple((v is not None, v or "") for _, v in dims)
        return found


def _describe_dims(dims: tuple) -> str:
    shown = ", ".join(f'{k} = "{v}"' for k, v in dims if v is not None)
    return shown or "no dimensions"


def evaluate(plan: RatingPlan, usage_files: Sequence[str], through: dt.date, *,
             aggregator: Aggregator | None = None, skip_bad_rows: str | None = None,
             memory_limit: str | None = None, threads: int | None = None,
             progress: Callable[[int, int, str], None] | None = None,
             sink: Callable[[list[Invoice]], None] | None = None, workers: int = 1,
             only: str | None = None, drawn: Drawn | None = None,
             spans: Mapping[str, Span] | None = None) -> Evaluation:
    """Price usage into invoices.

    A plan using a construct the pricer does not bill yet is refused first, one E970
    per use (`unsupported.py`), placed by the compiler's `spans` when given, else by
    the plan's origins: never a bill that ignores part of the pricing.

    `drawn` (contract -> period start -> (grant id, amount) pairs) are credit
    draw-downs made final already (the ledger's issued invoices, see
    docs/ledger.md): those periods draw exactly that, and later ones burn
    from what is left (`credits.burn`). Without it, every draw is worked out.

    With `only`, that contract alone is priced (`--contract NAME`): the usage
    stage still accounts for every event of every contract, so the run's
    counts are those of the whole run, but the invoices, breakage, explain
    data and credit ledgers are that contract's. Contracts are priced
    independently of each other, so they are what pricing them all gives.

    With `sink`, each contract's invoices are handed to it as soon as they are
    built and then dropped (the returned run holds none, and no explain data or
    credit ledgers are kept): a run over ten thousand contracts never holds
    them all at once. Invoices reach the sink in the order the run would list
    them. A sink with `wants_priced` set is called `sink(invoices, priced)`,
    with the contract's `PricedLine`s (without explain candidates) too.

    With `workers` > 1 and a sink that can be split (`RunWriter`), a large run
    prices its contracts in that many processes (see `parallel.py`); the
    output is byte-identical to pricing them in one. "Large" is from the
    sink's `min_lines` usage lines, if it says (a sink that renders files
    splits sooner), else `parallel.MIN_LINES`.
    """
    refused = unsupported(plan, spans)
    if refused:
        return Evaluation(None, refused)
    with gc_paused(), exact_arithmetic():
        return _evaluate(plan, usage_files, through, aggregator=aggregator, skip_bad_rows=skip_bad_rows,
                         memory_limit=memory_limit, threads=threads, progress=progress, sink=sink,
                         workers=workers, only=only, drawn=drawn)


@dataclass
class _Billed:
    """What pricing a range of contracts gives besides the invoices a sink took."""

    invoices: list[Invoice] = field(default_factory=list)
    written: int = 0  # invoices handed to the sink
    breakage: list[Breakage] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    priced: list[PricedLine] = field(default_factory=list)
    ledgers: list[GrantLedger] = field(default_factory=list)


@dataclass
class _Run:
    """Everything pricing a contract needs, worked out once per run."""

    plan: RatingPlan
    through: dt.date
    pricer: _Pricer
    contract_periods: dict[str, list[Period]]
    splits: dict[str, dict[str, tuple[Segment, ...]]]
    by_window: dict[str, list[Aggregate]]
    money: Callable[[Decimal], Decimal]
    keep_priced: bool  # a `PricedLine` per usage line: for explain, views, or the sink
    drawn: "Drawn" = field(default_factory=dict)  # credit draws made final already, by contract


def _evaluate(plan: RatingPlan, usage_files: Sequence[str], through: dt.date, *,
              aggregator: Aggregator | None, skip_bad_rows: str | None,
              memory_limit: str | None, threads: int | None,
              progress: Callable[[int, int, str], None] | None,
              sink: Callable[[list[Invoice]], None] | None = None, workers: int = 1,
              only: str | None = None, drawn: Drawn | None = None) -> Evaluation:
    if aggregator is None:
        from ..usage import aggregate_usage as aggregator  # the DuckDB path

    contracts = sorted(plan.contracts.values(), key=lambda c: c.name)
    if only is not None:
        contracts = [c for c in contracts if c.name == only]
    pricer = _Pricer(plan, explain=sink is None)
    terms, windows, contract_periods, splits = scope(plan, through, pricer.changes_of)
    report = aggregator(plan, terms, windows, list(usage_files), skip_bad_rows=skip_bad_rows,
                        memory_limit=memory_limit, threads=threads)
    if has_errors(report.diagnostics):
        return Evaluation(None, list(report.diagnostics), report)

    by_window: dict[str, list[Aggregate]] = {}
    for agg in report.aggregates:
        by_window.setdefault(agg.window, []).append(agg)
    run_ctx = _Run(plan, through, pricer, contract_periods, splits, by_window,
                   rounder(plan.currency, plan.rounding),
                   keep_priced=sink is None or getattr(sink, "wants_priced", False), drawn=drawn or {})

    ranges = []
    if hasattr(sink, "part"):
        lines = [sum(len(by_window.get(p.key, ())) for p in contract_periods[c.name]) + 1 for c in contracts]
        ranges = parallel.ranges(contracts, workers, len(report.aggregates), lines,
                                 minimum=getattr(sink, "min_lines", parallel.MIN_LINES))
    if len(ranges) > 1:
        parts = [sink] + [sink.part() for _ in ranges[1:]]  # type: ignore[union-attr]

        def work(index: int, share: list[Contract]) -> _Billed:
            if index:
                parts[index].restart()  # type: ignore[union-attr]  # a failed child may have written some
            billed = _bill(run_ctx, share, parts[index], progress if index == 0 else None, len(contracts))
            parts[index].flush()  # type: ignore[union-attr]
            return billed

        shares = parallel.run_in_parts(ranges, work)
        for part, billed in zip(parts[1:], shares[1:]):
            sink.absorb(part, billed.written)  # type: ignore[union-attr]
    else:
        shares = [_bill(run_ctx, contracts, sink, progress, len(contracts))]

    diagnostics: list[Diagnostic] = list(report.diagnostics)
    for billed in shares:
        diagnostics.extend(billed.diagnostics)
    priced_lines = [pl for billed in shares for pl in billed.priced]
    all_ledgers = [ledger for billed in shares for ledger in billed.ledgers]
    if has_errors(diagnostics):
        return Evaluation(None, diagnostics, report, priced_lines, all_ledgers)

    rejected = {r: report.rejected.get(r, 0) for r in REJECTION_REASONS}
    run = InvoiceRun(
        through=through,
        currency=plan.currency,
        invoices=[inv for billed in shares for inv in billed.invoices],
        breakage=[b for billed in shares for b in billed.breakage],
        rejected=rejected,
        events=Reconciliation(read=report.events_read, billed=report.billed,
                              rejected=sum(rejected.values())),
    )
    return Evaluation(run, diagnostics, report, priced_lines, all_ledgers)


def _bill(run: _Run, contracts: Sequence[Contract], sink, progress, total: int) -> _Billed:
    """Price `contracts` (in order): their invoices go to `sink`, or are kept."""
    out = _Billed()
    for done, contract in enumerate(contracts):
        if progress is not None:
            progress(done * total // len(contracts), total, contract.name)
        docs, ledgers = _contract_invoices(run, contract, out)
        if sink is None:
            out.invoices.extend(docs)
            out.ledgers.extend(ledgers)
        else:
            if run.keep_priced:
                sink(docs, out.priced)
                out.priced = []
            else:
                sink(docs)
            out.written += len(docs)
            for period in run.contract_periods[contract.name]:  # this contract's usage is priced
                run.by_window.pop(period.key, None)
        for ledger in ledgers:
            if ledger.breakage is not None:
                out.breakage.append(Breakage(
                    contract=contract.name,
                    grant=ledger.grant.id,
                    description=ledger.grant.description,
                    granted=ledger.amount,
                    used=ledger.used,
                    amount=ledger.breakage,
                    expired=ledger.closed_on,
                ))
    return out


def _contract_invoices(run: _Run, contract: Contract, out: _Billed) -> tuple[list[Invoice], list[GrantLedger]]:
    """One contract's invoices (credit purchases and usage, in run order) and credit ledgers;
    lines that cannot be priced become diagnostics in `out`."""
    plan, money, through = run.plan, run.money, run.through
    currency = plan.currency
    plan_obj = plan.plans[contract.plan]
    late = _due_beyond_calendar(contract, run.contract_periods[contract.name], through)
    if late is not None:
        out.diagnostics.append(late)
        return [], []
    keep = out.priced if run.keep_priced else None
    usage_invoices: list[dict] = []
    for period in run.contract_periods[contract.name]:
        lines = _fee_lines(plan_obj, period, money)
        for agg, line, priced, resolution, info, problem in _usage_lines(
                plan, run.pricer, contract, plan_obj, period, run.by_window,
                run.splits.get(period.key, {}), money):
            if problem is not None:
                out.diagnostics.append(problem)
                continue
            lines.append(line)
            if keep is not None:
                keep.append(PricedLine(contract.name, period, line, agg, resolution, priced,
                                       priced.amount, info))
        minimum = _minimum_line(contract, period, lines, money)
        if minimum is not None:
            lines.append(minimum)
        subtotal = sum((ln.amount for ln in lines), money(ZERO))
        usage_invoices.append({
            "period": period,
            "lines": lines,
            "subtotal": subtotal,
            "number": f"{contract.name}-{period.start:%Y%m%d}",
        })

    bills = [Bill(u["period"].key, u["number"], u["period"].start, u["period"].end, u["subtotal"])
             for u in usage_invoices]
    applied, ledgers = burn(contract, bills, through, money, run.drawn.get(contract.name))

    docs: list[Invoice] = []
    for index, grant in enumerate(contract.credits):
        if grant.price is None or grant.granted > through:
            continue
        price = money(grant.price)
        docs.append(Invoice(
            number=purchase_number(contract.name, grant, index),
            kind="credit_purchase",
            **_heading(contract, currency, grant.granted, grant.granted, issued=grant.granted),
            lines=[Line(kind="credit", charge="credit",
                        description=grant.description or "Prepaid credit",
                        quantity=Decimal(1), unit="grant", unit_price=price, amount=price,
                        rule=plan.origins.get(grant.id))],
            subtotal=price,
            credits_applied=money(ZERO),
            total=price,
        ))
    for u in usage_invoices:
        period: Period = u["period"]
        draws = applied.get(period.key, [])
        credit_total = sum((amount for _, amount in draws), money(ZERO))
        docs.append(Invoice(
            number=u["number"],
            kind="usage",
            **_heading(contract, currency, period.start, period.end, issued=period.end),
            lines=u["lines"],
            subtotal=u["subtotal"],
            credits_applied=credit_total,
            credits=[CreditApplied(grant=ledger.grant.id, description=ledger.grant.description,
                                   applied=amount, remaining=_balance_after(ledger, u["number"]))
                     for ledger, amount in draws],
            total=u["subtotal"] - credit_total,
        ))
    docs.sort(key=lambda inv: (inv.issued, inv.kind != "credit_purchase", inv.period.start, inv.number))
    return docs, ledgers


def _due_beyond_calendar(contract: Contract, periods: list[Period], through: dt.date) -> Diagnostic | None:
    """E511 when the contract's last invoice would be due after 9999-12-31 (its issue
    date plus `payment net N` days): a due date is a date, or the run stops."""
    issued = [p.end for p in periods[-1:]] + [g.granted for g in contract.credits
                                              if g.price is not None and g.granted <= through]
    if not issued:
        return None
    last = max(issued)
    try:
        last + dt.timedelta(days=contract.payment_days)
    except OverflowError:
        return error("E511", f"contract `{contract.name}`: the invoice issued {last} would be due "
                             f"{contract.payment_days} days later, after the calendar's last day (9999-12-31)",
                     hints=["bill through an earlier date, or shorten the contract's `payment net`"])
    return None


def _heading(contract: Contract, currency: str, start: dt.date, end: dt.date, *, issued: dt.date) -> dict:
    """The fields every invoice of a contract fills the same way."""
    return {
        "contract": contract.name,
        "customer": contract.customer,
        "plan": contract.plan,
        "period": PeriodRange(start=start, end=end),
        "issued": issued,
        "due": issued + dt.timedelta(days=contract.payment_days),
        "payment_terms_days": contract.payment_days,
        "currency": currency,
        "autopay": contract.autopay,
    }


def _balance_after(ledger: GrantLedger, number: str) -> Decimal:
    for draw in ledger.draws:
        if draw.invoice == number:
            return draw.balance
    return ledger.balance


def _fee_lines(plan: Plan, period: Period, money) -> list[Line]:
    lines = []
    for fee in plan.fees:
        months = CADENCE_MONTHS.get(fee.cadence)
        numerator, denominator = (1, 1) if months is None else (period.months, months)
        share = period.fraction(numerator, denominator)
        lines.append(Line(
            kind="fee",
            charge=fee.name,
            description=fee.name,
            quantity=_shown(period.share(Decimal(1), numerator, denominator)),
            unit=fee.cadence,
            unit_price=fee.amount,
            amount=money(period.share(fee.amount, numerator, denominator)),
            prorated=_shown(period.proration) if period.is_partial else None,
            share=share if share.denominator != 1 else None,
        ))
    return lines


_SHOWN = Decimal("1e-10")


def _shown(share: Decimal) -> Decimal:
    """A prorated share as shown on a line (7/30 -> 0.2333333333); the amount is
    computed from the exact fraction, never from this."""
    if share.as_tuple().exponent < -10:
        share = share.quantize(_SHOWN, context=EXACT)
    return _q(share)


def _usage_lines(plan: RatingPlan, pricer: _Pricer, contract: Contract, plan_obj: Plan,
                 period: Period, by_window: dict[str, list[Aggregate]],
                 splits: dict[str, tuple[Segment, ...]], money):
    """The period's usage lines, in charge order, then by dimension values, then in time.

    Yields (aggregate, line, priced, resolution, split info, None), or a
    diagnostic as the last item when a line cannot be priced.
    """
    order = pricer.charge_order(plan_obj)
    dims_key = pricer.dims_key
    last = len(order)
    if not splits:
        # no rate changes inside the period (the common case): one aggregate per line
        ranked = sorted(by_window.get(period.key, ()),
                        key=lambda a: (order.get(a.meter, last), a.meter, dims_key(a.dimensions)))
        i, n = 0, len(ranked)
        while i < n:
            agg, j = ranked[i], i + 1
            while j < n and ranked[j].meter == agg.meter and ranked[j].dimensions == agg.dimensions:
                j += 1
            if j > i + 1:
                agg = _combined(ranked[i:j])
            i = j
            yield _whole_line(plan, pricer, contract, plan_obj, period, agg, money)
        return
    groups: dict[tuple, list[tuple[Segment | None, Aggregate]]] = {}
    for agg in by_window.get(period.key, []):
        groups.setdefault((agg.meter, agg.dimensions), []).append((None, agg))
    for segments in splits.values():
        for seg in segments:
            for agg in by_window.get(seg.key, []):
                groups.setdefault((agg.meter, agg.dimensions), []).append((seg, agg))
    ranked_keys = sorted(groups, key=lambda g: (order.get(g[0], last), g[0], dims_key(g[1])))
    for meter_name, dims in ranked_keys:
        entries = groups[(meter_name, dims)]
        whole = [agg for seg, agg in entries if seg is None]
        by_segment = {seg.key: agg for seg, agg in entries if seg is not None}
        if whole:
            # unsplit; a conforming usage stage never puts a split meter's usage here
            agg = whole[0] if len(whole) == 1 else _combined(whole)
            yield _whole_line(plan, pricer, contract, plan_obj, period, agg, money)
        if by_segment:
            yield from _segment_lines(plan, pricer, contract, plan_obj, period, meter_name, dims,
                                      splits[meter_name], by_segment, money)


def _whole_line(plan: RatingPlan, pricer: _Pricer, contract: Contract, plan_obj: Plan,
                period: Period, agg: Aggregate, money):
    """A line for the whole period; `explain` is told of rate changes inside it that
    apply to the line but do not split it (max, unique and latest meters)."""
    info = None
    shape = pricer.shape_of(contract, agg.meter)
    if shape[1]:  # the contract's rules for this meter change on some date
        dated = pricer.changes_of(contract, agg.meter)
        inside = affecting(within(dated, period.start, period.end), _attrs(contract, agg.dimensions))
        if inside:
            fn = plan.meters[agg.meter].aggregation.function
            info = SplitInfo(period, period.start, period.end, (), inside, ZERO, agg.quantity, fn)
    return _priced_line(plan, pricer, contract, plan_obj, period, agg, period.start, info,
                        money, ZERO, agg.quantity, True, shape)


def _attrs(contract: Contract, dims: tuple) -> dict[str, str]:
    return engine.line_attributes(contract, {k: v for k, v in dims if v is not None})


def _combined(aggs: list[Aggregate]) -> Aggregate:
    """Aggregates of one line from several segments (additive meters only) as one."""
    return Aggregate(aggs[0].window, aggs[0].meter, aggs[0].dimensions,
                     sum((a.quantity for a in aggs), ZERO), sum(a.events for a in aggs))


def _segment_lines(plan: RatingPlan, pricer: _Pricer, contract: Contract, plan_obj: Plan,
                   period: Period, meter_name: str, dims: tuple, segments: tuple[Segment, ...],
                   by_segment: dict[str, Aggregate], money):
    """One usage line per run of adjacent segments that the same rule prices, in time order.

    Tiers fill across the runs: each run starts at the quantity the earlier ones used.
    """
    runs: list[tuple[object, list[Segment]]] = []
    for seg in segments:
        key = pricing_key(pricer.resolve(contract, meter_name, dims, seg.start))
        if runs and runs[-1][0] == key:
            runs[-1][1].append(seg)
        else:
            runs.append((key, [seg]))
    billed = [(segs, [by_segment[s.key] for s in segs if s.key in by_segment]) for _, segs in runs]
    billed = [(segs, aggs) for segs, aggs in billed if aggs]
    quantities = [sum((a.quantity for a in aggs), ZERO) for _, aggs in billed]
    total = sum(quantities, ZERO)
    nonzero = [i for i, q in enumerate(quantities) if q != 0]
    final = nonzero[-1] if nonzero else len(billed) - 1
    all_changes = affecting(pricer.changes_of(contract, meter_name), _attrs(contract, dims))
    fn = plan.meters[meter_name].aggregation.function
    already = ZERO
    for index, (segs, aggs) in enumerate(billed):
        start, end = segs[0].start, segs[-1].end
        agg = _combined(aggs)
        cuts = tuple(c for c in all_changes
                     if (c.day == start and start != period.start) or (c.day == end and end != period.end))
        info = SplitInfo(period, start, end, cuts, within(all_changes, start, end), already, total, fn,
                         index == final)
        if not info.is_segment and not info.unchanged:
            info = None  # the rates that change inside the period do not concern this line
        yield _priced_line(plan, pricer, contract, plan_obj, period, agg, start, info, money,
                           already, total, index == final)
        # a segment below zero is E510 (the run stops); it is not carried into the next
        # segment's position, which would report that segment too
        already += max(agg.quantity, ZERO)


def _priced_line(plan: RatingPlan, pricer: _Pricer, contract: Contract, plan_obj: Plan, period: Period,
                 agg: Aggregate, day: dt.date, info: SplitInfo | None, money,
                 already: Decimal, total: Decimal, final: bool, shape: tuple[int, bool] | None = None):
    """One usage line: (aggregate, line, priced, resolution, split info, None), or a
    diagnostic as the last item. The hot path of a large run: per-shape facts
    come from the pricer's cache, so only the arithmetic is done per line."""
    facts = pricer.facts(contract, agg.meter, agg.dimensions, day, shape)
    if facts is None:
        return agg, None, None, None, None, error(
            "E502", f"unpriced usage: no rule prices {_where(contract, agg, period, info)} "
                    f"({plain(agg.quantity)} units)",
            hints=[f"add a `default` rule to meter `{agg.meter}`'s rate card or to plan "
                   f"`{plan_obj.name}`'s charge; ratecard never bills unpriced usage as zero"])
    resolution = facts.resolution
    try:
        priced = price_quantity(resolution.price, agg.quantity, already=already, total=total, final=final)
    except BeyondLastTier as exc:
        return agg, None, None, None, None, error(
            "E503", f"usage beyond the last tier: {plain(exc.quantity)} units for "
                    f"{_where(contract, agg, period, info)}, but the tiers stop at `up to {plain(exc.bound)}`",
            hints=["add an `above : PRICE` tier"])
    except NegativeQuantity:
        return agg, None, None, None, None, _negative(plan, contract, agg, period, info)
    exact = pricer.exact
    line = Line(
        kind="usage",
        charge=agg.meter,
        description=facts.title,
        dimensions=facts.dimensions,
        quantity=_q(agg.quantity),
        unit=priced.unit_label,
        unit_price=exact(priced.unit_price) if priced.unit_price is not None else None,
        amount=money(priced.amount),
        rule=facts.rule,
        modifiers=facts.modifiers,
        tiers=[TierLine(
                   lower=exact(s.lower), upper=exact(s.upper) if s.upper is not None else None,
                   quantity=_q(s.quantity), unit_price=exact(s.unit_price), flat=exact(s.flat),
                   amount=_q(s.amount))
               for s in priced.steps] if priced.steps else [],
        segment=PeriodRange(start=info.start, end=info.end) if info is not None and info.is_segment else None,
    )
    return agg, line, priced, resolution, info, None


def _where(contract: Contract, agg: Aggregate, period: Period, info: SplitInfo | None) -> str:
    """The line a diagnostic is about, in words (written only when a line cannot be priced)."""
    text = (f"contract `{contract.name}`, meter `{agg.meter}`, {_describe_dims(agg.dimensions)}, "
            f"period {period.start} to {period.end}")
    if info is not None and info.is_segment:
        text += f" (segment {info.start} to {info.end})"
    return text


def _negative(plan: RatingPlan, contract: Contract, agg: Aggregate, period: Period,
              info: SplitInfo | None) -> Diagnostic:
    """E510: a usage line whose quantity is below zero (the negative-quantity rule,
    docs/billing.md): an error naming the line, never a negative or zero amount."""
    how = plan.meters[agg.meter].aggregation
    what = how.function if how.field is None else f"{how.function} of `{how.field}`"
    events = f"{agg.events} event{'s' if agg.events != 1 else ''}"
    if how.function == "sum":
        hint = ("negative values are corrections: they net against the usage of the same line (meter, "
                "dimension values, and period, or segment where a rate changes inside it); date a "
                "correction in the period (or segment) of the usage it corrects")
    else:
        hint = (f"a `{how.function}` meter bills one value of the period, which must not be below zero; "
                "corrections are for `sum` meters")
    return error("E510", f"negative usage: {_where(contract, agg, period, info)} comes to "
                         f"{plain(agg.quantity)} ({what} over {events}); a line's quantity must not be "
                         f"below zero", hints=[hint])


def _minimum_line(contract: Contract, period: Period, lines: list[Line], money) -> Line | None:
    if contract.minimum is None:
        return None
    floor = money(period.share(contract.minimum))
    so_far = sum((ln.amount for ln in lines), ZERO)
    if so_far >= floor:
        return None
    gap = floor - so_far
    return Line(
        kind="minimum",
        charge="minimum",
        description=f"Minimum commitment true-up (minimum {plain(floor)})",
        quantity=Decimal(1),
        unit="period",
        unit_price=gap,
        amount=gap,
        prorated=_shown(period.proration) if period.is_partial else None,
    )
