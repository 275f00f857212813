"""The rating query, built once for every engine that runs it: exact DECIMAL arithmetic.

`rating.py` runs it in DuckDB, `spark_rating.py` on Spark's executors
(`rating_dialects.spark_sql`), and `rating_print.py` prints it for a warehouse
(`ratecard sql --priced`). This module holds only the trees and the relations'
columns -- what a line costs, exactly, as SQL:

    unit        q x rate
    package     CEIL(q x (1 / size)) packages x amount
    graduated   base(tier) + (q - lower) x rate     (base: the full tiers
                below, with their flat amounts, and this tier's flat amount)
    volume      q x rate(tier) + flat(tier)          (q = 0 costs nothing)

rounded once to the currency's minor unit (half-even spelled out). A line
the query cannot price exactly is left NULL, for billing's Python pricer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Sequence

import sqlglot
from sqlglot import exp

from .query import HELD_COLUMNS

# The columns rating adds to the aggregation's result, in this order.
RATED_COLUMNS = ("rc_price", "rc_amount", "rc_exact", "rc_packages", "rc_tier", "rc_units", "rc_last")
DIGITS = 38  # DuckDB's widest DECIMAL
FORMS = ("unit", "package", "graduated", "volume")


@dataclass(frozen=True)
class PriceTables:
    """What billing resolved the keys to.

    keys: (shape, meter, day, d0.., price id) for each key a price covers
    rates: price id -> (form, rate, inverse size, amount)
    tiers: (price id, tier index, lower, upper or None, rate, flat, base)
    """

    keys: list[tuple]
    rates: dict[int, tuple[str, Decimal | None, Decimal | None, Decimal | None]]
    tiers: list[tuple] = field(default_factory=list)


@dataclass(frozen=True)
class RatingRequest:
    """Billing's side of rating: which lines are its to price, and how.

    `shapes` are (contract, meter, shape, dated) for every contract and
    meter whose whole-period lines the engine may price; `resolve` takes the
    distinct keys (shape, meter, day or None, d0..) and returns the prices.
    """

    shapes: Sequence[tuple[str, str, int, bool]]
    resolve: Callable[[list[tuple]], PriceTables]
    minor_units: int
    rounding: str  # "half_even" | "half_up"


def _scale(value: Decimal) -> int:
    return max(0, -value.as_tuple().exponent)


def _fits(value: Decimal, scale: int) -> bool:
    """The value is exact in DECIMAL(38, scale)."""
    digits = value.adjusted() + 1 if value else 1
    return _scale(value) <= scale and max(digits, 1) + scale <= DIGITS


def _decimal_type(values: Sequence[Decimal | None]) -> tuple[int, exp.DataType]:
    scale = max((_scale(v) for v in values if v is not None), default=0)
    return scale, exp.DataType.build(f"DECIMAL({DIGITS}, {scale})")


def sql_of(template: str) -> exp.Expression:
    """A fixed piece of the rating query: names only, no values (those are relations)."""
    return sqlglot.parse_one(template, dialect="duckdb")


def dims(width: int) -> list[str]:
    return [f"d{i}" for i in range(width)]


def _lines(outer: bool) -> exp.Select:
    """rc_result with each whole-period usage line's shape and day (NULL for the other
    rows, with `outer`; only those lines without)."""
    kind = "left" if outer else "inner"
    return exp.select(
        "r.*", exp.alias_(exp.column("shape", "s"), "rc_shape"),
        exp.alias_(sql_of("CASE WHEN s.dated THEN CAST(w.start AS DATE) END"), "rc_day"),
    ).from_(exp.alias_(exp.to_table("rc_result"), "r", table=True)).join(
        exp.alias_(exp.to_table("rc_windows"), "w", table=True),
        on=sql_of("r.kind = 'agg' AND w.key = r.window"), join_type=kind,
    ).join(
        exp.alias_(exp.to_table("rc_shapes"), "s", table=True),
        on=sql_of("s.contract = w.contract AND s.meter = r.meter"), join_type=kind,
    )


def keys_query(width: int) -> exp.Select:
    return exp.select("rc_shape", "meter", "rc_day", *dims(width)).distinct().from_(
        _lines(outer=False).subquery("l"))


def _quantity_shape(scale: int) -> str:
    """A plain quantity of at most `scale` decimals: held exactly by DECIMAL(38, scale) (a cast
    of one with more would round it; such a line is left to the Python pricer)."""
    return "[0-9]+" if scale == 0 else f"[0-9]+([.][0-9]{{1,{scale}}})?"


def quantity_scale_query() -> exp.Select:
    """The most fractional digits of any line's quantity (text, plain), to type it exactly."""
    return sql_of("SELECT MAX(LENGTH(quantity) - STRPOS(quantity, '.')) FROM rc_result "
                "WHERE kind = 'agg' AND STRPOS(quantity, '.') > 0")


