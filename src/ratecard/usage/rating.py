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

Spark runs the same queries (`spark_rating.py`): `spark_sql` writes this
module's trees for Spark SQL, with what DuckDB spells otherwise rewritten.
"""

from __future__ import annotations

import datetime as dt
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


def _sql(template: str) -> exp.Expression:
    """A fixed piece of the rating query: names only, no values (those are relations)."""
    return sqlglot.parse_one(template, dialect="duckdb")


def _dims(width: int) -> list[str]:
    return [f"d{i}" for i in range(width)]


def _lines(outer: bool) -> exp.Select:
    """rc_result with each whole-period usage line's shape and day (NULL for the other
    rows, with `outer`; only those lines without)."""
    kind = "left" if outer else "inner"
    return exp.select(
        "r.*", exp.alias_(exp.column("shape", "s"), "rc_shape"),
        exp.alias_(_sql("CASE WHEN s.dated THEN CAST(w.start AS DATE) END"), "rc_day"),
    ).from_(exp.alias_(exp.to_table("rc_result"), "r", table=True)).join(
        exp.alias_(exp.to_table("rc_windows"), "w", table=True),
        on=_sql("r.kind = 'agg' AND w.key = r.window"), join_type=kind,
    ).join(
        exp.alias_(exp.to_table("rc_shapes"), "s", table=True),
        on=_sql("s.contract = w.contract AND s.meter = r.meter"), join_type=kind,
    )


def _keys_query(width: int) -> exp.Select:
    return exp.select("rc_shape", "meter", "rc_day", *_dims(width)).distinct().from_(
        _lines(outer=False).subquery("l"))


def _quantity_shape(scale: int) -> str:
    """A plain quantity of at most `scale` decimals: held exactly by DECIMAL(38, scale) (a cast
    of one with more would round it; such a line is left to the Python pricer)."""
    return "[0-9]+" if scale == 0 else f"[0-9]+([.][0-9]{{1,{scale}}})?"


def _quantity_scale_query() -> exp.Select:
    """The most fractional digits of any line's quantity (text, plain), to type it exactly."""
    return _sql("SELECT MAX(LENGTH(quantity) - STRPOS(quantity, '.')) FROM rc_result "
                "WHERE kind = 'agg' AND STRPOS(quantity, '.') > 0")


def _quantity_scale(conn) -> int:
    (found,), = conn.execute(_quantity_scale_query().sql(dialect="duckdb", identify=True)).fetchall()
    return int(found or 0)


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


