"""What every command shares: exit codes, printing diagnostics, compiling paths."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from typing import Sequence

from ..compiler import Compiled, PathError, compile_paths, compile_sources, read_text
from ..diagnostics import Diagnostic, SourceMap, error, has_errors, render_json, render_text
from ..progress import Reporter
from ..report.visible import visible
from ..usage.records import memory_limit_arg

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

# The usage aggregator of `invoice`, `explain` and `credits`; None is `evaluate`'s
# default (the DuckDB engine). Tests may swap in the reference aggregator.
AGGREGATOR = None


class UsageError(Exception):
    """Bad command-line use: exit 2 with this message."""


# ----------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Output:
    """An option naming a file (or a directory) the command writes.

    A command lists its outputs with `p.set_defaults(outputs=(...))`; `cli.main`
    checks them all with `check_outputs` before the command runs."""

    dest: str  # the attribute of the parsed arguments
    option: str  # as the user writes it
    directory: bool = False


SKIP_BAD_ROWS = Output("skip_bad_rows", "--skip-bad-rows")


def check_outputs(args) -> None:
    """The one check of every output a command was given: none may be an input of
    the run (a .pricing file, a usage, aggregates or contracts file, a template),
    by any path, symlink or hard link; none may be a directory (a directory
    output: a file); each must be somewhere this process can write. Refused
    outputs are command-line mistakes (exit 2), found before anything runs.
    `args.protected` keeps the inputs, for outputs named later (`-o DIR`'s files).
    """
    from ..io import check_output_dir, check_output_file

    named = [(o, getattr(args, o.dest, None)) for o in getattr(args, "outputs", ())]
    named = [(o, path) for o, path in named if path]
    stdout = _stdout_file()
    if not named and stdout is None:
        return
    protected = run_inputs(args)
    if stdout is not None and protected.owner(stdout) is not None:  # `>> usage.jsonl`
        raise UsageError(f"standard output is {protected.owner(stdout)}, an input of this run; "
                         "redirect it to another file")
    for output, path in named:
        if output.directory:
            check_output_dir(path, output.option, protected)
        else:
            check_output_file(path, output.option, protected)
    for output, path in named:  # one output must not replace another either
        if not output.directory:
            protected.add(path, f"{output.option} {path}")
    args.protected = protected


def _stdout_file() -> str | None:
    """Standard output, as a path to check, when it is a regular file."""
    import os
    import stat

    try:
        fd = sys.stdout.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return f"/dev/fd/{fd}"
    except (OSError, ValueError, AttributeError):
        pass
    return None


def run_inputs(args):
    """Every file the command reads, from the arguments every command names them with."""
    import os

    from ..compiler import PathError, pricing_files
    from ..io import Protected

    protected = Protected()
    paths = list(getattr(args, "paths", None) or [])
    try:
        files = [str(p) for p in pricing_files([p for p in paths if p != "-"])]
    except PathError:  # the command reports it; protect what exists
        files = paths
    for path in files:
        protected.add(path, f"the .pricing file {path}")
    for dest, option in (("usage", "--usage"), ("aggregates", "--aggregates"), ("contracts", "--contracts")):
        for path in getattr(args, dest, None) or []:
            protected.add(path, f"{option} {path}")
    folder = getattr(args, "template_dir", None)
    if folder and os.path.isdir(folder):
        protected.add_tree(folder, f"--template-dir {folder}")
    return protected


class TakeValues(argparse._ExtendAction):
    """`--usage FILE...`: extends the list, and notes on the parser which words it
    took, so that a PATH it swallowed can be named (`cli.Parser`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        parser.took = (option_string, self.metavar or self.dest.upper(), list(values))


def add_format_flag(parser, choices=("text", "json"), default="text", help_text=None) -> None:
    parser.add_argument("--format", choices=choices, default=default,
                        help=help_text or "how to print the result and diagnostics")


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: SourceMap | None,
                      fmt: str = "text", stream=None) -> None:
    """The one place diagnostics are printed. In text, what a message quotes from the
    input (a usage row, a dimension value) is shown `visible`: a control character or a
    bidi override from a usage file is not written raw into the user's terminal."""
    stream = stream or sys.stderr
    if fmt == "json":
        stream.write(render_json(diagnostics))
    elif diagnostics:
        stream.write(render_text([_shown(d) for d in diagnostics], sources))
    stream.flush()


def _shown(d: Diagnostic) -> Diagnostic:
    return dataclasses.replace(
        d, message=visible(d.message), hints=tuple(visible(h) for h in d.hints),
        notes=tuple(dataclasses.replace(n, message=visible(n.message)) for n in d.notes))


def compile_project(paths: Sequence[str], contracts: Sequence[str] = ()) -> Compiled:
    """Compile the paths, with the JSON `contracts` files; a path that does not exist is a
    command-line mistake (exit 2)."""
    try:
        return compile_paths(paths, contracts=contracts)
    except PathError as exc:
        raise UsageError(str(exc)) from None


def compile_or_fail(paths: Sequence[str], fmt: str = "text", strict: bool = False,
                    contracts: Sequence[str] = ()) -> Compiled | None:
    """Compile; print diagnostics; None when the project cannot be used."""
    compiled = compile_project(paths, contracts)
    failed = has_errors(compiled.diagnostics) or compiled.plan is None
    if strict and compiled.diagnostics:
        failed = True
    if compiled.diagnostics or (fmt == "json" and failed):
        print_diagnostics(compiled.diagnostics, compiled.sources, fmt if failed else "text")
    return None if failed else compiled


# ----------------------------------------------------------------- evaluation commands


def parse_date(text: str, option: str = "--through"):
    """A `--through` date, bounded where it enters (billing/periods.py, LAST_THROUGH)."""
    import datetime as dt

    from ..billing.periods import LAST_THROUGH

    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} `{text}` is not a date (YYYY-MM-DD)") from None
    if day > LAST_THROUGH:
        raise UsageError(f"{option} {text} is too far ahead: ratecard bills through {LAST_THROUGH} "
                         f"at the latest")
    return day


