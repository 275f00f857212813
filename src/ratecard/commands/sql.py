"""`ratecard sql PATH... --through DATE`: the usage aggregation as SQL for a warehouse.

Prints the query the DuckDB engine runs, for usage kept in a warehouse table
(default `usage_events`: columns id, type, customer, time, and one text column
per event property the meters read), with the contract terms and billing
windows of the run written into it. Save its result as Parquet or CSV and
bill it with `ratecard invoice ... --aggregates FILE`. See docs/scale.md.

With `--priced` (DuckDB, PostgreSQL, Spark), the query prices the whole-period lines too: the
rules are resolved here, once per key class (`EnginePrices.printed`), and
written into the query as VALUES relations; the result carries the rated
columns and their fingerprint (`rc_prices`), which `invoice --aggregates`
checks against the pricing it bills with.
"""

from __future__ import annotations

import sys

from ..io import write_atomic
from .common import EXIT_INPUT, EXIT_OK, Output, UsageError, load_plan, parse_date, print_diagnostics


def register(sub) -> None:
    from ..usage.records import DIALECTS, TIME_TYPES

    p = sub.add_parser("sql", help="print the usage aggregation as SQL for a warehouse",
                       description="Print the query that aggregates usage for `invoice`, for a warehouse "
                                   "table of events, with the contract terms and billing windows of the run "
                                   "written into it. Save its result as .parquet or .csv and bill it with "
                                   "`ratecard invoice ... --aggregates FILE` (docs/scale.md). With --priced "
                                   "the query prices the lines of whole periods too, and `invoice` bills "
                                   "with its amounts.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".pricing files or directories")
    p.add_argument("--through", required=True, metavar="DATE",
                   help="bill every period that has ended on or before DATE (as `invoice` will)")
    p.add_argument("--contracts", action="append", default=[], metavar="FILE.json",
                   help="more contracts, in the contract API's JSON shape")
    p.add_argument("--dialect", choices=DIALECTS, default="duckdb", help="the SQL dialect (default duckdb)")
    p.add_argument("--table", default="usage_events", metavar="NAME",
                   help="the events table, optionally qualified: schema.table or catalog.schema.table, "
                        "as the dialect writes names (`my-proj.billing.events` in BigQuery; a part may be "
                        "quoted) (default usage_events)")
    p.add_argument("--time-type", choices=TIME_TYPES, default="text",
                   help="how the table stores `time`: RFC 3339 text (default) or a timestamp column")
    p.add_argument("--priced", action="store_true",
                   help="price the whole-period lines in the query too (duckdb, postgres, spark): the result carries "
                        "each line's amount (rc_amount, ...) and a fingerprint of the prices (rc_prices); "
                        "`invoice --aggregates` bills with those amounts and refuses a result priced with "
                        "other prices. Lines it cannot price exactly are priced by `invoice` (docs/scale.md)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the query to FILE (atomically; not an input) instead of standard output")
    p.set_defaults(run=run, outputs=(Output("output", "-o"),))


def run(args) -> int:
    from ..billing.scope import terms_and_windows
    from ..billing.unsupported import unsupported
    from ..usage.rows import needed_keys
    from ..usage.warehouse import PRICED_DIALECTS, RESERVED_NAMES, property_columns, warehouse_sql

    through = parse_date(args.through)
    if args.priced and args.dialect not in PRICED_DIALECTS:
        raise UsageError(f"--priced prints the rating for {', '.join(PRICED_DIALECTS)} only: a printed query in "
                         f"{args.dialect} cannot hold its DECIMAL arithmetic exact (no overflow-safe form, or "
                         "scales it cannot hold); print the aggregation alone (without --priced) and let "
                         "`invoice` price it")
    table = table_name(args.table, args.dialect)
    if "." not in table and table.strip('"').lower() in RESERVED_NAMES:
        raise UsageError(f"--table `{args.table}`: the query uses that name itself; "
                         "qualify it (schema.name) or use a view")
    loaded = load_plan(args)
    if loaded is None:
        return EXIT_INPUT
    plan, compiled = loaded
    refused = unsupported(plan, compiled.spans)  # (its query aggregates for `invoice --aggregates`)
    if refused:
        print_diagnostics(refused, compiled.sources)
        return EXIT_INPUT
    terms, windows = terms_and_windows(plan, through)
    priced = _printed_rating(plan, windows) if args.priced else None
    keys = needed_keys(plan)
    columns = ["id", "type", "customer", f"time ({'RFC 3339 text' if args.time_type == 'text' else 'timestamp'})"]
    columns += [f"{k} (text)" for k in property_columns(keys)]
    periods = sum(1 for w in windows if w.meter is None)
    header = [
        f"ratecard sql ({args.dialect}): usage aggregation{' and rating' if priced else ''} "
        f"through {through.isoformat()}, "
        f"{len(terms)} contracts, {periods} billing periods, {len(windows) - periods} segments",
        f"reads table {args.table}: " + ", ".join(columns),
        "run it with the session time zone set to UTC"
        + (" and spark.sql.decimalOperations.allowPrecisionLoss=false (else `invoice` refuses its amounts)"
           if priced and args.dialect == "spark" else "")
        + ", save the whole result as .parquet or .csv, then:",
        f"  ratecard invoice {' '.join(args.paths)} "
        + "".join(f"--contracts {c} " for c in args.contracts)
        + f"--through {through.isoformat()} --aggregates RESULT.parquet",
    ]
    text = "".join(f"-- {_one_line(line)}\n" for line in header)
    text += warehouse_sql(plan, terms, windows, args.dialect, table=table, keys=keys,
                          time_type=args.time_type, priced=priced)
    if args.output:
        write_atomic(args.output, text)  # a failure is `io.OutputError`: E001 (cli.main)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _printed_rating(plan, windows):
    """The rating the printed query carries (`EnginePrices.printed`), or a UsageError when
    it would enumerate too many key classes."""
    from ..billing.engine_rating import MAX_PRINTED_KEYS, EnginePrices, TooManyKeys
    from ..billing.pricer import Pricer

    try:
        return EnginePrices(plan, Pricer(plan, explain=False)).printed(windows)
    except TooManyKeys as exc:
        raise UsageError(f"--priced: meter `{exc.meter}` alone has {exc.count} key classes (dimension values "
                         f"its rules name x billing-period days of dated rules; {exc.total} in all, more than "
                         f"{MAX_PRINTED_KEYS}): print the aggregation alone (without --priced) and let "
                         "`invoice` price it") from None


def table_name(text: str, dialect: str) -> str:
    """`--table` read as `dialect` writes a table name (`my-proj.billing.events` and
    `` `my-proj`.billing.events `` in BigQuery, `"Usage Events"` in PostgreSQL; a
    part that needs quoting is quoted), given back in sqlglot's own notation,
    which the query builder reads and each dialect prints with its own quotes."""
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        table = exp.to_table(text, dialect=dialect)
    except (SqlglotError, ValueError) as exc:
        raise UsageError(f"--table `{text}`: not a table name in {dialect} "
                         f"(expected NAME, SCHEMA.NAME or CATALOG.SCHEMA.NAME)") from None
    parts = [table.args.get(k) for k in ("catalog", "db", "this")]
    while parts and not parts[0]:  # an absent catalog, schema
        parts.pop(0)
    if len(table.parts) != len(parts) or any(not isinstance(p, exp.Identifier) or not p.name for p in parts):
        raise UsageError(f"--table `{text}`: expected NAME, SCHEMA.NAME or CATALOG.SCHEMA.NAME")
    return table.sql()


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")