def _priced_query(width: int, quantity_scale: int, exact_scale: int, minor: int, rounding: str,
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
    key_on = [_sql("k.shape = l.rc_shape AND k.meter = l.meter"),
              exp.NullSafeEQ(this=exp.column("day", "k"), expression=exp.column("rc_day", "l"))]
    key_on += [exp.NullSafeEQ(this=exp.column(d, "k"),
                              expression=exp.column(d, "l") if classes is None else classes[i].copy())
               for i, d in enumerate(_dims(width))]
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
        exp.If(this=exp.Literal.string(form), true=_try(exp.cast(_sql(text), exact_type)) if form in ("unit", "package")
               else exp.Case(ifs=[exp.If(this=zero.copy(), true=exp.cast(exp.Literal.number(0), exact_type))],
                             default=_try(exp.cast(_sql(text), exact_type))))  # tiers: zero costs nothing
        for form, text in branches.items()])
    last = exp.Case(this=exp.column("form", "p"), ifs=[
        exp.If(this=exp.Literal.string(form), true=_try(exp.cast(_sql(text), exact_type)))
        for form, text in (("graduated", "(l.rc_q - t.lower) * t.rate + t.flat"),
                           ("volume", "l.rc_q * t.rate + t.flat"))])
    units = exp.Case(this=exp.column("form", "p"), ifs=[
        exp.If(this=exp.Literal.string(form), true=_try(exp.cast(_sql(text), units_type)))
        for form, text in (("graduated", "l.rc_q - t.lower"), ("volume", "l.rc_q"))])
    # each line's figures (NULL where the engine cannot give them)
    figures = exp.select(
        "l.*", exp.alias_(exp.column("form", "p"), "rc_form"),
        exp.alias_(_sql("CASE WHEN l.rc_q IS NOT NULL THEN p.price END"), "rc_price0"),
        exp.alias_(exact, "rc_exact0"),
        exp.alias_(_sql("CASE WHEN p.form = 'package' THEN TRY(CEIL(l.rc_q * p.inverse)) END"), "rc_packages"),
        exp.alias_(_sql("CASE WHEN p.form IN ('graduated', 'volume') THEN t.idx END"), "rc_tier"),
        exp.alias_(units, "rc_units"),
        exp.alias_(last, "rc_last"),
    ).from_(lines.subquery("l")).join(
        exp.alias_(exp.to_table("rc_keyprices"), "k", table=True), on=exp.and_(*key_on), join_type="left",
    ).join(
        exp.alias_(exp.to_table("rc_rates"), "p", table=True), on=_sql("p.price = k.price"), join_type="left",
    ).join(
        exp.alias_(exp.to_table("rc_tiers"), "t", table=True),
        on=_sql("t.price = k.price AND l.rc_q > t.lower AND (t.upper IS NULL OR l.rc_q <= t.upper)"),
        join_type="left",
    )
    rounded = exp.select("a.*", exp.alias_(_try(_rounded(exp.column("rc_exact0", "a"), minor, rounding)),
                                           "rc_amount0")).from_(figures.subquery("a"))
    # a line is the engine's only when every figure it needs is there; else billing prices it
    complete = _sql(
        "b.rc_price0 IS NOT NULL AND b.rc_exact0 IS NOT NULL AND b.rc_exact0 >= 0 AND b.rc_amount0 IS NOT NULL"
        " AND (b.rc_form <> 'package' OR b.rc_packages IS NOT NULL)"
        " AND (b.rc_form NOT IN ('graduated', 'volume') OR b.rc_q = 0"
        "      OR (b.rc_tier IS NOT NULL AND b.rc_units IS NOT NULL AND b.rc_last IS NOT NULL))")
    keep = {"rc_price": "rc_price0", "rc_amount": "rc_amount0", "rc_exact": "rc_exact0",
            "rc_packages": "rc_packages", "rc_tier": "rc_tier", "rc_units": "rc_units", "rc_last": "rc_last"}
    priced = exp.select(
        *[exp.column(c, "b") for c in ("kind", "window", "meter", *_dims(width), "quantity", "events",
                                       *(HELD_COLUMNS if held else ()))],
        *[exp.alias_(exp.Case(ifs=[exp.If(this=complete.copy(), true=exp.column(keep[c], "b"))]), c)
          for c in RATED_COLUMNS],
    ).from_(rounded.subquery("b"))
    order = [exp.Ordered(this=exp.column(c, "b"), nulls_first=True)
             for c in ("kind", "window", "meter", *_dims(width))]
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
            *[(d, "VARCHAR", [k[3 + i] for k in keys]) for i, d in enumerate(_dims(width))],
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
    """A rating query in Spark SQL, its relations renamed (`names`: rc_x -> the run's view).

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
    return tree.sql(dialect="spark", identify=True)


def _register_prices(conn, width: int, tables: PriceTables) -> tuple[int, int, int]:
    """rc_keyprices, rc_rates and rc_tiers as temporary tables; the scales (`price_relations`)."""
    relations, rate_scale, exact_scale, bound_scale = price_relations(width, tables)
    for name, columns in relations:
        _create(conn, name, columns)
    return rate_scale, exact_scale, bound_scale


def fits(value: Decimal | None) -> bool:
    """A figure of a price the engine can hold exactly (DECIMAL(38, s) with room for a quantity)."""
    return value is None or (value >= 0 and _fits(value, _scale(value)) and _scale(value) <= 18)


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
        keys = conn.execute(_keys_query(width).sql(dialect="duckdb", identify=True)).fetchall()
        tables = request.resolve([(k[0], k[1], _day(k[2]), *k[3:]) for k in keys])
        quantity_scale = _quantity_scale(conn)
        rate_scale, exact_scale, bound_scale = _register_prices(conn, width, tables)
        exact_scale = max(exact_scale, quantity_scale + rate_scale, request.minor_units)
        if exact_scale <= DIGITS:  # else the products could not be typed: Python prices every line
            query = _priced_query(width, quantity_scale, exact_scale, request.minor_units, request.rounding, held,
                                  bound_scale=bound_scale)
            return conn.sql(query.sql(dialect="duckdb", identify=True)).to_arrow_table()
    except duckdb.Error:
        pass
    return conn.sql(unpriced_query(width).sql(dialect="duckdb", identify=True)).to_arrow_table()


def unpriced_query(width: int) -> exp.Select:
    """rc_result with every rated column NULL: billing prices every line."""
    return exp.select("*", *[exp.alias_(exp.Null(), c) for c in RATED_COLUMNS]).from_("rc_result").order_by(
        *[exp.Ordered(this=exp.column(c, quoted=True), nulls_first=True)
          for c in ("kind", "window", "meter", *_dims(width))])


def _day(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


# ----------------------------------------------------------------- the printed rating (`ratecard sql --priced`)

# The decimals of a quantity the printed query prices (a line with more is left to the
# Python pricer): it cannot look at the usage first, as `rate` does.
PRINTED_QUANTITY_SCALE = 9


@dataclass(frozen=True)
class PrintedRating:
    """The whole rating of a printed query, resolved by billing before any usage is seen
    (`engine_rating.EnginePrices.printed`): every key class (shape, meter, day, classes
    of the dimension values) with its price.

    named: meter -> per dimension, the values some rule or modifier of its layers names;
    every other value of that dimension resolves alike, as the one class `other`.
    """

    shapes: Sequence[tuple[str, str, int, bool]]
    tables: PriceTables
    named: dict[str, tuple[frozenset[str], ...]]
    other: str
    minor_units: int
    rounding: str


def _class_of(index: int, named: dict[str, tuple[frozenset[str], ...]], other: str) -> exp.Expression:
    """A line's value of dimension `index` as its key class: itself when a rule of its
    meter names it, else `other` (absent stays absent)."""
    value = exp.column(f"d{index}", "l")
    tests = [exp.and_(exp.EQ(this=exp.column("meter", "l"), expression=exp.Literal.string(meter)),
                      exp.In(this=value.copy(), expressions=[exp.Literal.string(v) for v in sorted(sets[index])]))
             for meter, sets in sorted(named.items()) if index < len(sets) and sets[index]]
    ifs = [exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null())]
    if tests:
        ifs.append(exp.If(this=exp.or_(*tests) if len(tests) > 1 else tests[0], true=value.copy()))
    return exp.Case(ifs=ifs, default=exp.Literal.string(other))


def _values(columns: Sequence[tuple[str, str, list]]) -> exp.Select:
    """A relation as typed VALUES, every cell cast to its column's type (a decimal written
    as its exact text), typed even when empty (one row of NULLs, `WHERE FALSE`)."""
    from .sql import alias, cast, col, lit

    types = [(name, exp.DataType.build(kind)) for name, kind, _ in columns]

    def cell(value, kind: exp.DataType) -> exp.Expression:
        if isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif value is not None:  # text, a whole number, a boolean: typed as the literal is
            return lit(value)
        return cast(lit(value), kind)

    rows = list(zip(*[values for _, _, values in columns]))
    cells = rows or [[None] * len(columns)]
    values = exp.values([tuple(cell(v, kind) for v, (_, kind) in zip(row, types)) for row in cells],
                        alias="v", columns=[exp.to_identifier(n, quoted=True) for n, _ in types])
    select = exp.select(*[alias(cast(col(n), kind), n) for n, kind in types]).from_(values)
    return select.where(exp.false()) if not rows else select


def _printed_parts(printed: PrintedRating, width: int, held: bool,
                   ctes: bool = True) -> tuple[exp.Select, str]:
    """The priced select with the price relations as its CTEs (no `rc_prices` column yet),
    and its fingerprint: `sha256:` + 16 hex digits of the select's DuckDB text and the
    relations' rows (their columns, types and values as text; cheaper than their SQL)."""
    import hashlib
    import json

    shapes = printed.shapes
    relations, rate_scale, exact_scale, bound_scale = price_relations(width, printed.tables)
    relations.insert(0, ("rc_shapes", [
        ("contract", "VARCHAR", [s[0] for s in shapes]), ("meter", "VARCHAR", [s[1] for s in shapes]),
        ("shape", "INTEGER", [s[2] for s in shapes]), ("dated", "BOOLEAN", [s[3] for s in shapes])]))
    exact_scale = max(exact_scale, PRINTED_QUANTITY_SCALE + rate_scale, printed.minor_units)
    classes = [_class_of(i, printed.named, printed.other) for i in range(width)]
    query = _priced_query(width, PRINTED_QUANTITY_SCALE, exact_scale, printed.minor_units, printed.rounding,
                          held, classes, bound_scale)
    digest = hashlib.sha256(query.sql(dialect="duckdb").encode("utf-8"))
    digest.update(json.dumps([[name, [[c, kind, [None if v is None else str(v) for v in values]]
                                      for c, kind, values in columns]] for name, columns in relations],
                             separators=(",", ":")).encode("utf-8"))
    if ctes:
        query.set("with_", exp.With(expressions=[
            exp.CTE(this=_values(columns), alias=exp.TableAlias(this=exp.to_identifier(name)))
            for name, columns in relations]))
    return query, "sha256:" + digest.hexdigest()[:16]