def add_evaluation_args(p, *, contract_required: bool = False) -> None:
    """The arguments shared by `invoice`, `explain`, `credits`: what to price and how."""
    p.add_argument("paths", nargs="+", metavar="PATH", help=".pricing files or directories")
    sources = p.add_mutually_exclusive_group(required=True)
    sources.add_argument("--usage", nargs="+", action=TakeValues, metavar="FILE",
                         help="usage events: .jsonl, .csv or .parquet (several allowed)")
    sources.add_argument("--aggregates", nargs="+", action=TakeValues, metavar="FILE",
                         help="instead of usage events: the saved result (.parquet or .csv) of the "
                              "query `ratecard sql` prints (see docs/scale.md)")
    sources.add_argument("--usage-table", nargs="+", action=TakeValues, metavar="NAME",
                         help="with --engine spark: usage events in Spark tables or views "
                              "(NAME, SCHEMA.NAME, CATALOG.SCHEMA.NAME; see docs/scale.md)")
    p.add_argument("--through", required=True, metavar="DATE",
                   help="bill every period that has ended on or before DATE")
    p.add_argument("--contract", required=contract_required, metavar="NAME",
                   help="the contract to explain (required)" if contract_required
                   else "only this contract's invoices")
    p.add_argument("--contracts", action="append", default=[], metavar="FILE.json",
                   help="more contracts, in the contract API's JSON shape")
    p.add_argument("--skip-bad-rows", metavar="FILE",
                   help="write malformed usage rows (with reasons) to FILE and carry on "
                        "(FILE may not be an input)")
    p.add_argument("--memory-limit", metavar="SIZE", type=memory_limit_arg,
                   help="memory limit for the usage engine, e.g. 2GB (at least 64MiB)")
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                   help="where usage is aggregated: embedded DuckDB (default) or Spark (pip install "
                        "'ratecard[spark]'; see docs/scale.md)")
    p.add_argument("--price-in", choices=("engine", "python"), default=None,
                   help="with the embedded DuckDB engine or Spark: price the lines it can price exactly in the "
                        "engine, or every line in Python (the default: see docs/scale.md); the "
                        "invoices are the same, byte for byte")
    p.add_argument("--spark-master", metavar="URL",
                   help="with --engine spark: local[N], spark://HOST:PORT, yarn, or sc://HOST:PORT for "
                        "Spark Connect (default: $SPARK_REMOTE if set, else local[*])")
    p.set_defaults(outputs=(SKIP_BAD_ROWS,))


