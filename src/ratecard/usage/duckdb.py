"""Running the aggregation in embedded DuckDB, and reading the result back.

The common case is one pass: DuckDB reads every file, checks every row,
dedups, classifies and aggregates in a single query, and only the aggregates
(plus a handful of counts) come back to Python. When the query reports bad
rows, or a file cannot be parsed at all, the slow path reads the files row by
row (`bad_rows`) to name each bad line; with `--skip-bad-rows` the good rows
of those files are copied aside and the query runs again on the copies. The
flow is `driver.aggregate`'s; `DuckDBEngine` holds its steps in DuckDB.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import shutil
import tempfile
from typing import Sequence

from ..diagnostics import error, first_line
from ..model import RatingPlan
from .arrow_result import arrow_result, python_columns
from .column_aggregates import column_result
from .bad_rows import in_user_files, locate_bad_rows, write_clean_copy
from .driver import EngineFailure, EngineStopped, FoundBadRows, aggregate
from .overflow import is_overflow, overflow_problem
from .query import Relations, build_query
from .rating import rate
from .rating_query import RATED_COLUMNS, RatingRequest
from .records import ContractTerm, Counts, UsageReport, Window, memory_limit_problem, size_bytes
from .result import QueryResult, read_columns, read_result
from .row_reader import csv_header, has_rows, parquet_properties
from .rows import UnreadableFile, file_kind, needed_keys
from .sources import Source, engine_path, needs_exact_reading
from .sql import macros


def default_memory_limit() -> str:
    """Half of physical memory: room for the rest of the machine, and for Python."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(total // 2 // (1 << 20), 256)}MB"


def connect(spill: str, memory_limit: str | None = None, threads: int | None = None):
    """A DuckDB connection that spills to the folder `spill` (the caller's to remove)."""
    import duckdb

    config = {
        "memory_limit": memory_limit or default_memory_limit(),
        "temp_directory": spill,
        "preserve_insertion_order": False,
    }
    if threads:
        config["threads"] = threads
    try:
        conn = duckdb.connect(config=config)
    except duckdb.Error as exc:
        raise EngineFailure(first_line(exc)) from None
    # DuckDB draws a progress bar on standard output for a query running over 2 s (a large
    # file, a loaded machine): into the invoice JSON (seen: a 300,000-event run's document
    # began with it). Off, and never printed even if something turns the bar on
    # (`progress_bar_time` does); per connection only: `config` refuses them.
    conn.execute("SET enable_progress_bar = false")
    conn.execute("SET enable_progress_bar_print = false")
    for statement in macros():
        conn.execute(statement)
    try:  # naive times are UTC; without the ICU extension DuckDB is UTC already
        conn.execute("SET TimeZone = 'UTC'")
    except duckdb.Error:
        pass
    try:
        # Every join in the plan has the small relation (terms, windows,
        # segments) on its right, which is the side to build a hash table on.
        # DuckDB estimates a JSONL or CSV file at a few dozen rows and would
        # build on the events instead, which costs time and memory
        # (docs/scale.md, "Histories: usage").
        conn.execute("SET disabled_optimizers = 'build_side_probe_side'")
    except duckdb.Error:
        pass
    return conn



# ----------------------------------------------------------------- sources


def describe(conn, path: str) -> Source:
    """How a usage file is laid out (its kind and columns)."""
    kind = file_kind(path)
    if os.path.isdir(path):
        raise UnreadableFile(f"`{path}` is a directory; name the usage files in it")
    if not os.path.isfile(path):
        raise UnreadableFile(f"cannot open usage file `{path}`")
    if kind == "jsonl":
        return Source(path, "jsonl")
    if kind == "csv":
        return Source(path, "csv", tuple((name, "VARCHAR") for name in csv_header(path)))
    where = engine_path(path)
    try:
        import pyarrow.parquet as pq

        layout = parquet_properties(pq.read_schema(path))
        columns, count = _parquet_columns(conn, where)
    except UnreadableFile:
        raise
    except Exception as exc:  # duckdb.Error, pyarrow.ArrowInvalid: not a Parquet file
        raise UnreadableFile(f"cannot read `{path}` as Parquet: {first_line(exc)}") from None
    props = dict(columns).get("properties") or ""
    if layout == "struct":
        fields = _struct_fields(conn, where)
    elif layout == "map":
        fields = (("", _map_value_type(props)),)
    else:
        fields = ()
    return Source(path, "parquet", columns, layout, fields, rows=count)


