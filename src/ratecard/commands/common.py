"""What every command shares: exit codes, printing diagnostics, compiling paths."""

from __future__ import annotations

import sys
from typing import Sequence

from ..compiler import Compiled, PathError, compile_paths
from ..diagnostics import Diagnostic, SourceMap, has_errors, render_json, render_text
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


def add_format_flag(parser, choices=("text", "json"), default="text", help_text=None) -> None:
    parser.add_argument("--format", choices=choices, default=default,
                        help=help_text or "how to print the result and diagnostics")


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: SourceMap | None,
                      fmt: str = "text", stream=None) -> None:
    """The one place diagnostics are printed."""
    stream = stream or sys.stderr
    if fmt == "json":
        stream.write(render_json(diagnostics))
    elif diagnostics:
        stream.write(render_text(diagnostics, sources))
    stream.flush()


def compile_project(paths: Sequence[str]) -> Compiled:
    """Compile the paths; a path that does not exist is a command-line mistake (exit 2)."""
    try:
        return compile_paths(paths)
    except PathError as exc:
        raise UsageError(str(exc)) from None


def compile_or_fail(paths: Sequence[str], fmt: str = "text", strict: bool = False) -> Compiled | None:
    """Compile; print diagnostics; None when the project cannot be used."""
    compiled = compile_project(paths)
    failed = has_errors(compiled.diagnostics) or compiled.plan is None
    if strict and compiled.diagnostics:
        failed = True
    if compiled.diagnostics or (fmt == "json" and failed):
        print_diagnostics(compiled.diagnostics, compiled.sources, fmt if failed else "text")
    return None if failed else compiled


# ----------------------------------------------------------------- evaluation commands


def parse_date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"`{text}` is not a date (YYYY-MM-DD)") from None


def add_evaluation_args(p, *, contract_required: bool = False) -> None:
    """The arguments shared by `invoice`, `explain`, `credits`: what to price and how."""
    p.add_argument("paths", nargs="+", metavar="PATH", help=".pricing files or directories")
    sources = p.add_mutually_exclusive_group(required=True)
    sources.add_argument("--usage", nargs="+", action="extend", metavar="FILE",
                         help="usage events: .jsonl, .csv or .parquet (several allowed)")
    sources.add_argument("--aggregates", nargs="+", action="extend", metavar="FILE",
                         help="instead of usage events: the saved result (.parquet or .csv) of the "
                              "query `ratecard sql` prints (see docs/scale.md)")
    sources.add_argument("--usage-table", nargs="+", action="extend", metavar="NAME",
                         help="with --engine spark: usage events in Spark tables or views "
                              "(NAME, SCHEMA.NAME, CATALOG.SCHEMA.NAME; see docs/scale.md)")
    p.add_argument("--through", required=True, metavar="DATE",
                   help="bill every period that has ended on or before DATE")
    p.add_argument("--contract", required=contract_required, metavar="NAME",
                   help="only this contract's invoices")
    p.add_argument("--contracts", action="append", default=[], metavar="FILE.json",
                   help="more contracts, in the contract API's JSON shape")
    p.add_argument("--skip-bad-rows", metavar="FILE",
                   help="write malformed usage rows (with reasons) to FILE and carry on")
    p.add_argument("--memory-limit", metavar="SIZE", type=memory_limit_arg,
                   help="memory limit for the usage engine, e.g. 2GB (at least 64MiB)")
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                   help="where usage is aggregated: embedded DuckDB (default) or Spark (pip install "
                        "'ratecard[spark]'; see docs/scale.md)")
    p.add_argument("--spark-master", metavar="URL",
                   help="with --engine spark: local[N], spark://HOST:PORT, yarn, or sc://HOST:PORT for "
                        "Spark Connect (default: $SPARK_REMOTE if set, else local[*])")


