"""`ratecard diff`: what a pricing change does to real usage.

    ratecard diff OLD_PATH NEW_PATH --usage FILE... --through DATE
    ratecard diff --old-rev REV NEW_PATH... --usage FILE... --through DATE

Both sides are compiled (JSON contracts from `--contracts` are added to both)
and evaluated on the same usage; the result is printed as text, as Markdown
ready to paste into a pull request, or as JSON.

At scale (docs/scale.md, "diff shares the usage stage"): the usage stage runs
once when both sides' queries are equal (`SharedUsage`), each side's periods
are worked out once (`billing.prepare`), and the contracts are priced and
compared in ranges, one process per core, that hand back text.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..compiler import Compiled, compile_sources
from ..diagnostics import Diagnostic, error, has_errors
from .common import (
    EXIT_INPUT,
    EXIT_OK,
    SKIP_BAD_ROWS,
    TakeValues,
    UsageError,
    add_json_contracts,
    check_usage_files,
    compile_project,
    parse_date,
    print_diagnostics,
    usable_cpus,
)

if TYPE_CHECKING:
    from ..billing import Prepared
    from ..workflows.diff_compare import ContractChange
    from ..workflows.diff_view import ContractView, LineView

# The usage aggregator both sides are evaluated with; None is the DuckDB
# engine. Tests swap in the reference aggregator.
AGGREGATOR = None

# Billing, Jinja and the workflows (`workflows.diff_*`) are imported where `run`
# needs them: every command's module is imported for `--help` and argument
# parsing, and another command (`explain`, `check`) need not pay for them.


class NotShared(Exception):
    """A side that cannot take the other side's usage stage, asked from a thread that
    only borrows one (`_prepared_both`): it is prepared in the main thread instead."""


class SharedUsage:
    """The usage stage of both sides of a diff, run once when the sides would run the same one.

    A price change, the usual diff, leaves the contracts, the billing windows
    and the way meters read events as they were: both sides would aggregate
    the same events into the same aggregates. The key is the query itself where
    the aggregator can say what it would run (`query_key`: DuckDB's SQL text over
    these files, the rows of the tables it joins, how its result is read back, the
    options): equal keys, one run; a change that moves any of it (a meter's filter
    or dimension, a dated price that splits a period) runs the stage again. An aggregator without one
    (the reference, in tests) is keyed by the scope fingerprint an `--aggregates`
    file is checked against (E505: contracts, windows, plans' meters and how each
    reads events; not prices). On 1M events this saves one usage stage of ~3.5 s.
    """

    def __init__(self, aggregator=None):
        if aggregator is None:
            from ..usage import aggregate_usage as aggregator
        self.aggregator = aggregator
        self.reports: dict[tuple, Future] = {}  # a report, or the run making it (another thread's)
        self.unkeyed = 0  # runs no key was found for (never shared)
        self.lock = threading.Lock()
        self.started = threading.Event()  # an aggregation has started (`_prepared_both`)
        # one aggregation at a time: two would share the memory limit, and the engine's
        # warnings filters (`warnings.catch_warnings`) are the process's, not a thread's
        self.engine = threading.Lock()
        self.local = threading.local()  # `borrow_only`: this thread takes a report, never runs one

    @property
    def runs(self) -> int:
        """How many times the usage stage ran."""
        return len(self.reports) + self.unkeyed

    def __call__(self, plan, terms, windows, files, **options):
        key = self.key(plan, terms, windows, files, **options)
        with self.lock:
            found = None if key is None else self.reports.get(key)
            if found is None and getattr(self.local, "borrow_only", False):
                raise NotShared
            if key is None:
                self.unkeyed += 1
            elif found is None:
                self.reports[key] = Future()
        if found is not None:
            return found.result()  # made, or being made by the other side's thread
        self.started.set()
        try:
            with self.engine:
                report = self.aggregator(plan, terms, windows, files, **options)
        except BaseException as exc:
            if key is not None:
                self.reports[key].set_exception(exc)
            raise
        if key is not None:
            self.reports[key].set_result(report)
        return report

    def key(self, plan, terms, windows, files, **options) -> tuple | None:
        """What the run depends on: the query (`query_key`), or the scope fingerprint."""
        query_key = getattr(self.aggregator, "query_key", None)
        if query_key is not None:
            key = query_key(plan, terms, windows, files, **options)
            return None if key is None else ("query", key)
        from ..usage.warehouse import scope_fingerprint

        return ("scope", scope_fingerprint(plan, terms, windows), tuple(files), tuple(sorted(options.items())))


TEMPLATES = {"text": "diff.txt.j2", "markdown": "diff.md.j2"}


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare what two versions of the pricing bill on the same usage",
                       description="Bill the same usage with two versions of the pricing (two paths, or "
                                   "the files at a git revision and now) and show what changes: totals per "
                                   "contract, moved lines, and the rules behind them; text, Markdown for a "
                                   "pull request, or JSON.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="OLD_PATH NEW_PATH, or with --old-rev the NEW_PATH... whose files at REV are the old side")
    p.add_argument("--old-rev", metavar="REV",
                   help="the old side is the same .pricing files at this git revision")
    p.add_argument("--usage", nargs="+", action=TakeValues, required=True, metavar="FILE",
                   help="usage events: .jsonl, .csv or .parquet (several allowed)")
    p.add_argument("--through", required=True, metavar="DATE",
                   help="bill every period that has ended on or before DATE")
    p.add_argument("--contracts", action="append", default=[], metavar="FILE.json",
                   help="more contracts, in the contract API's JSON shape (added to both sides)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="text (default), markdown for a pull request, or json")
    p.add_argument("--max-lines", type=int, default=50, metavar="N",
                   help="moved lines shown in text and markdown (default 50; json shows all)")
    p.add_argument("--template-dir", metavar="DIR", help="templates that replace the shipped ones")
    p.add_argument("--skip-bad-rows", metavar="FILE",
                   help="write malformed usage rows (with reasons) to FILE and bill the rest on both sides "
                        "(FILE may not be an input)")
    p.set_defaults(run=run, outputs=(SKIP_BAD_ROWS,))


def run(args) -> int:
    through = parse_date(args.through)
    check_usage_files(args.usage)
    for f in args.contracts:
        if not Path(f).is_file():
            raise UsageError(f"no such contracts file: {f}")
    if args.max_lines < 0:
        raise UsageError("--max-lines must be 0 or more")
    if args.old_rev is not None:
        from ..workflows.diff_revision import RevisionError, sources_at_revision

        new_paths = list(args.paths)
        try:
            old_sources = sources_at_revision(args.old_rev, new_paths)
        except RevisionError as exc:
            raise UsageError(str(exc)) from None
        old_compiled = compile_sources(old_sources)
        old_label = f"{args.old_rev}:{' '.join(new_paths)}" if len(new_paths) == 1 else args.old_rev
    else:
        if len(args.paths) != 2:
            raise UsageError("expected OLD_PATH NEW_PATH (or --old-rev REV NEW_PATH...)")
        old_paths, new_paths = [args.paths[0]], [args.paths[1]]
        old_compiled = compile_project(old_paths)
        old_label = args.paths[0]
    new_compiled = compile_project(new_paths)
    new_label = " ".join(new_paths)

    sides = []
    for label, compiled in (("old", old_compiled), ("new", new_compiled)):
        plan, problems = _plan(compiled, args.contracts)
        shown = problems if label == "new" or has_errors(problems) else [d for d in problems if d.is_error]
        if shown:
            print(f"ratecard diff: {label} side ({old_label if label == 'old' else new_label}):",
                  file=sys.stderr)
            print_diagnostics(shown, compiled.sources)
        if plan is None:
            return EXIT_INPUT
        sides.append((label, compiled, plan))

    (_, old_c, old_plan), (_, new_c, new_plan) = sides
    if old_plan.currency != new_plan.currency:
        print_diagnostics([error("E900", f"the old side bills in {old_plan.currency} and the new side in "
                                         f"{new_plan.currency}; amounts cannot be compared")], None)
        return EXIT_INPUT
    from ..report.heap import frozen

    with frozen() as heap:  # both plans, then the old side's run, live until exit
        return _evaluate_and_show(args, sides, through, old_label, new_label, heap)


def _evaluate_and_show(args, sides, through, old_label: str, new_label: str, heap) -> int:
    """Each side's usage stage (shared when equal) and periods once, then the contracts in
    contiguous ranges, one per core (`billing.parallel`): each range priced on both sides and
    compared in its own process, which hands back only its contracts' money and moved lines
    as text. Contracts are priced independently, so the joined ranges are the whole diff, byte
    for byte; pricing is most of a large diff's time, and ran on one core."""
    from ..billing import parallel

    (_, _, old_plan), (_, _, new_plan) = sides
    usage = SharedUsage(AGGREGATOR)
    # each side's periods and usage stage, here, before the contracts are split: the
    # parts price from them (a forked part inherits them); nothing is priced yet
    stages = _prepared_both(sides, args.usage, through, usage, args.skip_bad_rows)
    heap.again()
    if not all(stage.ok for stage in stages):  # the diagnostics as pricing each side whole prints them
        return _whole(args, sides, through, usage)
    names = sorted(set(old_plan.contracts) | set(new_plan.contracts))
    lines = max(len(stage.report.aggregates) for stage in stages)
    ranges = parallel.ranges(names, usable_cpus(), lines,
                             minimum=parallel.MIN_LINES if MIN_LINES is None else MIN_LINES)
    if len(ranges) > 1:
        # every range in a child, which leaves without freeing what it priced; freeing a
        # range's two sides here (~1 s at 1M events) would hold up the join. The empty first
        # range is this process's: it waits
        ranges = [[], *ranges]
    parts = parallel.run_in_parts(
        ranges, lambda _, part: _compared(sides, stages, args.usage, through, frozenset(part)))
    heap.again()
    for index, (label, compiled, _) in enumerate(sides):
        diagnostics = list(stages[index].diagnostics) + [d for part in parts for d in part.diagnostics[index]]
        if diagnostics and (label == "new" or has_errors(diagnostics)):
            print(f"ratecard diff: evaluating the {label} side:", file=sys.stderr)
            print_diagnostics(diagnostics, compiled.sources)
        if has_errors(diagnostics):
            return EXIT_INPUT
    from ..workflows.diff_compare import PricingDiff
    from ..workflows.diff_view import joined_view

    old, new = (stage.report for stage in stages)
    whole = PricingDiff(currency=new_plan.currency, through=through,
                        contracts=[c for part in parts for c in part.contracts], lines=[],
                        events_read=new.events_read, events_billed_old=old.billed, events_billed_new=new.billed)
    view = joined_view(whole, [part.lines for part in parts], old_label=old_label, new_label=new_label,
                       usage=args.usage, max_lines=None if args.format == "json" else args.max_lines,
                       contracts=[v for part in parts for v in part.views])
    return _show(args, view)


