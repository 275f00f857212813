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
from .query import Relations, build_query, flag_pattern, needed_keys
from .records import REJECTION_REASONS, ContractTerm, UsageReport, Window
from .rows import EVENT_FIELDS, EXPONENT_PATTERN, MAX_ROW_BYTES, UnreadableFile, file_kind, parquet_properties
from .warehouse import SEGMENTS, TERMS, WINDOWS, inline_relations, table_source, with_relations

# Past this many rows (terms + windows + segments), the relations are sent as
# temp views instead of VALUES inside the SQL text.
INLINE_LIMIT = 2000
# Spark reads `2026-01-01T10:00+02:00` (minutes, then a zone) as NULL; RFC 3339
# and the other engines accept it. The view adds the seconds.
_NO_SECONDS = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})$"
_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
_DUPLICATE_KEYS = "spark.sql.variant.allowDuplicateKeys"


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

# The twin of `rows.number_text` in Spark SQL, on the text column `{t}`: the plain
# decimal a number's text denotes, no storage zeros, zero as "0". Two let-bindings
# (`transform` of a one-element array) keep it small.
_PLAIN = (
    "transform(array(named_struct('s', regexp_extract({t}, '^([+-]?)', 1), "
    "'i', regexp_extract({t}, '^[+-]?([0-9]*)', 1), 'f', regexp_extract({t}, '^[^eE.]*[.]([0-9]*)', 1), "
    "'x', cast(regexp_extract({t}, '[eE]([+-]?[0-9]+)$', 1) AS INT))), "
    "p -> transform(array(named_struct('s', p.s, 'd', concat(p.i, p.f), 'pt', length(p.i) + p.x)), "
    "q -> concat(q.s, CASE WHEN q.pt <= 0 THEN concat('0.', lpad(q.d, length(q.d) - q.pt, '0')) "
    "WHEN q.pt >= length(q.d) THEN rpad(q.d, q.pt, '0') "
    "ELSE concat(substring(q.d, 1, q.pt), '.', substring(q.d, q.pt + 1)) END))[0])[0]"
)
_STRIP = ("CASE WHEN {t} LIKE '%.%' THEN (CASE WHEN regexp_replace(regexp_replace({t}, '0+$', ''), '[.]$', '') "
          "IN ('-0', '+0') THEN '0' ELSE regexp_replace(regexp_replace({t}, '0+$', ''), '[.]$', '') END) "
          "ELSE {t} END")
_CANON = (
    "transform(array(" + _PLAIN + "), n -> transform(array(named_struct("
    "'s', CASE WHEN left(n, 1) IN ('+', '-') THEN left(n, 1) ELSE '' END, "
    "'b', regexp_replace(regexp_replace(n, '^[+-]', ''), '^0+', ''))), "
    "c -> concat(c.s, CASE WHEN c.b = '' OR c.b LIKE '.%' THEN concat('0', c.b) ELSE c.b END))[0])[0]"
)
NUMBER_TEXT_SQL = ("CASE WHEN {t} RLIKE '" + EXPONENT_PATTERN + "' THEN "
                   + _STRIP.replace("{t}", "(" + _CANON + ")") + " ELSE " + _STRIP + " END")
# JSON text with every number written as a JSON string of its exact text (the twin
# of `query._quote_numbers`; possessive, so Java matches long lines without recursing).
_JSON_NUMBERS_JAVA = r'((?:"(?:[^"\\]|\\.)*+"|[^"0-9\-])*+)(-?[0-9][0-9.eE+\-]*+)?'


def _number_texts(F, count: int):
    """`__n`: the columns `__t0`..`__t<count-1>` (text) as `rows.number_text` writes a
    number, in one array: the expression is large, and one copy of it keeps the
    generated code small (a copy per column outgrows Java's 64 KB method limit)."""
    if not count:
        return F.array().cast("array<string>").alias("__n")
    items = ", ".join(f"`__t{i}`" for i in range(count))
    return F.expr(f"transform(array({items}), x -> {NUMBER_TEXT_SQL.replace('{t}', 'x')})").alias("__n")


