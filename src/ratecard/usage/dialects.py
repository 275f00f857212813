"""The usage query adapted to each SQL dialect: what a dialect lacks, rewritten.

`query.build_query` builds one dialect-neutral tree (DuckDB's functions);
`adapt` rewrites, in a copy, what a warehouse dialect lacks or reads
otherwise. `spark_tree` is the Spark adaptation, which both `ratecard sql
--dialect spark` and the Spark engine (`spark`) run.
"""

from __future__ import annotations

from sqlglot import exp

from .rows import NUMBER_PATTERN, QUANTITY_DIGITS, QUANTITY_SCALE, TIME_PATTERN
from .derived_sql import FACTOR, UNIT, WHOLE
from .sql import OPERAND, QUANTITY, lit

# Decimal types only a derived quantity uses, BIGNUMERIC in BigQuery (`_bigquery_decimal`).
_BIG = (OPERAND, FACTOR, UNIT, exp.DataType.build("DECIMAL(38, 0)"), exp.DataType.build("DECIMAL(10, 0)"))


def adapt(tree: exp.Expression, dialect: str) -> exp.Expression:
    """The tree with what `dialect` lacks rewritten (a copy; `tree` is left alone)."""
    tree = tree.copy()
    if dialect == "spark":
        return spark_tree(tree)
    if dialect != "duckdb":
        _whole_numbers(tree, dialect)
    if dialect not in ("duckdb", "postgres"):
        for cte in tree.find_all(exp.CTE):  # MATERIALIZED is DuckDB and PostgreSQL only
            cte.set("materialized", None)
    if dialect in _MICROS:
        _unix_micros(tree, dialect)
    if dialect == "postgres":
        _guarded_casts(tree)
        _latest_by_array(tree)
    elif dialect == "snowflake":
        _latest_by_array(tree)
        _partial_regex(tree)
    elif dialect == "bigquery":
        _latest_by_array(tree)
        _bigquery_decimal(tree)
    elif dialect == "clickhouse":
        _clickhouse(tree)
    return tree


# An instant as whole microseconds since 1970 (a weighted meter's pieces), where sqlglot
# writes UNIX_MICROS, which the dialect lacks: exact in each (PostgreSQL's EXTRACT is
# NUMERIC since version 14).
_MICROS = {
    "postgres": lambda t: exp.Cast(this=exp.Mul(this=exp.Extract(this=exp.var("EPOCH"), expression=t),
                                                expression=exp.Literal.number(1_000_000)),
                                   to=exp.DataType.build("BIGINT")),
    "snowflake": lambda t: exp.Anonymous(this="DATE_PART", expressions=[exp.var("EPOCH_MICROSECOND"), t]),
    "clickhouse": lambda t: exp.Anonymous(this="toUnixTimestamp64Micro", expressions=[t]),
}


# The whole numbers a derived quantity's `/` divides (`derived_sql.WHOLE`, below 10**38):
# DuckDB's HUGEINT; each dialect's 128-bit integer or 38-digit decimal.
_WHOLE = {"spark": "DECIMAL(38, 0)", "postgres": "NUMERIC(38, 0)", "snowflake": "NUMBER(38, 0)",
          "bigquery": "BIGNUMERIC(38, 0)", "clickhouse": "Int128"}


def _whole_numbers(tree: exp.Expression, dialect: str) -> None:
    """`//` on whole numbers, exact in each dialect: sqlglot writes Snowflake's as TRUNC of
    a decimal division (rounded to 6 places first) and ClickHouse's as a float division."""
    if not any(True for _ in tree.find_all(exp.IntDiv)):
        return
    whole = exp.DataType.build(_WHOLE[dialect], dialect=dialect)
    for node in list(tree.find_all(exp.DataType)):
        if node == WHOLE:
            node.replace(whole.copy())
    for node in list(tree.find_all(exp.IntDiv)):
        a, b = node.this, node.expression
        if dialect == "snowflake":  # an exact division: the dividend less its remainder
            node.replace(exp.Div(this=exp.Paren(this=exp.Sub(this=a.copy(), expression=exp.Paren(
                this=exp.Mod(this=a.copy(), expression=b.copy())))), expression=b.copy()))
        elif dialect == "clickhouse":
            node.replace(exp.Anonymous(this="intDiv", expressions=[a.copy(), b.copy()]))


def _unix_micros(tree: exp.Expression, dialect: str) -> None:
    for node in list(tree.find_all(exp.UnixMicros)):
        node.replace(_MICROS[dialect](node.this.copy()))