def _prepared_both(sides, files, through, usage, skip_bad_rows: str | None = None) -> list[Prepared]:
    """Each side's periods and usage stage (`prepare`). While the engine aggregates the old
    side's usage (DuckDB lets go of the interpreter while it runs), a thread works out the
    new side's periods and takes the old side's report when their queries are equal
    (`SharedUsage`); a new side with a query of its own is prepared after, here. The engine
    runs in this thread, where a signal stops it, as before. The same stages as one after
    the other; ~0.4 s less at 1M events."""
    from ..billing import prepare

    def one(side) -> Prepared:
        _, compiled, plan = side
        # (without `explain`'s candidates per resolution: a diff reads the winning rule only)
        return prepare(plan, files, through, aggregator=usage, spans=compiled.spans, explain=False,
                       skip_bad_rows=skip_bad_rows)

    started = getattr(usage, "started", None)
    if started is None:  # an aggregator of its own (tests): one side after the other
        return [one(side) for side in sides]
    stopped = threading.Event()

    def borrowed() -> Prepared | None:
        started.wait()
        if stopped.is_set():
            return None
        usage.local.borrow_only = True
        try:
            return one(sides[1])
        except NotShared:
            return None

    with ThreadPoolExecutor(1) as pool:
        new = pool.submit(borrowed)
        try:
            old = one(sides[0])
        except BaseException:
            stopped.set()
            raise
        finally:
            started.set()  # the thread goes on (or stops) whether or not the engine ran
        return [old, new.result() or one(sides[1])]