def _quote_numbers(F, text):
    wrapped = F.regexp_replace(text, _JSON_NUMBERS_JAVA, "$1\u0001$2\u0002")
    return F.regexp_replace(F.regexp_replace(F.regexp_replace(wrapped, "\u0001\u0002", ""), "\u0001", '"'),
                            "\u0002", '"')


def _properties(keys: Sequence[str]) -> list[str]:
    """The keys the meters read that are properties (not an event's own fields)."""
    return [k for k in keys if k not in ("id", "type", "customer", "time", "properties")]


def _is_nested(kind: str) -> bool:
    return kind.startswith(("struct", "map", "array"))


def _is_number(kind: str) -> bool:
    return kind.split("(")[0].lower() in _NUMERIC


def spark_path(path: str) -> str:
    """A local file as Spark reads exactly that file: absolute (the JVM resolves a
    relative path against its own working directory), Hadoop's glob characters
    escaped. A URL (s3a://, hdfs://) is Hadoop's to read: a pattern there stays one."""
    if "://" in path:
        return path
    return "".join("\\" + ch if ch in "\\{}[]*?" else ch for ch in os.path.abspath(path))


def _json_values(F, df, doc, fields: Sequence[str], props: Sequence[str], top_names: Sequence[str],
                 prop_names: Sequence[str], props_path: str | None):
    """Columns that read the JSON text `doc` exactly: `__k<i>`, the kind of each field
    (top level) and property; `__t<i>`, its text as written; `__bad`, whether the
    document breaks the rules (not an object, `properties` not an object, a read key
    given twice on a flagged line). Numbers come from the text with every number
    quoted on the lines that need it (`query.flag_pattern`), as in DuckDB."""
    flagged = doc.rlike(flag_pattern(tuple(top_names) + tuple(prop_names)))
    v = F.try_parse_json(doc)
    exact = F.when(flagged, F.try_parse_json(_quote_numbers(F, doc))).otherwise(v)
    top, top_exact = (F.try_variant_get(x, "$", "map<string,variant>") for x in (v, exact))
    if props_path is not None:
        inner, inner_exact = (F.try_variant_get(x, "$.properties", "map<string,variant>") for x in (v, exact))
        whole = F.try_variant_get(v, "$.properties", "variant")
        bad = (v.isNull() | top.isNull()
               | (whole.isNotNull() & ~F.is_variant_null(whole) & inner.isNull()))
    else:
        inner, inner_exact = top, top_exact
        bad = doc.isNotNull() & (v.isNull() | (top.isNull() & ~F.is_variant_null(v)))
    cols = []
    items = [(top, top_exact, f) for f in fields] + [(inner, inner_exact, k) for k in props]
    for i, (where, where_exact, name) in enumerate(items):
        item = where.getItem(name)
        kind = F.schema_of_variant(item)
        cols.append(F.when(item.isNull() | F.is_variant_null(item), F.lit("NULL")).otherwise(kind).alias(f"__k{i}"))
        cols.append(F.try_variant_get(where_exact.getItem(name), "$", "string").alias(f"__t{i}"))
    twice = []
    levels = [(doc, top_names)]
    if props_path is not None:
        levels.append((F.get_json_object(doc, props_path), prop_names))
    else:
        levels = [(doc, prop_names)]
    for text, names in levels:
        keys = F.json_object_keys(text)
        twice += [(F.size(keys) - F.size(F.array_remove(keys, name))) > 1 for name in names]
    duplicate = F.lit(False)
    for t in twice:
        duplicate = duplicate | F.coalesce(t, F.lit(False))
    bad = bad | (flagged & duplicate)
    return cols + [F.coalesce(bad, F.lit(True)).alias("__bad")], len(items)


