"""Running the usage aggregation on Spark (`ratecard invoice --engine spark`).

The same `build_query` tree the DuckDB engine runs, generated for Spark SQL:

    usage files -> one temp view in the flat table layout (id, type, customer,
      time and one text column per property the meters read; `spark_reading`)
    contract terms, billing windows, segments -> VALUES in the query (or temp
      views when there are many)
    the query (adapted by `dialects.spark_tree`, run in steps: `staged`) ->
      only the aggregate and count rows come back (`collect()`) ->
      `result.read_result`, as for DuckDB
    with billing's `RatingRequest` (`--price-in engine`): the whole-period
      lines priced on the executors before they come back (`spark_rating`)

The flow is `driver.aggregate`'s; `SparkEngine` holds its steps on Spark. The
query keeps bad rows out of dedup and of every aggregate, so when it counts
bad rows the files are read row by row in Python, as the DuckDB engine does,
to name each bad line, and with --skip-bad-rows the same result stands, the
bad rows subtracted from the counts.

pyspark is imported only when the engine runs (`spark_session`).
"""

from __future__ import annotations

import os
import uuid
from typing import Sequence

from sqlglot import exp

from ..diagnostics import error, first_line
from ..model import RatingPlan
from .bad_rows import locate_bad_rows
from .dialects import spark_tree
from .driver import EngineFailure, EngineStopped, FoundBadRows, aggregate
from .overflow import is_overflow, overflow_problem
from .query import Relations, build_query
from .rating_query import RATED_COLUMNS, RatingRequest
from .records import ContractTerm, Counts, UsageReport, Window
from .result import QueryResult, read_result
from .row_reader import csv_header, has_rows
from .rows import UnreadableFile, file_kind, needed_keys
from .sources import Source
from .spark_reading import UnreadableTable, events_view
from .spark_session import connect_url, session
from .warehouse import SEGMENTS, TERMS, WINDOWS, inline_relations, table_source, with_relations

# Past this many rows (terms + windows + segments), the relations are sent as
# temp views instead of VALUES inside the SQL text.
INLINE_LIMIT = 2000
# Settings a run needs, restored after it:
# - a key given twice is a bad row only when ratecard reads it (`rows`); Spark's
#   JSON parser refuses the whole line otherwise;
# - decimal arithmetic without precision loss, and ANSI: DECIMAL(38, 18) + DECIMAL(38, 18)
#   (a derived quantity) would otherwise be DECIMAL(38, 17), rounded silently, and an
#   overflow a NULL that SUM skips; with them it stays DECIMAL(38, 18), and an overflow
#   stops the query (the row reader then names the row), as in DuckDB.
_RUN_SETTINGS = {"spark.sql.variant.allowDuplicateKeys": "true",
                 "spark.sql.decimalOperations.allowPrecisionLoss": "false",
                 "spark.sql.ansi.enabled": "true"}


def _relation_views(spark, terms: Sequence[ContractTerm], windows: Sequence[Window], names) -> Relations:
    """The relations as temp views (when too many rows to inline)."""
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    def schema(columns):
        return StructType([StructField(n, TimestampType() if k.this == exp.DataType.Type.TIMESTAMPTZ
                                       else StringType()) for n, k in columns])

    periods = [w for w in windows if w.meter is None]
    segments = [w for w in windows if w.meter is not None]
    rows = ([(t.contract, t.customer, t.plan, t.starts, t.ends) for t in terms],
            [(w.key, w.contract, w.start, w.end) for w in periods],
            [(w.key, w.contract, w.meter, w.start, w.end) for w in segments])
    for name, columns, data in zip(names, (TERMS, WINDOWS, SEGMENTS), rows):
        spark.createDataFrame(data, schema(columns)).createOrReplaceTempView(name)
    return Relations(*(exp.to_table(n) for n in names))


def _query(plan, terms, windows, table, keys, relations):
    source = table_source(table, keys)
    if relations is None:
        query, shape = with_relations(plan, [source], inline_relations(terms, windows), keys)
    else:
        query, shape = build_query(plan, [source], relations, keys)
    return query, shape


