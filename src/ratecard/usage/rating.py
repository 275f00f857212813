"""Rating in the engine: the aggregation's usage lines priced by DuckDB, exactly.

Pricing a line in Python costs microseconds of interpreter time per line;
the same arithmetic as DECIMAL expressions costs the engine almost nothing.
Rule resolution stays in Python (billing's pricer), once per distinct
*key* -- (line shape, meter, day when the shape's rules are dated, dimension
values) -- not once per line; this module only runs SQL:

    the aggregation -> rc_result (a temporary table)
    rc_shapes (contract, meter -> shape, dated; from billing)
    -> the distinct keys of rc_result's lines of whole periods     (few)
    -> billing resolves each key to a price (`RatingRequest.resolve`)
    -> rc_keyprices (key -> price), rc_rates (one row per price),
       rc_tiers (one row per tier of a tiered price)
    -> rc_result + per line: the exact amount, the amount rounded once, and
       what the document shows (packages; the tier the quantity ends in)

What the engine computes, exactly (DECIMAL, never DOUBLE: no division in
SQL; billing hands over each price per unit, `amount / size`, already
divided, and refuses a price whose division does not terminate):

    unit        q x rate
    package     CEIL(q x (1 / size)) packages x amount
    graduated   base(tier) + (q - lower) x rate     (base: the full tiers
                below, with their flat amounts, and this tier's flat amount)
    volume      q x rate(tier) + flat(tier)          (q = 0 costs nothing)

then rounds once to the currency's minor unit: half-even is spelled out
(DuckDB's ROUND is half away from zero), half-up is floor(x + 0.5) on the
non-negative amounts the engine prices. Any line the engine cannot price
exactly -- a quantity below zero, beyond the last tier, with more digits than
the columns hold, an overflow (`TRY`) -- is left unpriced (NULL) and billing
prices it in Python, which reports it (E503, E510) as before. Billing keeps
the Python pricer for everything this does not cover (docs/scale.md).

The query itself is built in `rating_query.py`, shared with Spark
(`spark_rating.py`, through `rating_dialects.spark_sql`) and with the
printed rating (`rating_print.py`, `ratecard sql --priced`); this module
runs it in DuckDB.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from sqlglot import exp

from .arrow_result import arrow_result
from .rating_query import (DIGITS, PriceTables, RatingRequest, keys_query, price_relations,
                           priced_query, quantity_scale_query, shape_relation, unpriced_query)

def _create(conn, name: str, columns: Sequence[tuple[str, str, list]]) -> None:
    """CREATE TEMPORARY TABLE name AS SELECT UNNEST(CAST(? AS type[])) ..., the values bound
    as lists (decimals bound as text and cast: exact, as the column's scale holds them)."""
    selects = []
    params = []
    for column, kind, values in columns:
        if kind.startswith("DECIMAL"):
            unnest = exp.Unnest(expressions=[exp.cast(exp.Placeholder(), exp.DataType.build("VARCHAR[]"))])
            value = exp.cast(unnest, exp.DataType.build(kind))
            params.append([None if v is None else format(v, "f") for v in values])
        else:
            value = exp.Unnest(expressions=[exp.cast(exp.Placeholder(),
                                                     exp.DataType.build(f"{kind}[]", dialect="duckdb"))])
            params.append(list(values))
        selects.append(exp.alias_(value, column, quoted=True))
    create = exp.Create(this=exp.to_table(name), kind="TABLE", expression=exp.select(*selects), replace=True,
                        properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
    conn.execute(create.sql(dialect="duckdb", identify=True), params)


def _quantity_scale(conn) -> int:
    (found,), = conn.execute(quantity_scale_query().sql(dialect="duckdb", identify=True)).fetchall()
    return int(found or 0)


def _register_prices(conn, width: int, tables: PriceTables) -> tuple[int, int, int]:
    """rc_keyprices, rc_rates and rc_tiers as temporary tables; the scales (`price_relations`)."""
    relations, rate_scale, exact_scale, bound_scale = price_relations(width, tables)
    for name, columns in relations:
        _create(conn, name, columns)
    return rate_scale, exact_scale, bound_scale


def rate(conn, query: exp.Expression, width: int, request: RatingRequest, held: bool = False):
    """Run the aggregation `query` and price its whole-period lines: the result (Arrow)
    with `RATED_COLUMNS` after the aggregation's own columns. The aggregation's own
    failures are the caller's (bad rows); a failure of the rating itself leaves every
    line to the Python pricer rather than stop the run."""
    import duckdb

    conn.execute(exp.Create(this=exp.to_table("rc_result"), kind="TABLE", expression=query, replace=True,
                            properties=exp.Properties(expressions=[exp.TemporaryProperty()])).sql(dialect="duckdb"))
    try:
        _create(conn, "rc_shapes", shape_relation(request))
        keys = conn.execute(keys_query(width).sql(dialect="duckdb", identify=True)).fetchall()
        tables = request.resolve([(k[0], k[1], _day(k[2]), *k[3:]) for k in keys])
        quantity_scale = _quantity_scale(conn)
        rate_scale, exact_scale, bound_scale = _register_prices(conn, width, tables)
        exact_scale = max(exact_scale, quantity_scale + rate_scale, request.minor_units)
        if exact_scale <= DIGITS:  # else the products could not be typed: Python prices every line
            query = priced_query(width, quantity_scale, exact_scale, request.minor_units, request.rounding, held,
                                  bound_scale=bound_scale)
            return arrow_result(conn, query.sql(dialect="duckdb", identify=True))
    except duckdb.Error:
        pass
    return arrow_result(conn, unpriced_query(width).sql(dialect="duckdb", identify=True))


def _day(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
