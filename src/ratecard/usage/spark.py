"""Running the usage aggregation on Spark (`ratecard invoice --engine spark`).

The same `build_query` tree the DuckDB engine runs, generated for Spark SQL:

    usage files -> one temp view in the flat table layout (id, type, customer,
      time and one text column per property the meters read)
    contract terms, billing windows, segments -> VALUES in the query (or temp
      views when there are many)
    the query (adapted by `spark_tree`) -> only the aggregate and count rows
      come back (`collect()`) -> `read_result`, as for DuckDB

Reading a file gives the text the row reader (`rows`) defines: JSONL lines
are parsed with `try_parse_json` into VARIANT, which holds JSON numbers as
exact decimals; property values become text the same way as everywhere
(`1.50` -> "1.5", strings verbatim, JSON null -> absent); a row DuckDB could
not read (invalid JSON, `properties` not an object) is a bad row. When the
query counts bad rows, the files are read row by row in Python, as the DuckDB
engine does, to name each bad line.

pyspark is imported only when the engine runs: `spark_tree` (used by
`ratecard sql --dialect spark`) needs nothing but sqlglot.
"""

from __future__ import annotations

import os
import uuid
import warnings
from typing import Sequence

from sqlglot import exp

from ..diagnostics import error
from ..model import RatingPlan
from .query import Relations, build_query, needed_keys
from .records import REJECTION_REASONS, ContractTerm, UsageReport, Window
from .rows import UnreadableFile, file_kind
from .warehouse import SEGMENTS, TERMS, WINDOWS, inline_relations, table_source, with_relations

# Past this many rows (terms + windows + segments), the relations are sent as
# temp views instead of VALUES inside the SQL text.
INLINE_LIMIT = 2000
# Spark reads `2026-01-01T10:00+02:00` (minutes, then a zone) as NULL; RFC 3339
# and the other engines accept it. The view adds the seconds.
_NO_SECONDS = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})$"
_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")


# ----------------------------------------------------------------- the query for Spark


def spark_tree(tree: exp.Expression) -> exp.Expression:
    """Adapt `build_query`'s tree to Spark SQL (in place; returns it).

    - `WITH x AS MATERIALIZED`: Spark has no such hint; a plain CTE.
    - `TRY_CAST`: sqlglot writes a plain CAST for Spark unless the node is marked
      `safe`; with ANSI mode (the default since Spark 4) a plain CAST of a bad
      time or quantity would fail the whole query instead of flagging the row.
    - `ARG_MAX(v, ROW(t, id))` (the `latest` aggregation): Spark's MAX_BY
      orders by a STRUCT, field by field, as DuckDB orders a ROW.
    - TIMESTAMPTZ (-> TIMESTAMP, read in the session time
      zone, which the engine sets to UTC), REGEXP_MATCHES (-> RLIKE; the
      patterns are plain, the same in Java) are transpiled by sqlglot itself.
    """
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    for node in tree.find_all(exp.TryCast):
        node.set("safe", True)
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.upper() == "ROW":
            node.replace(exp.Struct(expressions=[e.copy() for e in node.expressions]))
    return tree


# ----------------------------------------------------------------- the session


def session(master: str | None = None, threads: int | None = None):
    """The Spark session: Spark Connect when `master` is `sc://...` or SPARK_REMOTE
    is set, else a local or cluster master (default `local[*]`)."""
    with warnings.catch_warnings():
        # pyspark checks pandas' version as it imports parts of itself; ratecard does not use pandas
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)
        return _session(master, threads)


def _session(master: str | None, threads: int | None):
    from pyspark.sql import SparkSession

    remote = connect_url(master)
    if remote:
        _check_reachable(remote)
        spark = SparkSession.builder.remote(remote).getOrCreate()
    else:
        active = SparkSession.getActiveSession()
        if active is not None and (master is None or active.sparkContext.master == master):
            spark = active
        else:
            master = master or (f"local[{threads}]" if threads else "local[*]")
            builder = (SparkSession.builder.master(master).appName("ratecard")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       .config("spark.sql.session.timeZone", "UTC"))
            if master.startswith("local"):
                # One shuffle partition per core, and no adaptive re-planning: on one
                # machine there are no idle tasks to coalesce and no skew to split, and
                # the relations are broadcast anyway. Either way the results are the same.
                builder = (builder.config("spark.sql.shuffle.partitions", str(_local_cores(master)))
                           .config("spark.sql.adaptive.enabled", "false"))
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def connect_url(master: str | None) -> str | None:
    """The Spark Connect URL a run uses: `master` when it is `sc://...`, else
    $SPARK_REMOTE when no master is given; None for a classic master."""
    if master:
        return master if master.startswith("sc://") else None
    return os.environ.get("SPARK_REMOTE") or None