# Below this many aggregates a diff is priced and compared in one process (`billing.parallel`);
# None is that module's threshold. Tests set 0 to split a small diff.
MIN_LINES: int | None = None


class ComparedPart(NamedTuple):
    """What pricing and comparing some contracts on both sides gives back to the diff,
    small enough to be pickled from a forked process: each side's pricing diagnostics
    (old, new), the contracts' money (as figures and as text) and the moved lines as text
    (none when a side failed)."""

    diagnostics: tuple[list[Diagnostic], list[Diagnostic]]
    contracts: list[ContractChange]
    views: list[ContractView]  # the same contracts as text
    lines: list[LineView]


def _compared(sides, stages: list[Prepared], files, through, names: frozenset[str]) -> ComparedPart:
    """Both sides priced for the contracts `names` from their `stages` (`prepare`), and compared."""
    from ..billing import evaluate

    evaluations = [evaluate(plan, files, through, spans=compiled.spans, only=names, prepared=stage)
                   for (_, compiled, plan), stage in zip(sides, stages)]
    # an evaluation's diagnostics are its usage report's, then its pricing's (`evaluate`)
    diagnostics = tuple(ev.diagnostics[len(ev.usage.diagnostics):] for ev in evaluations)
    if not all(ev.ok for ev in evaluations):
        return ComparedPart(diagnostics, [], [], [])
    (_, _, old_plan), (_, _, new_plan) = sides
    from ..workflows.diff_compare import compare
    from ..workflows.diff_view import contract_views, line_views

    part = compare(old_plan, evaluations[0], new_plan, evaluations[1], only=names)
    return ComparedPart(diagnostics, part.contracts, contract_views(part), line_views(part))