def staged(query: exp.Select, suffix: str) -> tuple[list[tuple[str, str, bool]], str]:
    """The query as steps Spark runs one after the other: (view name, SELECT, cache it?)
    per CTE, then the final SELECT.

    DuckDB computes a `MATERIALIZED` CTE once however often the query reads it;
    Spark inlines a CTE at every reference, so the events would be read, parsed
    and deduplicated once per meter. Here each materialized CTE becomes a cached
    temp view (`CACHE TABLE`) and each other one a temp view; the SQL of every
    step is still the one tree's, adapted by `spark_tree`.
    """
    query = query.copy()
    ctes = list(query.args["with_"].expressions)
    query.set("with_", None)
    renames: dict[str, str] = {}
    steps = []
    for cte in ctes:
        body = cte.this
        _rename(body, renames)
        renames[cte.alias] = f"ratecard_{cte.alias}_{suffix}"
        steps.append((renames[cte.alias], spark_tree(body).sql(dialect="spark"),
                      bool(cte.args.get("materialized"))))
    _rename(query, renames)
    return steps, spark_tree(query).sql(dialect="spark")


def _rename(tree: exp.Expression, renames: dict[str, str]) -> None:
    """References to earlier steps -> their view names, keeping the step's name as alias."""
    for table in list(tree.find_all(exp.Table)):
        if table.args.get("db") is None and table.name in renames:
            original = table.name
            table.set("this", exp.to_identifier(renames[original]))
            if not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(original)))


def _run_staged(spark, steps, final: str, created: list[tuple[str, bool]], rated=None):
    """Each step a temp view of its DataFrame, not of its SQL text: a view made by
    `CREATE VIEW ... AS SELECT` keeps only its text, and Spark analyzes it again at
    every reference, with every view under it (the final SELECT reads `cl` once per
    meter: analyzing it took most of a small run's time). A DataFrame's view keeps
    its analyzed plan."""
    for name, select, cache in steps:
        created.append((name, cache))
        spark.sql(select).createOrReplaceTempView(name)
        if cache:
            spark.sql(f"CACHE TABLE {name}")
    if rated is not None:  # the final SELECT's lines priced on Spark (`spark_rating.rate`)
        return rated(final)
    return spark.sql(final).collect()


# ----------------------------------------------------------------- the engine