def _try(e: exp.Expression) -> exp.Expression:
    """NULL where DuckDB would fail (an overflow): that line is left to the Python pricer."""
    return exp.Anonymous(this="TRY", expressions=[e])


def _rounded(exact: exp.Expression, minor: int, rounding: str) -> exp.Expression:
    """`exact` (>= 0) rounded once to `minor` decimals: half-even spelled out."""
    whole = exp.DataType.build(f"DECIMAL({DIGITS}, 0)")
    scaled = exp.Mul(this=exact, expression=exp.cast(exp.Literal.string(str(10 ** minor)), whole))
    floor = exp.Floor(this=scaled.copy())
    rest = exp.Sub(this=scaled.copy(), expression=floor.copy())
    half = exp.cast(exp.Literal.string("0.5"), exp.DataType.build("DECIMAL(2, 1)"))
    one = exp.Literal.number(1)
    if rounding == "half_even":  # a tie goes to the even neighbour
        tie = exp.Add(this=floor.copy(), expression=exp.Mod(this=floor.copy(), expression=exp.Literal.number(2)))
    else:  # half_up: a tie goes up (the engine prices amounts >= 0 only)
        tie = exp.Add(this=floor.copy(), expression=one.copy())
    units = exp.Case(ifs=[
        exp.If(this=exp.GT(this=rest.copy(), expression=half.copy()), true=exp.Add(this=floor.copy(), expression=one)),
        exp.If(this=exp.LT(this=rest.copy(), expression=half.copy()), true=floor.copy()),
    ], default=tie)
    money = exp.DataType.build(f"DECIMAL({DIGITS}, {minor})")
    quantum = exp.cast(exp.Literal.string(format(Decimal(1).scaleb(-minor), "f")), money)
    return exp.cast(exp.Mul(this=exp.cast(units, whole), expression=quantum), money)