def flat_parquet(conn, path: str) -> Source | None:
    """A Parquet file that holds one column per property (no `properties` column),
    described by DuckDB alone, with its row count from the footer; None for any other
    file, or one DuckDB cannot describe (`describe` and `row_reader.has_rows` then look
    at it with pyarrow, as they always did, and say the same).

    Why: a flat file needs nothing of pyarrow's schema (`parquet_properties` says
    `flat` from the names alone), and importing pyarrow and numpy was a tenth of a
    `--contract` run at 1M events, which reads its result as tuples (`run_query`)."""
    import duckdb

    if file_kind(path) != "parquet" or not os.path.isfile(path):
        return None
    try:
        columns, count = _parquet_columns(conn, engine_path(path))
    except duckdb.Error:
        return None
    if "properties" in (name for name, _ in columns):
        return None
    return Source(path, "parquet", columns, "flat", (), rows=count)


def described(conn, path: str) -> Source | None:
    """A usage file as the engine reads it (`describe`, a flat Parquet file by DuckDB
    alone: `flat_parquet`); None for a file with no events."""
    flat = flat_parquet(conn, path)
    if flat is not None:
        return flat if flat.rows else None
    return describe(conn, path) if has_rows(path) else None


def _parquet_columns(conn, where: str) -> tuple[tuple[tuple[str, str], ...], int]:
    """A Parquet file's columns as DuckDB types them, and its row count from the footer
    (for choosing the dedup plan, `events_fit`, and to skip a file with no events)."""
    rows = conn.execute("DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [where]).fetchall()
    (count,), = conn.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)", [where]).fetchall()
    return tuple((name, kind.strip('"')) for name, kind, *_ in rows), int(count or 0)


def _map_value_type(kind: str) -> str:
    """`MAP(VARCHAR, DECIMAL(10, 2))` -> `DECIMAL(10, 2)`."""
    inner, depth = kind[kind.index("(") + 1:kind.rindex(")")], 0
    for i, ch in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            return inner[i + 1:].strip()
    return ""


def _struct_fields(conn, path: str) -> tuple[tuple[str, str], ...]:
    rows = conn.execute("DESCRIBE SELECT unnest(properties) FROM read_parquet(?, hive_partitioning = false)",
                        [path]).fetchall()
    return tuple((name, kind.strip('"')) for name, kind, *_ in rows)


# ----------------------------------------------------------------- relations