class SparkEngine:
    """The usage stage's steps (`driver.UsageEngine`) on Spark. `tables` are Spark
    tables or views of events (`--usage-table`), read besides the files."""

    def __init__(self, master: str | None = None, threads: int | None = None, tables: Sequence[str] = (),
                 rating: RatingRequest | None = None):
        self.master, self.threads, self.tables, self.rating = master, threads, tuple(tables), rating

    def start(self) -> None:
        """Nothing yet: the session starts once the files are known to be readable (`run`)."""

    def describe(self, path: str) -> Source | None:
        kind = file_kind(path)
        local = "://" not in path
        if local and not os.path.isfile(path):
            raise UnreadableFile(f"cannot open usage file `{path}`")
        if local and kind == "csv":
            csv_header(path)  # a name empty or given twice: `BadHeader`, said at line 1 (as DuckDB's describe)
        if local and not has_rows(path):
            return None
        return Source(path, kind)

    def more_sources(self) -> list[Source]:
        return [Source(table, "table") for table in self.tables]

    def run(self, plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window],
            sources: list[Source]) -> QueryResult:
        files = [s.path for s in sources if s.kind != "table"]
        try:
            import pyspark  # noqa: F401
        except ImportError:
            raise EngineStopped(error("E501", "cannot start the usage engine: pyspark is not installed",
                                      hints=["pip install 'ratecard[spark]' (Spark 4 needs Java 17 or later)"])) \
                from None
        try:
            spark = session(self.master, self.threads)
        except Exception as exc:  # Py4J, Java missing, Connect refused: all one diagnostic
            hint = ("check that a Spark Connect server listens there (--spark-master sc://HOST:PORT or "
                    "SPARK_REMOTE) and that pyspark's Connect client is installed (pip install 'pyspark[connect]')"
                    if connect_url(self.master) else "check --spark-master / SPARK_REMOTE, and that Java 17+ is on PATH")
            raise EngineStopped(error("E501", f"cannot start the usage engine (Spark): {first_line(exc)}",
                                      hints=[hint])) from None
        keys = needed_keys(plan)
        run = uuid.uuid4().hex[:12]
        events = f"ratecard_usage_{run}"
        names = tuple(f"ratecard_{n}_{run}" for n in ("terms", "windows", "segments"))
        created: list[tuple[str, bool]] = [(events, False)]
        saved = {key: spark.conf.get(key, None) for key in _RUN_SETTINGS}  # restored after the run
        for key, value in _RUN_SETTINGS.items():
            spark.conf.set(key, value)
        try:
            try:
                events_view(spark, files, keys, events, self.tables)
            except UnreadableTable as exc:
                raise EngineStopped(error("E501", str(exc),
                                          hints=["a table or view in Spark's catalog: NAME, SCHEMA.NAME or "
                                                 "CATALOG.SCHEMA.NAME"])) from None
            except Exception as exc:
                raise EngineStopped(error("E501", f"cannot read usage: {first_line(exc)}")) from None
            relations = None
            if len(terms) + len(windows) > INLINE_LIMIT:
                relations = _relation_views(spark, terms, windows, names)
                created += [(n, False) for n in names]
            query, shape = _query(plan, terms, windows, events, keys, relations)
            width = shape.dimensions
            steps, final = staged(query, run)
            rated = None
            if self.rating is not None:
                from .spark_rating import rate

                def rated(final):
                    return rate(spark, final, width, self.rating, windows, run, created, held=shape.held)
            try:
                rows = _run_staged(spark, steps, final, created, rated)
            except Exception as exc:
                message = first_line(exc)
                if is_overflow(message):  # a sum past DECIMAL(38, 18) (ANSI mode): named from local files
                    local = [] if self.tables else [f for f in files if "://" not in f]
                    raise EngineStopped(overflow_problem(plan, local, message)) from None
                raise EngineStopped(error("E501", f"cannot read usage: {message}")) from None
        finally:
            _clean_up(spark, created, saved)
        return read_result(plan, rows, width, len(RATED_COLUMNS) if self.rating is not None else 0)  # Row: a tuple

    def find_bad_rows(self, plan: RatingPlan, files: Sequence[str], sources: list[Source],
                      result: QueryResult | None, failure: EngineFailure | None, skipping: bool) -> FoundBadRows:
        """Local files are read row by row, with the DuckDB engine's messages. A
        table's rows, or a remote file's, have no file and line ratecard can name."""
        paths = [s.path for s in sources if s.kind != "table"]
        bad_count = result.counts.bad
        if self.tables or any("://" in p for p in paths):
            if skipping:
                return FoundBadRows([], {})
            where = "usage tables" if self.tables else "files ratecard cannot read locally"
            rows = "row" if bad_count == 1 else "rows"
            return FoundBadRows([], {}, error(
                "E500", f"{bad_count} bad usage {rows} (in {where}, so not listed one by one)",
                hints=["pass `--skip-bad-rows FILE` to bill the rest, or run on a local copy "
                       "(files, or the table exported as Parquet) to list them"]))
        found = FoundBadRows(*locate_bad_rows(plan, paths))
        if found.problem is None and skipping and len(found.rows) != bad_count:
            return FoundBadRows(found.rows, found.lines, error(
                "E501", "cannot read usage: rows still bad after skipping bad rows"))
        return found

    def without_bad_rows(self, plan: RatingPlan, result: QueryResult | None,
                         found: FoundBadRows) -> tuple[QueryResult, int]:
        """The one run's aggregates already leave the bad rows out: only the counts change."""
        counts = result.counts
        return QueryResult(result.aggregates, result.reasons,
                           Counts(counts.read - counts.bad, 0, counts.kept)), counts.bad

    def close(self) -> None:
        """Nothing: `run` drops its views and restores the session's settings itself."""


def _clean_up(spark, created: list[tuple[str, bool]], saved: dict[str, str | None]) -> None:
    """Drop the run's views (uncaching the cached ones) and restore the settings it changed."""
    for name, cached in reversed(created):
        try:
            if cached:
                spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
            spark.catalog.dropTempView(name)
        except Exception:
            pass
    for key, value in saved.items():
        try:
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
        except Exception:
            pass


def aggregate_usage(plan: RatingPlan, terms: list[ContractTerm], windows: list[Window],
                    files: list[str], *, skip_bad_rows: str | None = None,
                    memory_limit: str | None = None, threads: int | None = None,
                    master: str | None = None, tables: Sequence[str] = (),
                    rating: RatingRequest | None = None) -> UsageReport:
    """The usage stage on Spark: same contract as `usage.aggregate_usage`. `tables`
    are Spark tables or views of events (`--usage-table`), read besides `files`; with
    `rating`, the lines it covers priced on the executors (`spark_rating`)."""
    return aggregate(SparkEngine(master, threads, tables, rating), plan, terms, windows, files, skip_bad_rows)


aggregate_usage.prices_lines = True  # type: ignore[attr-defined]  # billing may hand it a `RatingRequest`