def _latest_by_array(tree: exp.Expression) -> None:
    """`ARG_MAX(v, ROW(t, id))` where the dialect has no such aggregate over a
    record: the first value ordered by (t, id) descending."""
    for node in list(tree.find_all(exp.ArgMax)):
        key = node.expression
        order = [e.copy() for e in key.expressions] if isinstance(key, exp.Anonymous) else [key.copy()]
        agg = exp.ArrayAgg(this=exp.Order(this=node.this.copy(),
                                          expressions=[exp.Ordered(this=e, desc=True) for e in order]))
        node.replace(exp.Bracket(this=exp.Paren(this=agg), expressions=[lit(0)]))


def _guarded_casts(tree: exp.Expression) -> None:
    """PostgreSQL has no TRY_CAST: cast only text that has the shape of the type."""
    for node in list(tree.find_all(exp.TryCast)):
        value = node.this
        if node.to.this == exp.DataType.Type.TIMESTAMPTZ:
            shape = exp.RegexpLike(this=value.copy(), expression=lit(TIME_PATTERN))
        else:
            digits = QUANTITY_DIGITS - QUANTITY_SCALE
            shape = exp.and_(exp.RegexpLike(this=value.copy(), expression=lit(NUMBER_PATTERN)),
                             exp.RegexpLike(this=value.copy(),
                                            expression=lit(f"^[+-]?0*[0-9]{{0,{digits}}}([.][0-9]*)?$")))
        node.replace(exp.Case(ifs=[exp.If(this=shape, true=exp.Cast(this=value.copy(), to=node.to.copy()))]))


def _partial_regex(tree: exp.Expression) -> None:
    """Snowflake's REGEXP_LIKE matches the whole text; the query's patterns search."""
    for node in list(tree.find_all(exp.RegexpLike)):
        node.replace(exp.GT(this=exp.RegexpInstr(this=node.this.copy(), expression=node.expression.copy()),
                            expression=lit(0)))


def _bigquery_decimal(tree: exp.Expression) -> None:
    """BigQuery's NUMERIC keeps 9 decimals, so a product of two NUMERICs is rounded to 9
    places: the quantities, the operands of `+ - * /` and the division's own types are
    BIGNUMERIC. sqlglot writes each as plain BIGNUMERIC (BigQuery allows no precision or
    scale in a CAST), which holds 38 places and 38 integer digits: exact for every value
    the query keeps, and `derived_sql.problem` tests places and ranges without a cast."""
    for node in list(tree.find_all(exp.DataType)):
        if node == QUANTITY or node in _BIG:
            node.replace(exp.DataType.build(node.sql().replace("DECIMAL", "BIGNUMERIC"), dialect="bigquery"))


def _clickhouse(tree: exp.Expression) -> None:
    """ClickHouse: DateTime64 in UTC, *OrNull parsing for TRY_CAST, ROW as a tuple,
    and `join_use_nulls` so an unmatched LEFT JOIN gives NULLs (the classification needs them)."""
    stamp = exp.DataType.build("DateTime64(6, 'UTC')", dialect="clickhouse")
    for node in list(tree.find_all(exp.TryCast)):
        if node.to.this == exp.DataType.Type.TIMESTAMPTZ:
            node.replace(exp.Anonymous(this="parseDateTime64BestEffortOrNull",
                                       expressions=[node.this.copy(), lit(6), lit("UTC")]))
        else:
            node.replace(exp.Anonymous(this="toDecimal128OrNull",
                                       expressions=[node.this.copy(), lit(QUANTITY_SCALE)]))
    for node in list(tree.find_all(exp.Cast)):
        if node.to.this == exp.DataType.Type.TIMESTAMPTZ:
            if isinstance(node.this, exp.Literal) and node.this.is_string:
                node.replace(exp.Anonymous(this="parseDateTime64BestEffort",
                                           expressions=[node.this.copy(), lit(6), lit("UTC")]))
            else:
                node.set("to", stamp.copy())
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.upper() == "ROW":
            node.replace(exp.Tuple(expressions=[e.copy() for e in node.expressions]))
    tree.set("settings", [exp.EQ(this=exp.var("join_use_nulls"), expression=lit(1))])


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
    - The whole numbers a derived quantity's `/` divides: DECIMAL(38, 0) (`_whole_numbers`;
      the Spark engine runs this adaptation, not `adapt`, so it is applied here).
    """
    _whole_numbers(tree, "spark")
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    for node in tree.find_all(exp.TryCast):
        node.set("safe", True)
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.upper() == "ROW":
            node.replace(exp.Struct(expressions=[e.copy() for e in node.expressions]))
    return tree
