"""Usage files and tables read by Spark as the flat event layout, by the row reader's rules.

Reading a file gives the text the row reader (`rows`) defines: JSONL lines
are parsed with `try_parse_json` into VARIANT, which holds JSON numbers as
exact decimals; property values become text the same way as everywhere
(`1.50` -> "1.5", strings verbatim, JSON null -> absent; the empty string is
made absent by the query, which reads the view as a table:
`sources.absent_if_empty`); a row DuckDB could
not read (invalid JSON, `properties` not an object) is a bad row (a NULL
`id`). `events_view` puts every file and table in one temp view.
"""

from __future__ import annotations

import os
from typing import Sequence

from ..diagnostics import first_line
from .row_reader import csv_header, parquet_properties
from .rows import EVENT_FIELDS, EXPONENT_PATTERN, MAX_ROW_BYTES, file_kind
from .sources import flag_pattern

# Spark reads `2026-01-01T10:00+02:00` (minutes, then a zone) as NULL; RFC 3339
# and the other engines accept it. The view adds the seconds.
_NO_SECONDS = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2})([Zz]|[+-][0-9]{2}:[0-9]{2})$"
_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")

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
# the written-out number bound once (a one-element array transformed by a lambda, as
# `sql.let` does for DuckDB): `_STRIP` reads its text four times
NUMBER_TEXT_SQL = ("CASE WHEN {t} RLIKE '" + EXPONENT_PATTERN + "' THEN "
                   + "transform(array(" + _CANON + "), w -> " + _STRIP.replace("{t}", "w") + ")[0]"
                   + " ELSE " + _STRIP + " END")
# JSON text with every number written as a JSON string of its exact text (the twin
# of `sources._quote_numbers`; possessive, so Java matches long lines without recursing).
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
    quoted on the lines that need it (`sources.flag_pattern`), as in DuckDB."""
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
                    text = F.when(text == "", F.lit(None)).otherwise(text)  # '' is absent, as in every layout
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


def events_view(spark, files: Sequence[str], keys: Sequence[str], name: str,
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
        raise UnreadableTable(f"cannot read usage table `{name}`: {first_line(exc)}") from None