def printed_fingerprint(printed: PrintedRating, width: int, held: bool) -> str:
    """What the printed rating prices with (`_printed_parts`); the `rc_prices` column carries it."""
    return _printed_parts(printed, width, held, ctes=False)[1]


def printed_query(aggregation: exp.Select, printed: PrintedRating, width: int, held: bool) -> exp.Select:
    """The aggregation and its rating as one query: the aggregation's CTEs, the aggregation
    itself as rc_result, the price relations as VALUES, then the priced select with the
    `rc_prices` fingerprint on every row. `aggregation` becomes part of it (not copied)."""
    query, fingerprint = _printed_parts(printed, width, held)
    query.select(exp.alias_(exp.cast(exp.Literal.string(fingerprint), exp.DataType.build("VARCHAR")), "rc_prices"),
                 copy=False)
    own = aggregation.args.get("with_")  # the aggregation is taken over, not copied
    aggregation.set("with_", None)
    result = exp.CTE(this=aggregation, alias=exp.TableAlias(this=exp.to_identifier("rc_result")))
    query.set("with_", exp.With(expressions=[*(own.expressions if own else []), result,
                                             *query.args["with_"].expressions]))
    return query


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
    for node in list(tree.find_all(exp.Try)):  # TRY as DuckDB's parser reads it (`_sql`)
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
