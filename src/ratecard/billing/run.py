"""The billing run: RatingPlan + usage aggregates + credits -> an `InvoiceRun`.

    periods per contract -> windows (periods, and segments of periods where a
      rate changes inside them; `scope.py`) -> usage stage (aggregates, rejections)
    -> per contract, in name order: its invoices (`invoices.py`), handed to a
       sink as they are built (`sinks.py`) or kept, in one process or split
       over several (`parallel.py`)
    -> breakage, rejected-event counts, the event reconciliation -> `InvoiceRun`

Rule resolution is cached per line shape for the whole run (`pricer.py`), so
pricing a million aggregates resolves each distinct line shape once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Collection, Mapping, Sequence

from ..diagnostics import Diagnostic, Span, has_errors
from ..gcpause import gc_paused
from ..model import Contract, RatingPlan
from ..money import exact_arithmetic, rounder
from ..usage.records import REJECTION_REASONS, Aggregate, UsageReport
from . import parallel
from .context import Drawn, RunContext
from .credits import AllowanceUse, GrantLedger
from .documents import Breakage, InvoiceRun, Reconciliation
from .engine_rating import PRICE_IN_ENGINE, EnginePrices, TooManyKeys
from .invoices import Billed, contract_invoices
from .periods import plan_parts
from .lines import PricedLine
from .pricer import Pricer
from .scope import scope
from .sinks import InvoiceSink, PricedLinesSink, SplittableSink
from .unsupported import unsupported

Aggregator = Callable[..., UsageReport]
Told = Callable[[int, int, str], None]  # progress: (contracts done, of, the contract now)


@dataclass
class Evaluation:
    run: InvoiceRun | None
    diagnostics: list[Diagnostic]
    usage: UsageReport | None = None
    priced: list[PricedLine] = field(default_factory=list)
    ledgers: list[GrantLedger] = field(default_factory=list)
    allowances: list[tuple[str, AllowanceUse]] = field(default_factory=list)  # (contract, period's allowance)

    @property
    def ok(self) -> bool:
        return self.run is not None and not has_errors(self.diagnostics)


def evaluate(plan: RatingPlan, usage_files: Sequence[str], through: dt.date, *,
             aggregator: Aggregator | None = None, skip_bad_rows: str | None = None,
             memory_limit: str | None = None, threads: int | None = None,
             progress: Told | None = None,
             sink: InvoiceSink | PricedLinesSink | None = None, workers: int = 1,
             only: str | Collection[str] | None = None, drawn: Drawn | None = None,
             spans: Mapping[str, Span] | None = None,
             price_in_engine: bool | None = None, prepared: Prepared | None = None) -> Evaluation:
    """Price usage into invoices.

    A plan using a construct the pricer does not bill yet is refused first, one E970
    per use (`unsupported.py`), placed by the compiler's `spans` when given, else by
    the plan's origins: never a bill that ignores part of the pricing. The same `spans`
    place the notes of E502 and E503 at the rate card to edit (`places.py`).

    `drawn` (contract -> (invoice kind, period start) -> (grant id, amount) pairs)
    are credit draw-downs made final already (the ledger's issued invoices, see
    docs/ledger.md): those periods draw exactly that, and later ones burn
    from what is left (`credits.burn`). Without it, every draw is worked out.

    With `only`, that contract alone is priced (`--contract NAME`): the usage
    stage still accounts for every event of every contract, so the run's
    counts are those of the whole run, but the invoices, breakage, explain
    data and credit ledgers are that contract's. Contracts are priced
    independently of each other, so they are what pricing them all gives.
    An aggregator marked `one_contract` (embedded DuckDB) is handed
    `contract=only` and returns that contract's aggregates alone (a window
    is one contract's), with every event still counted: at 1M events the
    other contracts' lines were most of `explain`'s time (docs/scale.md).
    `only` may also be a collection of names: those contracts, in run order
    (`diff` prices its contracts in parts, one per core), over a usage stage
    of every contract; an empty one runs the usage stage and prices nothing.

    With `sink`, each contract's invoices are handed to it as soon as they are
    built and then dropped (the returned run holds none, and no explain data or
    credit ledgers are kept): a run over ten thousand contracts never holds
    them all at once. Invoices reach the sink in the order the run would list
    them. A `PricedLinesSink` with `wants_priced` set is called
    `sink(invoices, priced)`, with the contract's `PricedLine`s (without
    explain candidates) too.

    With `workers` > 1 and a `SplittableSink` (`RunWriter`), a large run
    prices its contracts in that many processes (see `parallel.py`); the
    output is byte-identical to pricing them in one. "Large" is from the
    sink's `min_lines` usage lines (a sink that renders files splits sooner).

    With `price_in_engine` (default: `engine_rating.PRICE_IN_ENGINE`) and an aggregator that can price
    (`prices_lines`: embedded DuckDB, Spark), the usage engine prices the lines it can
    price exactly (`engine_rating.py`); without it every line is priced in
    Python (the oracle the engine's pricing is held to, tests/test_engine_rating.py).
    An aggregates file priced by `ratecard sql --priced` (`reads_rated`) has its figures
    checked against the Python pricer's, line by line (E504 where they differ), unless
    `price_in_engine` is False (then they are ignored).

    With `prepared` (`prepare`: the periods and the usage stage, worked out once), the
    contracts are priced from it: `aggregator` and the usage options are not used.
    """
    refused = unsupported(plan, spans) if prepared is None else prepared.refused
    if refused:
        return Evaluation(None, refused)
    with gc_paused(), exact_arithmetic():
        return _evaluate(plan, usage_files, through, aggregator=aggregator, skip_bad_rows=skip_bad_rows,
                         memory_limit=memory_limit, threads=threads, progress=progress, sink=sink,
                         workers=workers, only=only, drawn=drawn, price_in_engine=price_in_engine,
                         prepared=prepared, spans=spans)


@dataclass
class Prepared:
    """A run's periods and usage stage, worked out once, for pricing its contracts in
    parts (`evaluate(..., prepared=, only=)`): `diff` prices each side's contracts in
    two processes, which inherit this instead of working it out again."""

    pricer: Pricer
    contract_periods: dict
    splits: dict
    engine: EnginePrices | None
    report: UsageReport
    by_window: dict[str, list[Aggregate]]
    refused: list[Diagnostic]  # a construct the pricer does not bill yet (E970): nothing was run

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return list(self.refused or self.report.diagnostics)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def prepare(plan: RatingPlan, usage_files: Sequence[str], through: dt.date, *,
            aggregator: Aggregator | None = None, skip_bad_rows: str | None = None,
            memory_limit: str | None = None, threads: int | None = None,
            spans: Mapping[str, Span] | None = None, price_in_engine: bool | None = None,
            explain: bool = True) -> Prepared:
    """What `evaluate` works out before it prices a contract: the periods and the usage
    stage over every contract. Price from it with `evaluate(..., prepared=)`, runs without
    a sink (`explain`: each resolution's candidates kept, as such a run keeps them)."""
    refused = unsupported(plan, spans)
    with gc_paused(), exact_arithmetic():
        if refused:
            return Prepared(Pricer(plan, explain=explain), {}, {}, None, UsageReport(), {}, refused)
        contracts = sorted(plan.contracts.values(), key=lambda c: c.name)
        return _prepare(plan, usage_files, through, contracts, aggregator=aggregator, skip_bad_rows=skip_bad_rows,
                        memory_limit=memory_limit, threads=threads, price_in_engine=price_in_engine,
                        explain=explain)


def _prepare(plan: RatingPlan, usage_files: Sequence[str], through: dt.date, contracts: list[Contract], *,
             aggregator: Aggregator | None, skip_bad_rows: str | None, memory_limit: str | None,
             threads: int | None, price_in_engine: bool | None, explain: bool,
             narrow: str | None = None, in_parts: bool = False) -> Prepared:
    """The periods and the usage stage; with `narrow` (a contract's name) and an aggregator
    that can (`one_contract`), that contract's aggregates alone, every event still counted;
    with `in_parts` and an aggregator that can (`reads_in_parts`), the aggregates left in the
    engine's columns (`usage.column_aggregates`) and `by_window` empty: each range of
    contracts reads its own where it is priced (`_bill_in_parts`)."""
    if aggregator is None:
        from ..usage import aggregate_usage as aggregator  # the DuckDB path

    pricer = Pricer(plan, explain=explain)
    narrowed = narrow if narrow is not None and getattr(aggregator, "one_contract", False) else None
    terms, windows, contract_periods, splits = scope(plan, through, pricer.changes_of, segments_of=narrowed)
    engine, told = None, {}  # what the aggregator is told besides the usage
    if getattr(aggregator, "reads_rated", False):
        if price_in_engine is not False:  # a file from `sql --priced`: its figures, checked
            engine = EnginePrices(plan, pricer, checked=True)
            told["rating"] = _printed_fingerprint(engine, windows)
    elif (PRICE_IN_ENGINE if price_in_engine is None else price_in_engine) and \
            getattr(aggregator, "prices_lines", False):
        engine = EnginePrices(plan, pricer)  # the engine prices whole-period lines (`engine_rating.py`)
        told["rating"] = engine.request(contracts)
    if narrowed is not None:  # the contract's aggregates alone; the counts still every event's
        told["contract"] = narrowed
    elif in_parts and getattr(aggregator, "reads_in_parts", False):
        told["in_parts"] = True
    report = aggregator(plan, terms, windows, list(usage_files), skip_bad_rows=skip_bad_rows,
                        memory_limit=memory_limit, threads=threads, **told)
    by_window: dict[str, list[Aggregate]] = {}
    if not has_errors(report.diagnostics) and not hasattr(report.aggregates, "for_windows"):
        _group(report.aggregates, by_window)
    return Prepared(pricer, contract_periods, splits, engine, report, by_window, [])


def _evaluate(plan: RatingPlan, usage_files: Sequence[str], through: dt.date, *,
              aggregator: Aggregator | None, skip_bad_rows: str | None,
              memory_limit: str | None, threads: int | None, progress: Told | None,
              sink: InvoiceSink | PricedLinesSink | None = None, workers: int = 1,
              only: str | Collection[str] | None = None, drawn: Drawn | None = None,
              price_in_engine: bool | None = None, prepared: Prepared | None = None,
              spans: Mapping[str, Span] | None = None) -> Evaluation:
    contracts = sorted(plan.contracts.values(), key=lambda c: c.name)
    if only is not None:
        names = {only} if isinstance(only, str) else set(only)
        contracts = [c for c in contracts if c.name in names]
    splittable = sink if isinstance(sink, SplittableSink) else None
    if prepared is None:
        prepared = _prepare(plan, usage_files, through, contracts, aggregator=aggregator,
                            skip_bad_rows=skip_bad_rows, memory_limit=memory_limit, threads=threads,
                            price_in_engine=price_in_engine, explain=sink is None,
                            narrow=only if isinstance(only, str) else None,
                            in_parts=splittable is not None and workers > 1)
    pricer, engine, report = prepared.pricer, prepared.engine, prepared.report
    contract_periods, splits = prepared.contract_periods, prepared.splits
    if has_errors(report.diagnostics):
        return Evaluation(None, list(report.diagnostics), report)
    by_window = dict(prepared.by_window)  # a sink's run drops each contract's windows once priced

    wants_priced = isinstance(sink, PricedLinesSink) and sink.wants_priced
    run_ctx = RunContext(plan, through, pricer, contract_periods, splits, by_window,
                         rounder(plan.currency, plan.rounding),
                         keep_priced=sink is None or wants_priced, drawn=drawn or {}, engine=engine,
                         spans=spans or {})

    # the aggregates still in the engine's columns: each range reads its own (`_bill_in_parts`)
    read = getattr(report.aggregates, "for_windows", None)
    counts = report.aggregates.window_counts() if read is not None else {k: len(v) for k, v in by_window.items()}
    ranges = [contracts]
    if splittable is not None:
        lines = [sum(counts.get(part.key, 0)
                     for p in contract_periods[c.name] for part in plan_parts(c, p)) + 1 for c in contracts]
        minimum = parallel.MIN_LINES if splittable.min_lines is None else splittable.min_lines
        ranges = parallel.ranges(contracts, workers, len(report.aggregates), lines, minimum=minimum)
    if splittable is not None and len(ranges) > 1:
        shares = _bill_in_parts(run_ctx, ranges, splittable, progress, len(contracts), read)
    else:
        if read is not None:
            _group(report.aggregates, run_ctx.by_window)
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
        unused_allowances=[u for billed in shares for u in billed.unused_allowances],
        unused_discounts=[u for billed in shares for u in billed.unused_discounts],
    )
    return Evaluation(run, diagnostics, report, priced_lines, all_ledgers,
                      [a for billed in shares for a in billed.allowances])


def _printed_fingerprint(engine: EnginePrices, windows):
    """`rating(width, held)` for `aggregates.aggregate_file`: the fingerprint of the rating
    `ratecard sql --priced` prints for this pricing (every contract, whatever `only` is),
    worked out with `engine` (the file's figures are then checked line by line, `EnginePrices.agrees`)."""
    def fingerprint(width: int, held: bool) -> str | None:
        from ..usage.rating_print import printed_fingerprint

        try:
            printed = engine.printed(windows)
        except TooManyKeys:
            return None
        return printed_fingerprint(printed, width, held)
    return fingerprint


def _bill_in_parts(run: RunContext, ranges: list[list[Contract]], sink: SplittableSink, progress: Told | None,
                   total: int, read: Callable[[Collection[str]], list[Aggregate]] | None = None) -> list[Billed]:
    """Price each range of contracts into a part of `sink`, the first here and the others in
    forked processes (`parallel.py`); the parts are absorbed in range order. With `read`
    (`ColumnAggregates.for_windows`), each range's aggregates are read where it is priced."""
    parts = [sink] + [sink.part() for _ in ranges[1:]]

    def work(index: int, share: list[Contract]) -> Billed:
        if read is not None:
            _group(read(_windows_of(run, share)), run.by_window)
        if index:
            parts[index].restart()  # a failed child may have written some
        billed = _bill(run, share, parts[index], progress if index == 0 else None, total)
        parts[index].flush()
        return billed

    shares = parallel.run_in_parts(ranges, work)
    for part, billed in zip(parts[1:], shares[1:]):
        sink.absorb(part, billed.written)
    return shares


def _group(aggregates, by_window: dict[str, list[Aggregate]]) -> None:
    """`aggregates` added to `by_window`, each window's in their order."""
    for agg in aggregates:
        by_window.setdefault(agg.window, []).append(agg)


def _windows_of(run: RunContext, contracts: Sequence[Contract]) -> set[str]:
    """The keys of the windows the contracts' usage is aggregated in: their periods' plan
    parts, and the segments of those a rate change splits (`scope.scope`)."""
    keys = set()
    for contract in contracts:
        for period in run.contract_periods[contract.name]:
            for part in plan_parts(contract, period):
                keys.add(part.key)
                for segments in run.splits.get(part.key, {}).values():
                    keys.update(s.key for s in segments)
    return keys


def _bill(run: RunContext, contracts: Sequence[Contract], sink, progress: Told | None, total: int) -> Billed:
    """Price `contracts` (in order): their invoices go to `sink`, or are kept."""
    out = Billed()
    for done, contract in enumerate(contracts):
        if progress is not None:
            progress(done * total // len(contracts), total, contract.name)
        docs, ledgers = contract_invoices(run, contract, out)
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
            out.allowances = []  # kept, like ledgers, only when the invoices are
            for period in run.contract_periods[contract.name]:  # this contract's usage is priced
                for part in plan_parts(contract, period):
                    run.by_window.pop(part.key, None)
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