CONNECT_PORT = 15002  # Spark Connect's default port
CONNECT_TIMEOUT = 10.0  # seconds to open a connection to a Spark Connect server


def _check_reachable(url: str) -> None:
    """Fail fast when nothing listens at a Spark Connect URL (`sc://host[:port]/;...`).

    The Connect client retries an unreachable server with backoff for minutes
    before it gives up; a run that cannot reach its engine should say so at once.
    """
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or CONNECT_PORT
    except ValueError as exc:
        raise ConnectionError(f"not a Spark Connect URL: `{url}` ({exc})") from None
    if not host:
        raise ConnectionError(f"not a Spark Connect URL: `{url}` (expected sc://HOST:PORT)")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach Spark Connect at {host}:{port}: "
                              f"{exc.strerror or exc}") from None


def _local_cores(master: str) -> int:
    """N of `local[N]` (`local[*]`, `local`: the machine's cores; `local[N, F]` too)."""
    inside = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
    first = inside.split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else (os.cpu_count() or 1)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ----------------------------------------------------------------- reading files


def _strip_zeros(F, text):
    """`2.50` -> `2.5`, `2.0` -> `2` (the Spark twin of rows.strip_zeros)."""
    stripped = F.regexp_replace(F.regexp_replace(text, "0+$", ""), "[.]$", "")
    return F.when(text.contains(".") & ~text.rlike("[eE]"), stripped).otherwise(text)


def _text(F, column, kind: str):
    """A column as the text the query compares (numbers without storage zeros)."""
    value = column.cast("string")
    if kind.split("(")[0].lower() in _NUMERIC:
        return _strip_zeros(F, value)
    return value


def _variant_text(F, item):
    """A JSON value (VARIANT) as text: strings verbatim, decimals exact, null -> NULL.

    VARIANT keeps a JSON number exactly as a DECIMAL when it fits in 38 digits
    (`1.50` -> "1.5"). A number written with an exponent is held as a double;
    like the row reader (and DuckDB, for ordinary values), ratecard reads it as
    the plain decimal it denotes (`1e3` -> "1000", `2.5E-2` -> "0.025") when a
    DECIMAL(38, 18) holds it exactly, and otherwise keeps the exponent, which
    makes it a bad row as a quantity.
    """
    kind = F.schema_of_variant(item)
    double = F.try_variant_get(item, "$", "double")
    exact = double.try_cast("decimal(38,18)")
    as_double = (F.when(exact.isNotNull() & (exact.cast("double") == double), _strip_zeros(F, exact.cast("string")))
                 .otherwise(F.format_string("%.17e", double)))
    return (F.when(item.isNull() | F.is_variant_null(item), F.lit(None).cast("string"))
            .when(kind.isin("DOUBLE", "FLOAT"), as_double)
            .otherwise(F.try_variant_get(item, "$", "string")))


def _properties(keys: Sequence[str]) -> list[str]:
    """The keys the meters read that are properties (not an event's own fields)."""
    return [k for k in keys if k not in ("id", "type", "customer", "time", "properties")]


def _normalized(spark, F, path: str, kind: str, keys: Sequence[str]):
    """One usage file as a DataFrame of the flat layout: all columns text."""
    props = _properties(keys)
    if kind == "jsonl":
        raw = spark.read.text(path)
        raw = raw.where(F.trim(raw["value"]) != "")
        v = F.try_parse_json(raw["value"])
        members = F.try_variant_get(v, "$.properties", "map<string,variant>")
        whole = F.try_variant_get(v, "$.properties", "variant")
        not_object = whole.isNotNull() & ~F.is_variant_null(whole) & members.isNull()
        time = F.try_variant_get(v, "$.time", "string")
        cols = [F.try_variant_get(v, f"$.{name}", "string").alias(name) for name in ("id", "type", "customer")]
        cols.append(F.when(not_object, F.lit(None).cast("string")).otherwise(time).alias("time"))
        cols += [_variant_text(F, members.getItem(k)).alias(k) for k in props]
        return _fix_time(F, raw.select(*cols))
    if kind == "csv":
        df = (spark.read.option("header", True).option("inferSchema", False)
              .option("mode", "PERMISSIVE").option("quote", '"').option("escape", '"').csv(path))
    else:
        df = spark.read.parquet(path)
    return _flat(F, df, props)