def _json_value(F, i: int):
    """The text of item `i` from its kind and exact text (`_json_values`): strings and
    booleans as they are, numbers as `rows.number_text`, null NULL."""
    kind, text = F.col(f"__k{i}"), F.col(f"__t{i}")
    return (F.when(kind.isin("STRING", "BOOLEAN"), text)
            .when(~kind.isin("NULL") & ~kind.startswith("OBJECT") & ~kind.startswith("ARRAY"), F.col("__n")[i])
            .otherwise(F.lit(None).cast("string")))


def _nested_item(F, i: int):
    kind = F.col(f"__k{i}")
    return kind.startswith("OBJECT") | kind.startswith("ARRAY")


def _normalized(spark, F, path: str, kind: str, keys: Sequence[str]):
    """One usage file as a DataFrame of the flat layout: all columns text; a row that
    breaks a rule of its format gets a NULL `id`, which makes it a bad row."""
    props = _properties(keys)
    where = spark_path(path)
    if kind == "jsonl":
        raw = spark.read.text(where)  # lines end at LF, CRLF or CR
        line = F.regexp_replace(raw["value"], "^\ufeff", "")
        raw = raw.select(raw["value"].alias("__raw"), line.alias("__line")).where(F.trim(line, F.lit(" \t")) != "")
        fields = ("id", "type", "customer", "time")
        cols, _ = _json_values(F, raw, raw["__line"], fields, props, EVENT_FIELDS, props, "$.properties")
        unreadable = (~F.is_valid_utf8(raw["__raw"])) | (F.octet_length(raw["__raw"]) >= MAX_ROW_BYTES)
        parsed = raw.select(unreadable.alias("__unreadable"), *cols)
        parsed = parsed.select("*", _number_texts(F, len(fields) + len(props)))
        nested = F.lit(False)
        for i in range(len(fields) + len(props)):
            nested = nested | _nested_item(F, i)
        bad = parsed["__bad"] | parsed["__unreadable"] | nested
        out = [F.when(bad, F.lit(None).cast("string")).otherwise(_json_value(F, 0)).alias("id")]
        out += [_json_value(F, i).alias(name) for i, name in enumerate(fields) if name != "id"]
        out += [_json_value(F, len(fields) + j).alias(k) for j, k in enumerate(props)]
        return _fix_time(F, parsed.select(*out))
    if kind == "csv":
        reader = (spark.read.option("header", True).option("inferSchema", False).option("multiLine", True)
                  .option("mode", "PERMISSIVE").option("quote", '"').option("escape", '"'))
        if "://" not in path:  # a record with more or fewer cells than the header is a bad row
            from .engine import csv_header

            header = csv_header(path)
            schema = ", ".join(f"`{n.replace('`', '``')}` STRING" for n in header)
            df = (reader.schema(f"{schema}, `__corrupt` STRING" if schema else "`__corrupt` STRING")
                  .option("columnNameOfCorruptRecord", "__corrupt").csv(where))
            return _flat(F, df, props, corrupt="__corrupt")
        return _flat(F, reader.csv(where), props)
    return _flat(F, _read_parquet(spark, path, where), props)


def _read_parquet(spark, path: str, where: str):
    """A Parquet file; a nanosecond `time` (which Spark refuses to read) as
    microseconds, floored (local files, whose schema ratecard can read)."""
    if "://" not in path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        parquet_properties(schema)  # refuse a layout ratecard does not read, naming the file
        if "time" in schema.names and pa.types.is_timestamp(schema.field("time").type) \
                and schema.field("time").type.unit == "ns":
            from pyspark.sql import functions as F

            spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
            try:
                df = spark.read.parquet(where)
                df.schema  # noqa: read the footer while the setting holds
            finally:
                spark.conf.unset("spark.sql.legacy.parquet.nanosAsLong")
            ns = df["time"]
            micros = F.expr("(`time` - pmod(`time`, 1000)) div 1000")
            return df.withColumn("time", F.when(ns.isNull(), None).otherwise(F.timestamp_micros(micros)))
    return spark.read.parquet(where)


