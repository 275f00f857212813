"""Rating on Spark: the aggregation's whole-period usage lines priced on the executors.

The same rating queries as DuckDB's (`rating.py`: one sqlglot builder),
written for Spark SQL by `rating_dialects.spark_sql`, over the run's temp views:

    the aggregation's final SELECT -> rc_result (a temp view of its rows, checkpointed:
      computed once, and planned as rows, not as the aggregation's whole plan)
    rc_windows (the billing periods), rc_shapes (from billing): DataFrames
    -> the distinct keys of the whole-period lines, collected    (few)
    -> billing resolves each key to a price (`RatingRequest.resolve`)
    -> rc_keyprices, rc_rates, rc_tiers: DataFrames of text and whole numbers,
       every decimal sent as its text and cast to DECIMAL(38, s) in Spark
       (never through a double)
    -> the priced SELECT, collected: the aggregation's rows with the rated
       columns, as DuckDB returns them (the events stay on the executors)

Exactness on Spark rests on two session settings the Spark run sets for its
whole length (`spark._RUN_SETTINGS`) and that rating checks before it prices:
`spark.sql.decimalOperations.allowPrecisionLoss=false` (else a product of two
DECIMAL(38, s) is rounded to fit, silently) and ANSI mode, under which an
overflow raises: the rating query spells each operation inside DuckDB's `TRY`
as Spark's try_multiply / try_add / try_subtract / try_cast, NULL on
overflow, so that line goes to the Python pricer. The priced result's column
types are checked against the exact types the query casts to; any other
type, or any Spark error in the rating itself, leaves every line to Python
(`unpriced_query`), never a wrong amount.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from .rating_dialects import spark_sql
from .rating_query import (DIGITS, RatingRequest, keys_query, price_relations, priced_query, quantity_scale_query,
                           shape_relation, unpriced_query)
from .records import Window

# The relations the rating queries name, each a temp view of the run (`ratecard_<name>_<run>`).
NAMES = ("rc_result", "rc_windows", "rc_shapes", "rc_keyprices", "rc_rates", "rc_tiers")
EXACT_SETTING = "spark.sql.decimalOperations.allowPrecisionLoss"


def _spark_errors() -> tuple[type[BaseException], ...]:
    """What Spark raises for a query it refuses or fails (classic and Connect)."""
    errors: list[type[BaseException]] = []
    try:
        from pyspark.errors import PySparkException

        errors.append(PySparkException)
    except ImportError:  # pragma: no cover - every supported pyspark has it
        pass
    try:
        from py4j.protocol import Py4JError

        errors.append(Py4JError)
    except ImportError:  # a Connect-only client
        pass
    return tuple(errors)


def _view(spark, name: str, columns: Sequence[tuple[str, str, list]]) -> None:
    """A temp view of (column, type, values): whole numbers, text, days, flags and
    instants as themselves; decimals as text, cast to their DECIMAL(38, s) in Spark."""
    from pyspark.sql.types import (BooleanType, DateType, IntegerType, StringType, StructField, StructType,
                                   TimestampType)

    plain = {"INTEGER": IntegerType(), "VARCHAR": StringType(), "DATE": DateType(), "BOOLEAN": BooleanType(),
             "TIMESTAMP": TimestampType()}
    fields, data, selects = [], [], []
    for column, kind, values in columns:
        if kind.startswith("DECIMAL"):
            fields.append(StructField(column, StringType()))
            data.append([None if v is None else format(v, "f") for v in values])
            selects.append(f"CAST(`{column}` AS {kind}) AS `{column}`")
        else:
            fields.append(StructField(column, plain[kind]))
            data.append(list(values))
            selects.append(f"`{column}`")
    frame = spark.createDataFrame(list(zip(*data)), StructType(fields)).selectExpr(*selects)
    # broadcast: a DataFrame of Python rows has no size Spark knows, so each join with it
    # would shuffle the lines to it (a sort-merge join per relation: most of the rating's time)
    frame.hint("broadcast").createOrReplaceTempView(name)


def rate(spark, final: str, width: int, request: RatingRequest, windows: Sequence[Window], run: str,
         created: list[tuple[str, bool]], held: bool = False) -> list:
    """Run the aggregation's `final` SELECT and price its whole-period lines: the result
    rows with `rating.RATED_COLUMNS` after the aggregation's own columns. The aggregation's
    own failures are the caller's; a failure of the rating leaves every line to Python.
    Lines lost with an executor after their checkpoint are computed again (unpriced),
    not a failed run."""
    names = {n: f"ratecard_{n}_{run}" for n in NAMES}
    result = names["rc_result"]
    # the aggregation runs here, once (rating reads it three times), and its lines are then a
    # relation of their own: each rating query plans against them, not the aggregation's plan
    spark.sql(final).localCheckpoint(eager=True).createOrReplaceTempView(result)
    created.append((result, False))
    try:
        rows = _priced(spark, names, width, request, windows, created, held)
    except _spark_errors():
        rows = None
    if rows is None:
        unpriced = spark_sql(unpriced_query(width), names)
        try:
            rows = spark.sql(unpriced).collect()
        except _spark_errors():
            # the checkpointed lines are gone (an executor lost since, with its blocks):
            # the aggregation again, from the events, every line left to Python
            spark.sql(final).createOrReplaceTempView(result)
            rows = spark.sql(unpriced).collect()
    return rows


def _priced(spark, names: dict[str, str], width: int, request: RatingRequest, windows: Sequence[Window],
            created: list[tuple[str, bool]], held: bool) -> list | None:
    periods = [w for w in windows if w.meter is None]
    _view(spark, names["rc_windows"], [("key", "VARCHAR", [w.key for w in periods]),
                                       ("contract", "VARCHAR", [w.contract for w in periods]),
                                       ("start", "TIMESTAMP", [_utc(w.start) for w in periods])])
    created.append((names["rc_windows"], False))
    _view(spark, names["rc_shapes"], shape_relation(request))
    created.append((names["rc_shapes"], False))
    keys = spark.sql(spark_sql(keys_query(width), names)).collect()
    tables = request.resolve([tuple(k) for k in keys])
    (found,), = spark.sql(spark_sql(quantity_scale_query(), names)).collect()
    quantity_scale = int(found or 0)
    relations, rate_scale, exact_scale, bound_scale = price_relations(width, tables)
    for name, columns in relations:
        _view(spark, names[name], columns)
        created.append((names[name], False))
    exact_scale = max(exact_scale, quantity_scale + rate_scale, request.minor_units)
    if exact_scale > DIGITS:  # the products could not be typed: Python prices every line
        return None
    if str(spark.conf.get(EXACT_SETTING, "true")).lower() != "false":
        return None  # products of DECIMAL(38, s) would be rounded to fit: not exact
    priced = spark.sql(spark_sql(priced_query(width, quantity_scale, exact_scale, request.minor_units,
                                               request.rounding, held, bound_scale=bound_scale), names))
    units_scale = max(quantity_scale, bound_scale)  # a tier's units: the bounds' decimals too
    if not _exact_types(priced.schema, units_scale, exact_scale, request.minor_units):
        return None
    return priced.collect()


def _utc(value: dt.datetime) -> dt.datetime:
    """An instant pyspark sends as itself: a naive datetime it would read in the local time zone."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _exact_types(schema, units_scale: int, exact_scale: int, minor: int) -> bool:
    """The rated columns have the exact types the query casts them to (no DOUBLE, no
    scale lost): else nothing the engine computed is used."""
    from pyspark.sql.types import DecimalType, IntegerType

    types = {f.name: f.dataType for f in schema.fields}

    def decimal(name: str, scale: int | None) -> bool:
        kind = types.get(name)
        return isinstance(kind, DecimalType) and (kind.scale == scale if scale is not None else kind.scale == 0)

    return (isinstance(types.get("rc_price"), IntegerType) and isinstance(types.get("rc_tier"), IntegerType)
            and decimal("rc_amount", minor) and decimal("rc_exact", exact_scale) and decimal("rc_last", exact_scale)
            and decimal("rc_units", units_scale) and decimal("rc_packages", None)
            and types["rc_exact"].precision == DIGITS and types["rc_amount"].precision == DIGITS)