def _flat(F, df, props: Sequence[str]):
    """A DataFrame with typed columns (a Parquet file, a table) as the flat layout:
    id, type, customer, time, and the properties from flat columns or from a
    `properties` STRUCT, MAP or JSON text column."""
    types = dict(df.dtypes)
    cols = []
    for name in ("id", "type", "customer", "time"):
        cols.append((df[f"`{name}`"].cast("string") if name in types else F.lit(None).cast("string")).alias(name))
    nested = types.get("properties")
    fields = dict(df.select("properties.*").dtypes) if nested and nested.startswith("struct") else {}
    for k in props:
        if nested is None:
            value = _text(F, df[f"`{k}`"], types[k]) if k in types else F.lit(None).cast("string")
        elif nested.startswith("struct"):
            value = (_text(F, df["properties"].getField(k), fields[k]) if k in fields
                     else F.lit(None).cast("string"))
        elif nested.startswith("map"):
            value = df["properties"].getItem(k).cast("string")
        else:  # JSON text
            members = F.try_variant_get(F.try_parse_json(df["properties"]), "$", "map<string,variant>")
            value = _variant_text(F, members.getItem(k))
        cols.append(value.alias(k))
    return _fix_time(F, df.select(*cols))


def _fix_time(F, df):
    return df.withColumn("time", F.regexp_replace(df["time"], _NO_SECONDS, "$1:00$2"))


def _events_view(spark, files: Sequence[str], keys: Sequence[str], name: str,
                 tables: Sequence[str] = ()):
    from pyspark.sql import functions as F

    frames = []
    for path in files:
        # the JVM resolves a relative path against its own working directory
        where = path if "://" in path else os.path.abspath(path)
        frames.append(_normalized(spark, F, where, file_kind(path), keys))
    for table in tables:
        frames.append(_flat(F, _table(spark, table), _properties(keys)))
    df = frames[0]
    for other in frames[1:]:
        df = df.unionByName(other)
    df.createOrReplaceTempView(name)


class UnreadableTable(Exception):
    """A `--usage-table` Spark cannot read (no such table or view, no access)."""


def _table(spark, name: str):
    """The table or view `name` (resolved by Spark's catalog: a temp view, a
    metastore table, Delta, Iceberg, ...) as a DataFrame."""
    try:
        df = spark.table(name)
        df.schema  # Spark Connect resolves a name only when asked: ask here, to name the table
        return df
    except Exception as exc:
        raise UnreadableTable(f"cannot read usage table `{name}`: {_first_line(exc)}") from None


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


def spark_query(plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window],
                table: str, keys: Sequence[str], relations: Relations | None = None) -> tuple[str, int]:
    """(one Spark SQL statement, number of d<i> columns) reading the flat view `table`:
    what `ratecard sql --dialect spark` prints, with `table` as the events."""
    query, width = _query(plan, terms, windows, table, keys, relations)
    return spark_tree(query).sql(dialect="spark"), width


def _query(plan, terms, windows, table, keys, relations):
    source = table_source(table, keys)
    if relations is None:
        query, shape = with_relations(plan, [source], inline_relations(terms, windows), keys)
    else:
        query, shape = build_query(plan, [source], relations, keys)
    return query, shape.dimensions


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


def _run_staged(spark, steps, final: str, created: list[tuple[str, bool]]):
    for name, select, cache in steps:
        created.append((name, cache))
        if cache:
            spark.sql(f"CACHE TABLE {name} AS {select}")
        else:
            spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {select}")
    return spark.sql(final).collect()


# ----------------------------------------------------------------- the stage