def _stamp(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def register_relations(conn, terms: Sequence[ContractTerm], windows: Sequence[Window]) -> Relations:
    """Terms, billing windows and segments as temporary tables DuckDB can join.

    Each is one statement whose columns are bound as lists and unnested, not
    Arrow tables: building an Arrow array from Python values makes pyarrow
    import pandas where it is installed, a cost paid at every run's start-up
    (docs/scale.md, "Histories: usage").
    """
    for name, rows, texts, times in _relation_rows(terms, windows):
        _create_table(conn, name, rows, texts, times)
    return _relations()


def _relation_rows(terms: Sequence[ContractTerm], windows: Sequence[Window]):
    """(table, rows, text columns, time columns) of each table the query joins."""
    periods = [w for w in windows if w.meter is None]
    segments = [w for w in windows if w.meter is not None]
    return (("rc_terms", terms, ("contract", "customer", "plan"), ("starts", "ends")),
            ("rc_windows", periods, ("key", "contract"), ("start", "end")),
            ("rc_segments", segments, ("key", "contract", "meter"), ("start", "end")))


def _relations() -> Relations:
    from sqlglot import exp

    return Relations(exp.to_table("rc_terms"), exp.to_table("rc_windows"), exp.to_table("rc_segments"))


def _create_table(conn, name: str, rows: Sequence, texts: tuple[str, ...], times: tuple[str, ...]) -> None:
    """CREATE TEMPORARY TABLE name AS SELECT UNNEST(CAST(? AS type[])) AS column, ...
    with the `texts` (VARCHAR) and `times` (TIMESTAMPTZ, UTC) attributes of `rows`:
    the values are bound parameters (lists of equal length), never SQL text."""
    columns = [[getattr(r, c) for r in rows] for c in texts]
    columns += [[_stamp(getattr(r, c)) for r in rows] for c in times]
    conn.execute(_create_table_sql(name, texts, times), columns)


@functools.lru_cache(maxsize=None)
def _create_table_sql(name: str, texts: tuple[str, ...], times: tuple[str, ...]) -> str:
    """The statement of `_create_table`: the same text for every run (the values are
    parameters), so built once per process, not three times per run (sqlglot's
    building and writing of it was a tenth of a small run)."""
    from sqlglot import exp

    kinds = [(c, "VARCHAR") for c in texts] + [(c, "TIMESTAMPTZ") for c in times]
    select = exp.select(*(
        exp.alias_(exp.Unnest(expressions=[exp.cast(exp.Placeholder(), exp.DataType.build(f"{kind}[]", dialect="duckdb"))]),
                   column, quoted=True)
        for column, kind in kinds))
    create = exp.Create(this=exp.to_table(name), kind="TABLE", expression=select, replace=True,
                        properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
    return create.sql(dialect="duckdb")


# What an event costs DuckDB held in memory (normalized text columns, as
# measured on the benchmark events), and what a line of a text file holds at
# least (so a file's size over-counts its events rather than under-counts).
EVENT_BYTES = 200
MIN_LINE_BYTES = {"jsonl": 100, "csv": 40}


def events_at_most(sources: Sequence[Source]) -> int | None:
    """At least as many events as the sources hold (a Parquet file's footer says; a text
    file's size over-counts them); None for a table (the engine's own)."""
    events = 0
    for source in sources:
        if source.rows is not None:
            events += source.rows
        elif source.kind in MIN_LINE_BYTES:
            events += os.path.getsize(source.path) // MIN_LINE_BYTES[source.kind] + 1
        else:
            return None
    return events


def events_fit(sources: Sequence[Source], memory_limit: str | None) -> bool:
    """Whether the events, held twice (`ev` read by three steps, then `cl`), fit in
    the engine's memory limit: what decides how the query dedups (`query.dedup`)."""
    limit = size_bytes(memory_limit or default_memory_limit())
    events = events_at_most(sources)
    if limit is None or events is None:
        return True
    return 2 * events * EVENT_BYTES <= limit


# Up to this many events a run's result is read as Python tuples, not through Arrow: the
# rows are few, and importing pyarrow (with numpy) is ~0.1 s, a fifth of a small run.
FEW_EVENTS = 20_000


def few_events(sources: Sequence[Source]) -> bool:
    events = events_at_most(sources)
    return events is not None and events <= FEW_EVENTS


def plain_json(conn, source: Source, keys: Sequence[str]) -> Source:
    """A JSONL source read by DuckDB's JSON reader when no line needs reading from its
    text (`sources.needs_exact_reading`): the check costs a fraction of what the exact
    reading of every line costs (docs/scale.md, "Histories: usage")."""
    import duckdb

    if source.kind != "jsonl":
        return source
    try:
        (count,), = conn.execute(needs_exact_reading(source, keys).sql(dialect="duckdb", copy=False)).fetchall()
    except duckdb.Error:  # a line the line reader refuses: the exact reading says which
        return source
    return dataclasses.replace(source, exact=False) if count == 0 else source


def run_query(conn, plan: RatingPlan, sources: Sequence[Source], relations: Relations,
              memory_limit: str | None = None, rating: RatingRequest | None = None,
              contract: str | None = None, in_parts: bool = False) -> QueryResult:
    """Execute the aggregation and read its result. When DuckDB's JSON
    reader refuses a file no line of which looked like it needed the exact reading
    (`plain_json`), the file is read exactly, which names every bad line. With
    `rating`, the whole-period lines come back priced (`rating.py`); with `contract`,
    that contract's lines only, and every event's counts (`query.build_query`); with
    `in_parts`, the aggregates are kept in the engine's columns until billing reads
    them, each range of contracts in the process that prices it (`column_aggregates`)."""
    import duckdb

    query, shape = build_query(plan, sources, relations,
                               rank_every_event=not events_fit(sources, memory_limit), contract=contract)
    rows = None
    try:
        if rating is not None:
            table = rate(conn, query, shape.dimensions, rating, held=shape.held)
        elif contract is not None or few_events(sources):
            # one contract's lines, or a small run's, are few: Python tuples, without importing
            # pyarrow (and numpy), a tenth of a second of such a run on a JSONL file
            rows = conn.execute(query.sql(dialect="duckdb", copy=False)).fetchall()
        else:
            # Arrow hands the result over in columns: far cheaper than Python tuples per row
            table = arrow_result(conn, query.sql(dialect="duckdb", copy=False))
    except duckdb.Error as exc:
        if any(not s.exact for s in sources):
            return run_query(conn, plan, [dataclasses.replace(s, exact=True) for s in sources], relations,
                             memory_limit, rating, contract, in_parts)
        raise EngineFailure(first_line(exc)) from None
    if rows is not None:
        return read_result(plan, rows, shape.dimensions)
    rated = len(RATED_COLUMNS) if rating is not None else 0
    if in_parts:
        return column_result(plan, table, shape.dimensions, rated)
    return read_columns(plan, python_columns(table), shape.dimensions, rated)


def replace_source(conn, source: Source, bad_lines: set[int] | None,
                   scratch: str) -> tuple[Source, list[int] | None]:
    """The source without its bad lines (a copy), and the user's line of each line of
    the copy; the source itself (and None) when it has none."""
    if not bad_lines:
        return source, None
    target, lines = write_clean_copy(source.path, bad_lines, scratch)
    return describe(conn, target), lines


# ----------------------------------------------------------------- the engine


class DuckDBEngine:
    """The usage stage's steps (`driver.UsageEngine`) in embedded DuckDB."""

    def __init__(self, memory_limit: str | None = None, threads: int | None = None,
                 rating: RatingRequest | None = None, contract: str | None = None, in_parts: bool = False):
        self.memory_limit, self.threads, self.rating = memory_limit, threads, rating
        self.contract, self.in_parts = contract, in_parts
        self.conn = None
        self.spill: str | None = None
        self.scratch: str | None = None
        self.sources: list[Source] = []
        self.relations: Relations | None = None

    def start(self) -> None:
        problem = memory_limit_problem(self.memory_limit)
        if problem is not None:
            raise EngineStopped(error("E501", f"cannot start the usage engine: --memory-limit {problem}"))
        # the folders exist before anything can fail or be interrupted, so `close` removes them
        self.spill = tempfile.mkdtemp(prefix="ratecard-spill-")
        try:
            self.conn = connect(self.spill, self.memory_limit, self.threads)
        except EngineFailure as exc:
            raise EngineStopped(error("E501", f"cannot start the usage engine: {exc}",
                                      hints=["check --memory-limit (e.g. 2GB)"])) from None
        self.scratch = tempfile.mkdtemp(prefix="ratecard-clean-")

    def describe(self, path: str) -> Source | None:
        return described(self.conn, path)

    def more_sources(self) -> list[Source]:
        return []

    def run(self, plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window],
            sources: list[Source]) -> QueryResult:
        keys = needed_keys(plan)
        self.sources = [plain_json(self.conn, s, keys) for s in sources]
        self.relations = register_relations(self.conn, terms, windows)
        return run_query(self.conn, plan, self.sources, self.relations, self.memory_limit, self.rating,
                         self.contract, self.in_parts)

    def find_bad_rows(self, plan: RatingPlan, files: Sequence[str], sources: list[Source],
                      result: QueryResult | None, failure: EngineFailure | None, skipping: bool) -> FoundBadRows:
        return FoundBadRows(*locate_bad_rows(plan, files, failure))

    def without_bad_rows(self, plan: RatingPlan, result: QueryResult | None,
                         found: FoundBadRows) -> tuple[QueryResult, int]:
        """The query again, on copies of the files without the bad rows, which keep
        every line's number; what DuckDB says about a copy is said about the user's file."""
        set_aside = len(found.rows)
        user, copy_lines, cleaned = {}, {}, []
        for source in self.sources:
            copy, lines = replace_source(self.conn, source, found.lines.get(source.path), self.scratch)
            user[copy.path] = source.path
            if lines is not None:
                copy_lines[copy.path] = lines
            if has_rows(copy.path):
                cleaned.append(copy)
        if not cleaned:
            return QueryResult([], {}, Counts()), set_aside
        try:
            kept = run_query(self.conn, plan, cleaned, self.relations, self.memory_limit, self.rating,
                             self.contract, self.in_parts)
        except EngineFailure as exc:
            message = in_user_files(str(exc), user, copy_lines)
            if is_overflow(message):  # the rows left are good: their sum is not
                raise EngineStopped(overflow_problem(plan, [s.path for s in cleaned], message)) from None
            raise EngineStopped(error("E501", f"cannot read usage: {message} (with the bad rows set aside)")) from None
        if kept.counts.bad:
            raise EngineStopped(error(
                "E501", f"cannot read usage: the engine still found {kept.counts.bad} bad rows in "
                        f"{', '.join(user[s.path] for s in cleaned)} with the rows the row reader named set aside"))
        return kept, set_aside

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        for folder in (self.spill, self.scratch):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


def aggregate_usage(plan: RatingPlan, terms: list[ContractTerm], windows: list[Window],
                    files: list[str], *, skip_bad_rows: str | None = None,
                    memory_limit: str | None = None, threads: int | None = None,
                    rating: RatingRequest | None = None, contract: str | None = None,
                    in_parts: bool = False) -> UsageReport:
    """Usage files -> aggregates per (window, meter, dimension values), with every
    event accounted for (see `records`), in embedded DuckDB; with `rating`, the
    lines it covers priced by the engine (`rating.py`); with `contract`, the
    aggregates of that contract alone, the counts still of every event; with
    `in_parts`, the aggregates kept in the engine's columns (`column_aggregates`)."""
    return aggregate(DuckDBEngine(memory_limit, threads, rating, contract, in_parts), plan, terms, windows,
                     files, skip_bad_rows)


aggregate_usage.prices_lines = True  # type: ignore[attr-defined]  # billing may hand it a `RatingRequest`
aggregate_usage.one_contract = True  # type: ignore[attr-defined]  # ... and `contract=NAME` (`--contract`)
aggregate_usage.reads_in_parts = True  # type: ignore[attr-defined]  # ... and `in_parts=True` (billing.parallel)


def query_key(plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window],
              files: Sequence[str], *, skip_bad_rows: str | None = None, memory_limit: str | None = None,
              threads: int | None = None, rating: RatingRequest | None = None) -> tuple | None:
    """What `aggregate_usage` with these arguments runs, as a value: the aggregation's SQL
    text over the files as they are laid out, the rows of the tables it joins (the values
    bound, `register_relations`), how its result is read back, and the options. Two calls with equal keys aggregate the
    same events into the same report, whatever else differs between their plans (their
    prices): `diff` runs the usage stage once for both sides then. None when a file cannot
    be described here (the run says why) or the lines are priced in the engine."""
    import duckdb

    if rating is not None:
        return None
    conn = duckdb.connect()
    try:
        sources = [source for source in (described(conn, path) for path in files) if source is not None]
    except (UnreadableFile, OSError, duckdb.Error):
        return None
    finally:
        conn.close()
    if not sources:
        return None
    query, _ = build_query(plan, sources, _relations(), rank_every_event=not events_fit(sources, memory_limit))
    tables = tuple((name, tuple(tuple(getattr(r, c) for c in texts + times) for r in rows))
                   for name, rows, texts, times in _relation_rows(terms, windows))
    # and how its rows are read back (`result.read_columns`): each meter's dimension names,
    # and a weighted meter's `per`, which integrates its pieces in Python, not in the SQL
    reading = tuple((m.name, m.dimension_names, m.aggregation.per)
                    for m in sorted(plan.meters.values(), key=lambda m: m.name))
    return (query.sql(dialect="duckdb", copy=False), needed_keys(plan), reading, tables, tuple(sources),
            skip_bad_rows, memory_limit, threads)


aggregate_usage.query_key = query_key  # type: ignore[attr-defined]  # `diff` shares a usage stage by it