def usable_cpus() -> int:
    """The cores this process may run on (its affinity, where the platform says)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def evaluate_from_args(args, diag_format: str = "text", progress=None, sink=None, workers: int = 1,
                       sink_for=None):
    """Compile, load JSON contracts, evaluate. Returns (evaluation, plan) or None after
    printing the diagnostics that stopped it. `progress(done, total, label)` is told
    as contracts are billed (see `ratecard.progress`). A sink that needs the plan
    is made by `sink_for(plan)` once the plan is compiled."""
    from ..billing import evaluate
    from ..diagnostics import did_you_mean
    from pathlib import Path

    through = parse_date(args.through)
    aggregator = usage_aggregator(args)
    remote_ok = getattr(args, "engine", "duckdb") == "spark"  # Spark reads s3://, hdfs://, ... itself
    for f in args.usage or []:
        if not (remote_ok and "://" in f) and not Path(f).is_file():
            raise UsageError(f"--usage takes files, and `{f}` is a directory: name the files in it"
                             if Path(f).is_dir() else f"no such usage file: {f}")
    for f in getattr(args, "aggregates", None) or []:
        if not Path(f).is_file():
            raise UsageError(f"no such aggregates file: {f}")
    loaded = load_plan(args, diag_format)
    if loaded is None:
        return None
    plan, compiled = loaded
    if args.contract and args.contract not in plan.contracts:
        guess = did_you_mean(args.contract, plan.contracts)
        raise UsageError(f"unknown contract `{args.contract}`"
                         + (f" (did you mean `{guess}`?)" if guess else ""))
    if sink_for is not None:
        sink = sink_for(plan)
    if progress is not None and hasattr(progress, "start"):
        progress.start()
    evaluation = evaluate(plan, args.usage or args.aggregates or [], through, skip_bad_rows=args.skip_bad_rows,
                          memory_limit=args.memory_limit, aggregator=aggregator,
                          progress=progress, sink=sink, workers=workers, only=args.contract)
    if progress is not None and hasattr(progress, "close"):
        progress.close()  # before any diagnostics are printed
    if evaluation.diagnostics:
        print_diagnostics(evaluation.diagnostics, compiled.sources, diag_format)
    if not evaluation.ok:
        return None
    return evaluation, plan


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

        return partial(aggregate_usage, master=args.spark_master, tables=tables or ())
    if getattr(args, "spark_master", None):
        raise UsageError("--spark-master needs --engine spark")
    return AGGREGATOR


def load_plan(args, diag_format: str = "text"):
    """Compile `args.paths` and add the `--contracts` JSON contracts: (plan, compiled), or
    None after printing the diagnostics that stopped it (the first half of `evaluate_from_args`)."""
    from pathlib import Path

    compiled = compile_or_fail(args.paths, diag_format)
    if compiled is None:
        return None
    for path in args.contracts:
        if not Path(path).is_file():
            raise UsageError(f"no such contracts file: {path}")
    plan, problems = add_json_contracts(compiled, args.contracts)
    if has_errors(problems):
        print_diagnostics(problems, compiled.sources, diag_format)
        return None
    return plan, compiled


def add_json_contracts(compiled: Compiled, contract_files: Sequence[str]):
    """The compiled plan with the JSON contracts added, and what loading them reported
    (nothing printed)."""
    from ..compiler.checks import customer_overlaps
    from ..contracts_json import load_contracts

    plan = compiled.plan
    problems: list[Diagnostic] = []
    for path in contract_files:
        contracts, origins, diags = load_contracts(path, plan)
        problems.extend(diags)
        plan = plan.with_contracts(contracts).model_copy(
            update={"origins": {**plan.origins, **origins}})
    if contract_files:
        problems.extend(customer_overlaps(plan, compiled.spans))
    return plan, problems


def reconciliation_note(run) -> str:
    """One line that proves nothing was dropped: read = billed + rejected."""
    reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in run.rejected.items() if n)
    text = (f"events: {run.events.read} read = {run.events.billed} billed + "
            f"{run.events.rejected} rejected")
    return text + (f" ({reasons})" if reasons else "")