def aggregate_usage(plan: RatingPlan, terms: list[ContractTerm], windows: list[Window],
                    files: list[str], *, skip_bad_rows: str | None = None,
                    memory_limit: str | None = None, threads: int | None = None,
                    master: str | None = None, tables: Sequence[str] = ()) -> UsageReport:
    """The usage stage on Spark: same contract as `usage.aggregate_usage`. `tables`
    are Spark tables or views of events (`--usage-table`), read besides `files`."""
    from .engine import Counts, _fill, bad_row_diagnostics, has_rows, locate_bad_rows, read_result, write_bad_rows

    report = UsageReport(rejected={r: 0 for r in REJECTION_REASONS})
    sources: list[str] = []
    for path in files:
        try:
            file_kind(path)
            local = "://" not in path
            if local and not os.path.isfile(path):
                raise UnreadableFile(f"cannot open usage file `{path}`")
            if local and not has_rows(path):
                continue
            sources.append(path)
        except (UnreadableFile, OSError) as exc:
            report.diagnostics.append(error("E501", f"cannot read usage file `{path}`: {exc}"))
    if report.diagnostics or not (sources or tables):
        return report
    try:
        import pyspark  # noqa: F401
    except ImportError:
        report.diagnostics.append(error("E501", "cannot start the usage engine: pyspark is not installed",
                                        hints=["pip install 'ratecard[spark]' (Spark 4 needs Java 17 or later)"]))
        return report
    try:
        spark = session(master, threads)
    except Exception as exc:  # Py4J, Java missing, Connect refused: all one diagnostic
        hint = ("check that a Spark Connect server listens there (--spark-master sc://HOST:PORT or "
                "SPARK_REMOTE) and that pyspark's Connect client is installed (pip install 'pyspark[connect]')"
                if connect_url(master) else "check --spark-master / SPARK_REMOTE, and that Java 17+ is on PATH")
        report.diagnostics.append(error("E501", f"cannot start the usage engine (Spark): {_first_line(exc)}",
                                        hints=[hint]))
        return report

    keys = needed_keys(plan)
    run = uuid.uuid4().hex[:12]
    events = f"ratecard_usage_{run}"
    names = tuple(f"ratecard_{n}_{run}" for n in ("terms", "windows", "segments"))
    created: list[tuple[str, bool]] = [(events, False)]
    try:
        try:
            _events_view(spark, sources, keys, events, tables)
        except UnreadableTable as exc:
            report.diagnostics.append(error("E501", str(exc),
                                            hints=["a table or view in Spark's catalog: NAME, SCHEMA.NAME or "
                                                   "CATALOG.SCHEMA.NAME"]))
            return report
        except Exception as exc:
            report.diagnostics.append(error("E501", f"cannot read usage: {_first_line(exc)}"))
            return report
        relations = None
        if len(terms) + len(windows) > INLINE_LIMIT:
            relations = _relation_views(spark, terms, windows, names)
            created += [(n, False) for n in names]
        query, width = _query(plan, terms, windows, events, keys, relations)
        steps, final = staged(query, run)
        try:
            rows = _run_staged(spark, steps, final, created)
        except Exception as exc:
            report.diagnostics.append(error("E501", f"cannot read usage: {_first_line(exc)}"))
            return report
    finally:
        for name, cached in reversed(created):
            try:
                if cached:
                    spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
                spark.catalog.dropTempView(name)
            except Exception:
                pass

    aggregates, reasons, counts = read_result(plan, rows, width)  # Row is a tuple
    if counts.bad == 0:
        return _fill(report, aggregates, reasons, counts, bad_rows=0)
    # Bad rows: name them by reading the files row by row (local files only), as
    # the DuckDB engine does, with its messages. The query already keeps them
    # out of dedup and of every aggregate, so with --skip-bad-rows its aggregates are those of the
    # files without the rows the reader names, when it names them all. A table's
    # rows have no file and line to name.
    local = not tables and all("://" not in p for p in sources)
    bad = []
    if local:
        bad, _, problem = locate_bad_rows(plan, sources)
        if problem is not None:
            report.diagnostics.append(problem)
            return report
        report.bad_rows = bad
    if skip_bad_rows is None:
        if local:
            report.diagnostics.extend(bad_row_diagnostics(bad))
        else:
            where = "usage tables" if tables else "files ratecard cannot read locally"
            rows = "row" if counts.bad == 1 else "rows"
            report.diagnostics.append(error(
                "E500", f"{counts.bad} bad usage {rows} (in {where}, so not listed one by one)",
                hints=["pass `--skip-bad-rows FILE` to bill the rest, or run on a local copy "
                       "(files, or the table exported as Parquet) to list them"]))
        return report
    if local and len(bad) != counts.bad:
        report.diagnostics.append(error("E501", "cannot read usage: rows still bad after skipping bad rows"))
        return report
    write_bad_rows(skip_bad_rows, bad)
    return _fill(report, aggregates, reasons, Counts(counts.read - counts.bad, 0, counts.kept),
                 bad_rows=counts.bad)