def _whole(args, sides, through, usage: SharedUsage) -> int:
    """A side whose usage stage failed: each side evaluated whole, in order, and what
    stopped it printed (the old side's problems, then the new side's)."""
    from ..billing import evaluate

    for label, compiled, plan in sides:
        ev = evaluate(plan, args.usage, through, aggregator=usage, spans=compiled.spans,
                      skip_bad_rows=args.skip_bad_rows)
        if ev.diagnostics and (label == "new" or not ev.ok):
            print(f"ratecard diff: evaluating the {label} side:", file=sys.stderr)
            print_diagnostics(ev.diagnostics, compiled.sources)
        if not ev.ok:
            return EXIT_INPUT
    raise AssertionError("a usage stage failed, but neither side's evaluation did")


def _show(args, view) -> int:
    from ..report.render import TemplateProblem, render
    from ..workflows.diff_view import diff_json

    if args.format == "json":
        sys.stdout.write(json_text(diff_json(view)))
        return EXIT_OK
    try:
        sys.stdout.write(render(TEMPLATES[args.format], args.template_dir, **view.context()))
    except TemplateProblem as exc:
        print_diagnostics([exc.diagnostic], None)
        return EXIT_INPUT
    return EXIT_OK


def json_text(doc: dict) -> str:
    """`json.dumps(doc, indent=2, ensure_ascii=False)` and a newline, the same text, written by
    pydantic's serializer: `json` indents in Python (its C encoder does not indent), ~0.8 s
    for a diff of 10,000 contracts and 20,000 moved lines, against ~0.1 s."""
    import pydantic_core

    return pydantic_core.to_json(doc, indent=2).decode("utf-8") + "\n"


def _plan(compiled: Compiled, contract_files: list[str]):
    """The compiled plan with the JSON contracts added, or None and what stopped it."""
    problems: list[Diagnostic] = list(compiled.diagnostics)
    if not compiled.ok:
        return None, problems
    plan, loaded = add_json_contracts(compiled, contract_files)
    problems.extend(loaded)
    return (None if has_errors(problems) else plan), problems