def priced_query(width: int, quantity_scale: int, exact_scale: int, minor: int, rounding: str,
                  held: bool = False, classes: Sequence[exp.Expression] | None = None,
                  bound_scale: int = 0) -> exp.Select:
    """rc_result with the rated columns, in the aggregation's order (a weighted meter's
    `held_*` columns kept before them: its step rows are never priced here).

    The one builder of the priced select, for DuckDB's own run (`rate`) and the printed
    query (`printed_query`): with `classes`, a line's dimension values are matched to
    rc_keyprices through those expressions (each value the rules name is itself, every
    other value one class, `PrintedRating`). A graduated line's units in its tier (`rc_units`,
    quantity - lower) are typed with the decimals of the quantity and of the tier bounds
    (`bound_scale`): a bound of 2.5 below a quantity of 5 leaves 2.5 units, not 3."""
    quantity = exp.DataType.build(f"DECIMAL({DIGITS}, {quantity_scale})")
    exact_type = exp.DataType.build(f"DECIMAL({DIGITS}, {exact_scale})")
    units_type = exp.DataType.build(f"DECIMAL({DIGITS}, {max(quantity_scale, bound_scale)})")
    q = exp.Case(ifs=[exp.If(
        this=exp.Anonymous(this="REGEXP_FULL_MATCH", expressions=[
            exp.column("quantity", "l"), exp.Literal.string(_quantity_shape(quantity_scale))]),
        true=exp.TryCast(this=exp.column("quantity", "l"), to=quantity))])
    key_on = [sql_of("k.shape = l.rc_shape AND k.meter = l.meter"),
              exp.NullSafeEQ(this=exp.column("day", "k"), expression=exp.column("rc_day", "l"))]
    key_on += [exp.NullSafeEQ(this=exp.column(d, "k"),
                              expression=exp.column(d, "l") if classes is None else classes[i].copy())
               for i, d in enumerate(dims(width))]
    lines = exp.select("l.*", exp.alias_(q, "rc_q")).from_(_lines(outer=True).subquery("l"))
    # every branch cast to the one exact type on its own: a CASE over DECIMALs of
    # different types that no DECIMAL(38) holds would be typed DOUBLE
    branches = {
        "unit": "l.rc_q * p.rate",
        "package": "CEIL(l.rc_q * p.inverse) * p.amount",
        "graduated": "t.base + (l.rc_q - t.lower) * t.rate",
        "volume": "l.rc_q * t.rate + t.flat",
    }
    zero = exp.EQ(this=exp.column("rc_q", "l"), expression=exp.Literal.number(0))
    exact = exp.Case(this=exp.column("form", "p"), ifs=[
        exp.If(this=exp.Literal.string(form), true=_try(exp.cast(sql_of(text), exact_type)) if form in ("unit", "package")
               else exp.Case(ifs=[exp.If(this=zero.copy(), true=exp.cast(exp.Literal.number(0), exact_type))],
                             default=_try(exp.cast(sql_of(text), exact_type))))  # tiers: zero costs nothing
        for form, text in branches.items()])
    last = exp.Case(this=exp.column("form", "p"), ifs=[
        exp.If(this=exp.Literal.string(form), true=_try(exp.cast(sql_of(text), exact_type)))
        for form, text in (("graduated", "(l.rc_q - t.lower) * t.rate + t.flat"),
                           ("volume", "l.rc_q * t.rate + t.flat"))])
    units = exp.Case(this=exp.column("form", "p"), ifs=[
        exp.If(this=exp.Literal.string(form), true=_try(exp.cast(sql_of(text), units_type)))
        for form, text in (("graduated", "l.rc_q - t.lower"), ("volume", "l.rc_q"))])
    # each line's figures (NULL where the engine cannot give them)
    figures = exp.select(
        "l.*", exp.alias_(exp.column("form", "p"), "rc_form"),
        exp.alias_(sql_of("CASE WHEN l.rc_q IS NOT NULL THEN p.price END"), "rc_price0"),
        exp.alias_(exact, "rc_exact0"),
        exp.alias_(sql_of("CASE WHEN p.form = 'package' THEN TRY(CEIL(l.rc_q * p.inverse)) END"), "rc_packages"),
        exp.alias_(sql_of("CASE WHEN p.form IN ('graduated', 'volume') THEN t.idx END"), "rc_tier"),
        exp.alias_(units, "rc_units"),
        exp.alias_(last, "rc_last"),
    ).from_(lines.subquery("l")).join(
        exp.alias_(exp.to_table("rc_keyprices"), "k", table=True), on=exp.and_(*key_on), join_type="left",
    ).join(
        exp.alias_(exp.to_table("rc_rates"), "p", table=True), on=sql_of("p.price = k.price"), join_type="left",
    ).join(
        exp.alias_(exp.to_table("rc_tiers"), "t", table=True),
        on=sql_of("t.price = k.price AND l.rc_q > t.lower AND (t.upper IS NULL OR l.rc_q <= t.upper)"),
        join_type="left",
    )
    rounded = exp.select("a.*", exp.alias_(_try(_rounded(exp.column("rc_exact0", "a"), minor, rounding)),
                                           "rc_amount0")).from_(figures.subquery("a"))
    # a line is the engine's only when every figure it needs is there; else billing prices it
    complete = sql_of(
        "b.rc_price0 IS NOT NULL AND b.rc_exact0 IS NOT NULL AND b.rc_exact0 >= 0 AND b.rc_amount0 IS NOT NULL"
        " AND (b.rc_form <> 'package' OR b.rc_packages IS NOT NULL)"
        " AND (b.rc_form NOT IN ('graduated', 'volume') OR b.rc_q = 0"
        "      OR (b.rc_tier IS NOT NULL AND b.rc_units IS NOT NULL AND b.rc_last IS NOT NULL))")
    keep = {"rc_price": "rc_price0", "rc_amount": "rc_amount0", "rc_exact": "rc_exact0",
            "rc_packages": "rc_packages", "rc_tier": "rc_tier", "rc_units": "rc_units", "rc_last": "rc_last"}
    priced = exp.select(
        *[exp.column(c, "b") for c in ("kind", "window", "meter", *dims(width), "quantity", "events",
                                       *(HELD_COLUMNS if held else ()))],
        *[exp.alias_(exp.Case(ifs=[exp.If(this=complete.copy(), true=exp.column(keep[c], "b"))]), c)
          for c in RATED_COLUMNS],
    ).from_(rounded.subquery("b"))
    order = [exp.Ordered(this=exp.column(c, "b"), nulls_first=True)
             for c in ("kind", "window", "meter", *dims(width))]
    return priced.order_by(*order)