def _flat(F, df, props: Sequence[str], corrupt: str | None = None):
    """A DataFrame with typed columns (a Parquet file, a table) as the flat layout:
    id, type, customer, time, and the properties from flat columns or from a
    `properties` STRUCT, MAP or JSON text column. Numbers read as `rows.number_text`;
    a row whose read value is an object or an array gets a NULL `id` (a bad row)."""
    types = dict(df.dtypes)
    nested = types.get("properties")
    bad = F.lit(False) if corrupt is None else df[f"`{corrupt}`"].isNotNull()
    base = [df[f"`{c}`"].alias(c) for c in ("id", "type", "customer", "time") if c in types]
    texts, names = [], []
    if nested is not None and not (nested.startswith("struct") or nested.startswith("map")):  # JSON text
        cols, count = _json_values(F, df, df["properties"].cast("string"), (), props, (), props, None)
        df = df.select(*base, *cols)
        df = df.select("*", _number_texts(F, count))
        for j, k in enumerate(props):
            bad = bad | _nested_item(F, j)
            texts.append(_json_value(F, j))
            names.append(k)
        bad = bad | df["__bad"]
    else:
        fields = dict(df.select("properties.*").dtypes) if nested and nested.startswith("struct") else {}
        value_type = nested[nested.index(",") + 1:-1].strip() if nested and nested.startswith("map") else ""
        staged = []
        for j, k in enumerate(props):
            if nested is None:
                column, kind = (df[f"`{k}`"], types[k]) if k in types else (None, "")
            elif nested.startswith("struct"):
                column, kind = (df["properties"].getField(k), fields[k]) if k in fields else (None, "")
            else:
                column, kind = df["properties"].getItem(k), value_type
            if column is None:
                staged.append(F.lit(None).cast("string").alias(f"__t{j}"))
            elif _is_nested(kind):
                bad = bad | column.isNotNull()
                staged.append(F.lit(None).cast("string").alias(f"__t{j}"))
            else:
                text = column.cast("string")
                if nested is None and not _is_number(kind):
                    text = F.when(text == "", F.lit(None)).otherwise(text)  # as CSV: '' is absent
                staged.append(text.alias(f"__t{j}"))
            names.append(k)
            texts.append(F.col("__n")[j] if _is_number(kind) else F.col(f"__t{j}"))
        df = df.select(*base, bad.alias("__bad"), *staged)
        df = df.select("*", _number_texts(F, len(props)))
        bad = df["__bad"]
    cols = []
    for name in ("id", "type", "customer", "time"):
        value = df[f"`{name}`"].cast("string") if name in types else F.lit(None).cast("string")
        if name == "id":
            value = F.when(bad, F.lit(None).cast("string")).otherwise(value)
        cols.append(value.alias(name))
    cols += [t.alias(n) for t, n in zip(texts, names)]
    return _fix_time(F, df.select(*cols))


def _fix_time(F, df):
    return df.withColumn("time", F.regexp_replace(df["time"], _NO_SECONDS, "$1:00$2"))


def _events_view(spark, files: Sequence[str], keys: Sequence[str], name: str,
                 tables: Sequence[str] = ()):
    from pyspark.sql import functions as F

    frames = []
    for path in files:
        frames.append(_normalized(spark, F, path, file_kind(path), keys))
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
    # A key given twice is a bad row only when ratecard reads it (`rows`); Spark's
    # JSON parser refuses the whole line otherwise. Restored after the run.
    duplicates = spark.conf.get(_DUPLICATE_KEYS, None)
    spark.conf.set(_DUPLICATE_KEYS, "true")
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
        try:
            if duplicates is None:
                spark.conf.unset(_DUPLICATE_KEYS)
            else:
                spark.conf.set(_DUPLICATE_KEYS, duplicates)
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
