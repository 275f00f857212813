"""The rating query (`rating_query`) written for engines that spell DuckDB's forms otherwise.

- Spark (`spark_sql`): `TRY(e)` as try_multiply / try_add / try_subtract /
  try_cast, `REGEXP_FULL_MATCH` as an anchored RLIKE, relations renamed to the
  run's views;
- PostgreSQL (`portable`, for `sql --priced`): exact NUMERIC, each cast to
  DECIMAL(38, s) guarded instead of TRY-ed.
"""

from __future__ import annotations

from sqlglot import exp

from .rating_query import DIGITS

# Spark SQL has no `TRY`: each operation that can overflow inside one is its own try_ function
# (NULL on overflow, with ANSI on), and each cast a try_cast.
_SPARK_TRIED = {exp.Mul: "try_multiply", exp.Add: "try_add", exp.Sub: "try_subtract"}


def _spark_tried(tree: exp.Expression) -> exp.Expression:
    """`tree` with its arithmetic and casts as Spark's try_ forms, children first."""
    for node in reversed(list(tree.dfs())):
        if type(node) in _SPARK_TRIED:
            tried = exp.Anonymous(this=_SPARK_TRIED[type(node)], expressions=[node.this, node.expression])
        elif isinstance(node, exp.Cast):  # TryCast included
            tried = exp.TryCast(this=node.this, to=node.to, safe=True)
        else:
            continue
        if node is tree:
            tree = tried
        else:
            node.replace(tried)
    return tree


def spark_sql(tree: exp.Expression, names: dict[str, str]) -> str:
    """A rating query in Spark SQL, its relations renamed (`names`: rc_x -> the run's view)
    (`spark_rating_tree`)."""
    return spark_rating_tree(tree, names).sql(dialect="spark", identify=True)


def spark_rating_tree(tree: exp.Expression, names: dict[str, str]) -> exp.Expression:
    """A rating query (a copy) with DuckDB's forms written as Spark's, its relations renamed
    (`names`: rc_x -> the run's view; none for the printed query, whose relations are CTEs).

    - `TRY(e)`: `e` with try_multiply / try_add / try_subtract / try_cast (NULL on
      overflow, with ANSI on as the run sets it); then billing prices the line;
    - `REGEXP_FULL_MATCH(s, p)`: `s RLIKE '^(p)$'` (RLIKE searches);
    - `TRY_CAST`: Spark's try_cast (sqlglot writes a plain CAST unless marked `safe`).
    The rest (CEIL and FLOOR of DECIMALs, `<=>`, CASE over one exact type) Spark
    types as DuckDB does, with `spark.sql.decimalOperations.allowPrecisionLoss` off."""
    tree = tree.copy()
    for node in list(tree.find_all(exp.Try)):
        node.replace(_spark_tried(node.this))
    for node in list(tree.find_all(exp.Anonymous)):
        name = node.name.upper()
        if name == "TRY":
            node.replace(_spark_tried(node.expressions[0]))
        elif name == "REGEXP_FULL_MATCH":
            text, pattern = node.expressions
            node.replace(exp.RegexpLike(this=text, expression=exp.Literal.string(f"^({pattern.this})$")))
    for node in tree.find_all(exp.TryCast):
        node.set("safe", True)
    for table in list(tree.find_all(exp.Table)):
        if table.name in names:
            original = table.name
            table.set("this", exp.to_identifier(names[original]))
            if not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(original)))
    return tree


def portable(tree: exp.Expression, dialect: str) -> exp.Expression:
    """The printed rating's DuckDB forms rewritten for `dialect` (PostgreSQL), in place.

    PostgreSQL's NUMERIC arithmetic is exact at any size, so a product never overflows
    and never rounds; only the cast to DECIMAL(38, s) can fail, where DuckDB's `TRY`
    gives NULL. That cast is guarded instead -- `CASE WHEN ABS(x) < 10^(38-s) THEN
    CAST(x AS NUMERIC(38, s)) END` -- exact, since every value the query casts has at
    most s decimals (the scales are worked out from the relations, `price_relations`).
    `TRY(CEIL(...))` is CEIL itself; `REGEXP_FULL_MATCH(x, p)` is `x ~ '^(p)$'`."""
    if dialect != "postgres":
        raise ValueError(f"the priced query has no {dialect} form")
    for node in list(tree.find_all(exp.Try)):  # TRY as DuckDB's parser reads it (`rating_query.sql_of`)
        if not isinstance(node.this, exp.Ceil):
            raise ValueError(f"no {dialect} form for TRY({node.this.sql()})")
        node.replace(node.this.copy())
    for node in list(tree.find_all(exp.Anonymous)):
        name = node.name.upper()
        if name == "REGEXP_FULL_MATCH":
            value, pattern = node.expressions
            node.replace(exp.RegexpLike(this=value.copy(),
                                        expression=exp.Literal.string(f"^({pattern.name})$")))
        elif name == "TRY":
            inner = node.expressions[0]
            if isinstance(inner, exp.Cast) and inner.to.is_type(exp.DataType.Type.DECIMAL):
                scale = int(inner.to.expressions[1].name)
                bound = exp.cast(exp.Literal.string("1" + "0" * (DIGITS - scale)),
                                 exp.DataType.build(f"DECIMAL({DIGITS + 1}, 0)"))
                fits = exp.LT(this=exp.Abs(this=inner.this.copy()), expression=bound)
                node.replace(exp.Case(ifs=[exp.If(this=fits, true=inner.copy())]))
            elif isinstance(inner, exp.Ceil):
                node.replace(inner.copy())
            else:
                raise ValueError(f"no {dialect} form for TRY({inner.sql()})")
    return tree