def price_relations(width: int, tables: PriceTables) -> tuple[list[tuple[str, list[tuple[str, str, list]]]],
                                                            int, int, int]:
    """rc_keyprices, rc_rates and rc_tiers as (name, [(column, type, values)]), for any engine to
    create (or to print as VALUES); and the scales of the rate, of the tier columns' largest exact
    products (for the exact amount's type) and of the tier bounds (for a tier's units)."""
    usable = tables.rates
    tiers = [t for t in tables.tiers if t[0] in usable]
    keys = [k for k in tables.keys if k[-1] in usable]
    rates = sorted(usable.items())
    rate_scale, rate_type = _decimal_type([r[1][1] for r in rates] + [t[4] for t in tiers])
    inverse_scale, inverse_type = _decimal_type([r[1][2] for r in rates])
    amount_scale, amount_type = _decimal_type([r[1][3] for r in rates] + [t[5] for t in tiers] +
                                              [t[6] for t in tiers])
    bound_scale, bound_type = _decimal_type([t[2] for t in tiers] + [t[3] for t in tiers])
    relations = [
        ("rc_keyprices", [
            ("shape", "INTEGER", [k[0] for k in keys]), ("meter", "VARCHAR", [k[1] for k in keys]),
            ("day", "DATE", [k[2] for k in keys]),
            *[(d, "VARCHAR", [k[3 + i] for k in keys]) for i, d in enumerate(dims(width))],
            ("price", "INTEGER", [k[-1] for k in keys])]),
        ("rc_rates", [
            ("price", "INTEGER", [p for p, _ in rates]), ("form", "VARCHAR", [r[0] for _, r in rates]),
            ("rate", rate_type.sql(dialect="duckdb"), [r[1] for _, r in rates]),
            ("inverse", inverse_type.sql(dialect="duckdb"), [r[2] for _, r in rates]),
            ("amount", amount_type.sql(dialect="duckdb"), [r[3] for _, r in rates])]),
        ("rc_tiers", [
            ("price", "INTEGER", [t[0] for t in tiers]), ("idx", "INTEGER", [t[1] for t in tiers]),
            ("lower", bound_type.sql(dialect="duckdb"), [t[2] for t in tiers]),
            ("upper", bound_type.sql(dialect="duckdb"), [t[3] for t in tiers]),
            ("rate", rate_type.sql(dialect="duckdb"), [t[4] for t in tiers]),
            ("flat", amount_type.sql(dialect="duckdb"), [t[5] for t in tiers]),
            ("base", amount_type.sql(dialect="duckdb"), [t[6] for t in tiers])]),
    ]
    return relations, max(rate_scale, inverse_scale), max(amount_scale, bound_scale + rate_scale), bound_scale


def shape_relation(request: RatingRequest) -> list:
    """rc_shapes' columns: (contract, meter) -> shape, dated."""
    return [("contract", "VARCHAR", [s[0] for s in request.shapes]),
            ("meter", "VARCHAR", [s[1] for s in request.shapes]),
            ("shape", "INTEGER", [s[2] for s in request.shapes]),
            ("dated", "BOOLEAN", [s[3] for s in request.shapes])]


def fits(value: Decimal | None) -> bool:
    """A figure of a price the engine can hold exactly (DECIMAL(38, s) with room for a quantity)."""
    return value is None or (value >= 0 and _fits(value, _scale(value)) and _scale(value) <= 18)


def unpriced_query(width: int) -> exp.Select:
    """rc_result with every rated column NULL: billing prices every line."""
    return exp.select("*", *[exp.alias_(exp.Null(), c) for c in RATED_COLUMNS]).from_("rc_result").order_by(
        *[exp.Ordered(this=exp.column(c, quoted=True), nulls_first=True)
          for c in ("kind", "window", "meter", *dims(width))])
