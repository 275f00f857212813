"""`ratecard sql PATH... --through DATE`: the usage aggregation as SQL for a warehouse.

Prints the query the DuckDB engine runs, for usage kept in a warehouse table
(default `usage_events`: columns id, type, customer, time, and one text column
per event property the meters read), with the contract terms and billing
windows of the run written into it. Save its result as Parquet or CSV and
bill it with `ratecard invoice ... --aggregates FILE`. See docs/scale.md.
"""

from __future__ import annotations

import re
import sys

from ..diagnostics import error
from ..io import write_atomic
from .common import EXIT_INPUT, EXIT_OK, UsageError, load_plan, parse_date, print_diagnostics

_PART = r"[A-Za-z_][A-Za-z0-9_]*"
_TABLE = re.compile(rf"^{_PART}(\.{_PART}){{0,2}}$")


def register(sub) -> None:
    from ..usage.warehouse import DIALECTS, TIME_TYPES

    p = sub.add_parser("sql", help="print the usage aggregation as SQL for a warehouse")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".pricing files or directories")
    p.add_argument("--through", required=True, metavar="DATE",
                   help="bill every period that has ended on or before DATE (as `invoice` will)")
    p.add_argument("--contracts", action="append", default=[], metavar="FILE.json",
                   help="more contracts, in the contract API's JSON shape")
    p.add_argument("--dialect", choices=DIALECTS, default="duckdb", help="the SQL dialect (default duckdb)")
    p.add_argument("--table", default="usage_events", metavar="NAME",
                   help="the events table, optionally qualified: schema.table (default usage_events)")
    p.add_argument("--time-type", choices=TIME_TYPES, default="text",
                   help="how the table stores `time`: RFC 3339 text (default) or a timestamp column")
    p.add_argument("-o", "--output", metavar="FILE", help="write the query to FILE instead of standard output")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..billing.scope import terms_and_windows
    from ..usage.query import needed_keys
    from ..usage.warehouse import RESERVED_NAMES, property_columns, warehouse_sql

    through = parse_date(args.through)
    if not _TABLE.match(args.table):
        raise UsageError(f"--table `{args.table}`: expected NAME, SCHEMA.NAME or CATALOG.SCHEMA.NAME "
                         "(letters, digits and `_`)")
    if args.table.lower() in RESERVED_NAMES:
        raise UsageError(f"--table `{args.table}`: the query uses that name itself; "
                         "qualify it (schema.name) or use a view")
    loaded = load_plan(args)
    if loaded is None:
        return EXIT_INPUT
    plan, _ = loaded
    terms, windows = terms_and_windows(plan, through)
    keys = needed_keys(plan)
    columns = ["id", "type", "customer", f"time ({'RFC 3339 text' if args.time_type == 'text' else 'timestamp'})"]
    columns += [f"{k} (text)" for k in property_columns(keys)]
    periods = sum(1 for w in windows if w.meter is None)
    header = [
        f"ratecard sql ({args.dialect}): usage aggregation through {through.isoformat()}, "
        f"{len(terms)} contracts, {periods} billing periods, {len(windows) - periods} segments",
        f"reads table {args.table}: " + ", ".join(columns),
        "run it with the session time zone set to UTC, save the whole result as .parquet or .csv, then:",
        f"  ratecard invoice {' '.join(args.paths)} "
        + "".join(f"--contracts {c} " for c in args.contracts)
        + f"--through {through.isoformat()} --aggregates RESULT.parquet",
    ]
    text = "".join(f"-- {_one_line(line)}\n" for line in header)
    text += warehouse_sql(plan, terms, windows, args.dialect, table=args.table, keys=keys,
                          time_type=args.time_type)
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as exc:
            print_diagnostics([error("E001", f"cannot write {args.output}: {exc.strerror or exc}")], None)
            return EXIT_INPUT
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")