def usable_cpus() -> int:
    """The cores this process may run on (its affinity, where the platform says)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def evaluate_from_args(args, diag_format: str = "text", progress: Reporter | None = None, sink=None,
                       workers: int = 1, sink_for=None, drawn_for=None):
    """Compile, load JSON contracts, evaluate. Returns (evaluation, plan) or None after
    printing the diagnostics that stopped it. `progress(done, total, label)` is told
    as contracts are billed (see `ratecard.progress`). A sink that needs the plan
    is made by `sink_for(plan)` once the plan is compiled. `drawn_for(plan, compiled)`
    gives the credit draws made final already (`ratecard issue`: the ledger's)."""
    from ..billing import evaluate
    from ..billing.unsupported import unsupported
    from ..diagnostics import did_you_mean
    from pathlib import Path

    through = parse_date(args.through)
    aggregator = usage_aggregator(args)
    remote_ok = getattr(args, "engine", "duckdb") == "spark"  # Spark reads s3://, hdfs://, ... itself
    check_usage_files(args.usage or [], remote_ok=remote_ok)
    check_usage_files(getattr(args, "aggregates", None) or [], "--aggregates", "aggregates")
    loaded = load_plan(args, diag_format)
    if loaded is None:
        return None
    plan, compiled = loaded
    refused = unsupported(plan, compiled.spans)  # before a ledger is opened or usage read
    if refused:
        print_diagnostics(refused, compiled.sources, diag_format)
        return None
    if args.contract and args.contract not in plan.contracts:
        guess = did_you_mean(args.contract, plan.contracts)
        raise UsageError(f"unknown contract `{args.contract}`"
                         + (f" (did you mean `{guess}`?)" if guess else ""))
    if sink_for is not None:
        sink = sink_for(plan)
    drawn = drawn_for(plan, compiled) if drawn_for is not None else None
    if progress is not None:
        progress.start()
    evaluation = evaluate(plan, args.usage or args.aggregates or [], through, skip_bad_rows=args.skip_bad_rows,
                          memory_limit=args.memory_limit, aggregator=aggregator,
                          progress=progress, sink=sink, workers=workers, only=args.contract, drawn=drawn,
                          spans=compiled.spans, **_price_in(args))
    if progress is not None:
        progress.close()  # before any diagnostics are printed
    if evaluation.diagnostics:
        print_diagnostics(evaluation.diagnostics, compiled.sources, diag_format)
    if not evaluation.ok:
        return None
    return evaluation, plan


def _price_in(args) -> dict:
    """`--price-in`, as `evaluate`'s keyword (absent: its default)."""
    where = getattr(args, "price_in", None)
    return {} if where is None else {"price_in_engine": where == "engine"}


def check_usage_files(files, option: str = "--usage", what: str = "usage", remote_ok: bool = False) -> None:
    """Each file of `--usage` (or `--aggregates`) exists, is a file, and is named once.
    The same file twice, by any spelling (`./u.jsonl` and `u.jsonl`), a symlink or a
    hard link, is a command-line mistake: read twice, its events were counted twice as
    read and its bad rows named twice (docs/usage.md, "a file named twice")."""
    from pathlib import Path

    from ..io import Protected

    seen = Protected()
    remote: set[str] = set()
    for f in files:
        if remote_ok and "://" in f:  # Spark reads it; the same URL twice is the same file
            if f in remote:
                raise UsageError(f"{option} names the same file twice: `{f}`; name each file once")
            remote.add(f)
            continue
        if not Path(f).is_file():
            raise UsageError(f"{option} takes files, and `{f}` is a directory: name the files in it"
                             if Path(f).is_dir() and option == "--usage" else f"no such {what} file: {f}")
        earlier = seen.owner(f)
        if earlier is not None:
            raise UsageError(f"{option} names the same file twice: `{earlier}` and `{f}`; name each file once")
        seen.add(f, f)


def usage_aggregator(args):
    """The usage stage the arguments ask for: `--aggregates` files, Spark, or the default."""
    engine = getattr(args, "engine", "duckdb")
    tables = getattr(args, "usage_table", None)
    if tables and engine != "spark":
        raise UsageError("--usage-table needs --engine spark (the embedded DuckDB engine reads usage files: "
                         "export the table as Parquet and pass it with --usage)")
    if getattr(args, "aggregates", None):
        if engine != "duckdb" or getattr(args, "spark_master", None):
            raise UsageError("--aggregates are aggregated already: --engine and --spark-master do not apply")
        from ..usage.aggregates import aggregate_file

        return aggregate_file
    if engine == "spark":
        from functools import partial

        from ..usage.spark import aggregate_usage

        chosen = partial(aggregate_usage, master=args.spark_master, tables=tables or ())
        chosen.prices_lines = aggregate_usage.prices_lines  # type: ignore[attr-defined]  # (`--price-in engine`)
        return chosen
    if getattr(args, "spark_master", None):
        raise UsageError("--spark-master needs --engine spark")
    return AGGREGATOR


def load_plan(args, diag_format: str = "text"):
    """Compile `args.paths` with the `--contracts` JSON contracts: (plan, compiled), or
    None after printing the diagnostics that stopped it (the first half of `evaluate_from_args`)."""
    compiled = compile_or_fail(args.paths, diag_format, contracts=args.contracts)
    if compiled is None:
        return None
    return compiled.plan, compiled


def add_json_contracts(compiled: Compiled, contract_files: Sequence[str]):
    """The compiled plan with the JSON contracts added, and what compiling them reported
    beyond what `compiled` did (nothing printed). The project is compiled again with
    them: a JSON contract goes through every pass, check and lint a `contract` block does."""
    if not contract_files:
        return compiled.plan, []
    sources = [(f.path, compiled.sources.texts[f.path]) for f in compiled.files
               if f.path in compiled.sources.texts]
    contracts: list[tuple[str, str]] = []
    problems: list[Diagnostic] = []
    for path in contract_files:
        text, problem = read_text(path, "contracts file ")
        if problem is None:
            contracts.append((path, text))
        else:
            problems.append(error("E600", problem.message))
    again = compile_sources(sources, contracts=contracts)
    for path, _ in contracts:  # so that its diagnostics can quote it
        compiled.sources.add(path, again.sources.texts[path])
    before = set(compiled.diagnostics)
    problems += [d for d in again.diagnostics if d not in before]
    return (again.plan if again.plan is not None else compiled.plan), problems


def reconciliation_note(run) -> str:
    """One line that proves nothing was dropped: read = billed + rejected."""
    reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in run.rejected.items() if n)
    text = (f"events: {run.events.read} read = {run.events.billed} billed + "
            f"{run.events.rejected} rejected")
    return text + (f" ({reasons})" if reasons else "")
