"""The usage aggregation as one SQL syntax tree, built with sqlglot.

    sources (files or a table) -> events: id, type, customer, t, p0..pn (text)
      -> bad-row flags -> dedup on (customer, id) (see `dedup`) -> classification
         (contract term, billing window, reason) -> one GROUP BY per meter

A contract has a term per stretch of time over which the same meters are
billable (`records.ContractTerm`): the term an event joins is the one in effect
at its time, so whether it is billed follows the plan in effect then (a plan
change to one that charges other meters starts a new term), never the
contract's first plan alone.
      -> a single result: aggregate rows, then counts by reason

Each source is read by `sources.source_select`; the building blocks are in
`sql`. The same tree is generated for DuckDB (the embedded engine), Spark and the
warehouses `ratecard sql` supports.

Result rows have the columns of `RESULT_COLUMNS` plus one `d<i>` column per
dimension position. `kind` says what a row is:

- `agg`: `window`, `meter`, `d0..`, `quantity` (text), `events`;
- `step` (only with a `weighted` meter, whose query has two more columns,
  `held_from` and `held_until`): one piece of a weighted line's step function,
  a value (`quantity`) held over [held_from, held_until) (microseconds since
  1970, UTC) in `window`; `events` is 1 when its report is inside the window
  (see `weighted_select`);
- `reason`: `meter` holds a rejection reason (or `billed`), `events` the count;
- `read`, `bad`, `kept`: counts of rows read, rows failing the row checks,
  and events left after dedup (duplicates = read - bad - kept).
"""


from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlglot import exp

from ..model import Condition, Meter, RatingPlan, expression_properties
from . import derived_sql
from .derived_sql import quantity_value
from .rows import NEGATIVE_PATTERN, QUANTITY_FUNCTIONS, QUANTITY_PATTERN, needed_keys
from .sources import Source, source_select
from .sql import TEXT, alias, and_, cast, col, exponent_quantity, fn, lit, or_, regex, strip_zeros


@dataclass(frozen=True)
class Relations:
    """The contract terms and billing windows the query joins against."""

    terms: exp.Expression       # contract, customer, plan, starts, ends
    windows: exp.Expression     # key, contract, start, end (billing periods)
    segments: exp.Expression    # key, contract, meter, start, end


@dataclass
class QueryShape:
    """What the Python side needs to read the result back."""

    dimensions: int                            # number of d<i> columns
    held: bool = False                         # `held_from`, `held_until` follow `events` (weighted meters)


HELD_COLUMNS = ("held_from", "held_until")
# A meter's aggregate as text, before its storage zeros are trimmed (`_meter_select`).
AGGREGATE = "g_quantity"
BIGINT = exp.DataType.build("BIGINT")


# ----------------------------------------------------------------- conditions


class _Props:
    """Property key -> `p<i>` column of the event relation."""

    def __init__(self, keys: Sequence[str], table: str | None = None):
        self.index = {k: i for i, k in enumerate(keys)}
        self.table = table

    def __call__(self, key: str) -> exp.Expression:
        i = self.index.get(key)
        return cast(exp.Null(), TEXT) if i is None else col(f"p{i}", self.table)


def condition(c: Condition, props: _Props) -> exp.Expression:
    value = props(c.key)
    members = exp.In(this=value.copy(), expressions=[lit(v) for v in c.values])
    present = exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
    if c.positive:
        return exp.Paren(this=and_(present, members))
    return exp.Paren(this=or_(exp.Is(this=value.copy(), expression=exp.Null()), exp.Not(this=members)))


def reads(meter: Meter, props: _Props, type_col: exp.Expression) -> exp.Expression:
    """The event is of the meter's type and passes its `where`."""
    parts = [exp.EQ(this=type_col.copy(), expression=lit(meter.event))]
    parts += [condition(c, props) for c in meter.where]
    return exp.Paren(this=and_(*parts))


def _bad_quantity(value: exp.Expression) -> exp.Expression:
    """Not a quantity `rows.parse_quantity` accepts: one pattern, no cast (cheaper per
    row); a number written with an exponent is checked once written out."""
    trimmed = exp.Trim(this=value.copy())
    # a CASE, not AND: DuckDB evaluates both sides of an AND for every row
    unreadable = exp.Case(ifs=[exp.If(this=regex(trimmed, QUANTITY_PATTERN), true=exp.false())],
                          default=exp.Not(this=exponent_quantity(trimmed)))
    return exp.Paren(this=or_(exp.Is(this=value.copy(), expression=exp.Null()), unreadable))


def _bad_operands(m: Meter, props: _Props) -> exp.Expression:
    bad = [_bad_quantity(props(k)) for k in expression_properties(m.aggregation.expression)]
    return exp.or_(*bad) if bad else exp.false()  # (`sum 2 * 3` reads no property)


def derived_nodes(plan: RatingPlan) -> dict[str, derived_sql.Nodes]:
    """Each derived meter's nodes, as the columns `dq<i>_<k>` (i: the meter's place by name)."""
    meters = sorted(plan.meters.values(), key=lambda m: m.name)
    return {m.name: derived_sql.Nodes(m.aggregation.expression, f"dq{i}")
            for i, m in enumerate(meters) if m.aggregation.expression is not None}


def derived_columns(plan: RatingPlan, props: _Props,
                    derived: dict[str, derived_sql.Nodes]) -> list[list[list[exp.Expression]]]:
    """The node columns of every derived meter (`derived_sql.Nodes.levels`), each guarded by
    the meter reading the event and its operands being quantities."""
    return [nodes.levels(props, exp.and_(reads(plan.meters[name], props, col("type")),
                                         exp.Not(this=exp.Paren(this=_bad_operands(plan.meters[name], props)))))
            for name, nodes in derived.items()]


def bad_row(plan: RatingPlan, props: _Props, derived: dict[str, derived_sql.Nodes]) -> exp.Expression:
    """The SQL twin of rows.row_problem (is this row bad at all); `derived`: the derived
    meters' node columns (`derived_nodes`)."""
    parts: list[exp.Expression] = [exp.Is(this=col(n), expression=exp.Null()) for n in ("id", "type", "customer")]
    parts.append(col("time_bad"))
    parts.append(col("row_bad"))
    for m in sorted(plan.meters.values(), key=lambda m: m.name):
        if m.aggregation.expression is not None:
            nodes = derived[m.name]
            parts.append(exp.Paren(this=exp.and_(reads(m, props, col("type")), _bad_operands(m, props))))
            flagged = derived_sql.problem(nodes)
            if flagged is not None:  # (a CASE: the node columns are NULL unless the guard holds)
                parts.append(exp.Case(ifs=[exp.If(this=col(nodes.guard), true=flagged)], default=exp.false()))
        elif m.aggregation.function in QUANTITY_FUNCTIONS:
            bad = _bad_quantity(props(m.aggregation.field))
            if m.aggregation.function == "weighted":  # a level below zero (rows.row_problem)
                bad = or_(bad, regex(exp.Trim(this=props(m.aggregation.field)), NEGATIVE_PATTERN))
            parts.append(exp.Paren(this=and_(reads(m, props, col("type")), bad)))
    return exp.func("COALESCE", exp.Paren(this=or_(*parts)), exp.true())


# ----------------------------------------------------------------- the query


def member(e: exp.Expression, values: Sequence[str]) -> exp.Expression:
    """`e IN (values)`; FALSE (not NULL) for no values, so CASE and NOT behave."""
    if not values:
        return exp.false()
    return exp.In(this=e, expressions=[lit(v) for v in values])


def _plans_charging(plan: RatingPlan, meter: str) -> list[str]:
    """The plans that charge `meter`: an event is billable for it when its term's plan (the
    plan in effect at the event's time) is one of them."""
    return sorted(p.name for p in plan.plans.values() if any(c.meter == meter for c in p.charges))


def _in_window(t: exp.Expression, table: str) -> exp.Expression:
    return and_(exp.LTE(this=col("start", table), expression=t.copy()),
                    exp.GT(this=col("end", table), expression=t.copy()))


def build_query(plan: RatingPlan, sources: Sequence[Source], relations: Relations,
                keys: Sequence[str] | None = None, *,
                rank_every_event: bool = False, contract: str | None = None) -> tuple[exp.Select, QueryShape]:
    """The aggregation. `rank_every_event` dedups with one window over every event
    instead of ranking only the re-sent keys: the same result, and the cheaper plan
    when the events do not fit in the engine's memory (see `dedup`).

    With `contract` (`--contract NAME`), only that contract's usage is aggregated:
    every event is still classified against every contract's terms and windows,
    so the counts (by reason, read, bad, kept) are the whole run's, but the
    GROUP BYs keep that contract's rows only -- what the full query returns for
    it, without the other contracts' lines nobody will price."""
    keys = tuple(needed_keys(plan) if keys is None else keys)
    props = _Props(keys)
    meters = sorted(plan.meters.values(), key=lambda m: m.name)
    width = max((len(m.dimensions) for m in meters), default=0)
    shape = QueryShape(width, any(m.aggregation.function == "weighted" for m in meters))

    union: exp.Expression = source_select(sources[0], keys)
    for s in sources[1:]:
        union = exp.union(union, source_select(s, keys), distinct=False, copy=False)
    derived = derived_nodes(plan)
    union = derived_sql.with_levels(union, derived_columns(plan, props, derived))  # each node once per event
    events = exp.select("*", alias(bad_row(plan, props, derived), "bad"), copy=False) \
        .from_(union.subquery("src", copy=False), copy=False)

    kept, dup_keys = dedup(keys, rank_every_event)

    # classification
    e = "dd"
    in_term = and_(
        exp.EQ(this=col("customer", "tm"), expression=col("customer", e)),
        exp.LTE(this=col("starts", "tm"), expression=col("t", e)),
        exp.Paren(this=or_(exp.Is(this=col("ends", "tm"), expression=exp.Null()),
                               exp.GT(this=col("ends", "tm"), expression=col("t", e)))))
    in_window = and_(exp.EQ(this=col("contract", "w"), expression=col("contract", "tm")),
                         _in_window(col("t", e), "w"))
    eprops = _Props(keys, e)
    types = sorted({m.event for m in meters})
    passing = [reads(m, eprops, col("type", e)) for m in meters]
    charged = [exp.Paren(this=and_(reads(m, eprops, col("type", e)),
                                       member(col("plan", "tm"), _plans_charging(plan, m.name))))
               for m in meters]
    reason = exp.Case(ifs=[
        exp.If(this=col("bad", e), true=lit("bad")),
        exp.If(this=exp.GT(this=col("rn", e), expression=lit(1)), true=lit("duplicate")),
        exp.If(this=exp.Is(this=col("customer", "kc"), expression=exp.Null()), true=lit("unknown_customer")),
        exp.If(this=exp.Is(this=col("contract", "tm"), expression=exp.Null()), true=lit("outside_contract")),
        exp.If(this=exp.Is(this=col("key", "w"), expression=exp.Null()), true=lit("not_yet_billable")),
        exp.If(this=exp.Not(this=member(col("type", e), types)),
               true=lit("no_meter")),
        exp.If(this=exp.Not(this=exp.Paren(this=or_(*passing) if passing else exp.false())),
               true=lit("filtered")),
        exp.If(this=exp.Not(this=exp.Paren(this=or_(*charged) if charged else exp.false())),
               true=lit("not_in_plan")),
    ], default=lit("billed"))
    customers = exp.select(alias(col("customer"), "customer"), copy=False).distinct(copy=False).from_(
        _as(relations.terms, "t0"), copy=False)
    classified = (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(e)),
                   alias(col("contract", "tm"), "contract"), alias(col("plan", "tm"), "plan"),
                   alias(col("key", "w"), "wkey"), alias(reason, "reason"), copy=False)
        .from_(exp.to_table(e), copy=False)
        .join(customers.subquery("kc", copy=False),
              on=exp.EQ(this=col("customer", "kc"), expression=col("customer", e)),
              join_type="left", copy=False)
        .join(_as(relations.terms, "tm"), on=in_term, join_type="left", copy=False)
        .join(_as(relations.windows, "w"), on=in_window, join_type="left", copy=False)
    )

    parts: list[exp.Select] = []
    steps: list[exp.Select] = []
    for m in meters:
        if m.aggregation.function == "weighted":
            steps.append(weighted_select(plan, m, props, width, relations, contract))
        else:
            parts.append(_meter_select(plan, m, props, width, relations, derived.get(m.name), contract))
    counts = (exp.select(alias(lit("reason"), "kind"), alias(cast(exp.Null(), TEXT), "window"),
                         alias(col("reason"), "meter"),
                         *[alias(cast(exp.Null(), TEXT), f"d{i}") for i in range(width)],
                         alias(cast(exp.Null(), TEXT), "quantity"),
                         alias(exp.Count(this=exp.Star()), "events"), copy=False)
              .from_("cl", copy=False).where(exp.Not(this=member(col("reason"), ["bad", "duplicate"])), copy=False)
              .group_by(col("reason"), copy=False))
    parts.append(counts)
    not_kept = member(col("reason"), ["bad", "duplicate"])
    for kind, rel, where in (("read", "cl", None), ("bad", "cl", exp.EQ(this=col("reason"), expression=lit("bad"))),
                             ("kept", "cl", exp.Not(this=not_kept))):
        q = exp.select(alias(lit(kind), "kind"), alias(cast(exp.Null(), TEXT), "window"),
                       alias(cast(exp.Null(), TEXT), "meter"),
                       *[alias(cast(exp.Null(), TEXT), f"d{i}") for i in range(width)],
                       alias(cast(exp.Null(), TEXT), "quantity"),
                       alias(exp.Count(this=exp.Star()), "events"), copy=False).from_(rel, copy=False)
        parts.append(q.where(where, copy=False) if where is not None else q)

    if shape.held:  # every other row has no piece of a step function
        parts = [p.select(*held_nulls(), copy=False) for p in parts]
    body: exp.Expression = parts[0]
    for p in parts[1:] + steps:
        body = exp.union(body, p, distinct=False, copy=False)
    # sorted here, once, by the engine: the Python side reads the rows in order
    order = [exp.Ordered(this=col(c), nulls_first=True)
             for c in ("kind", "window", "meter", *[f"d{i}" for i in range(width)],
                       *(HELD_COLUMNS if shape.held else ()))]
    query = (exp.select("*", copy=False).from_(body.subquery("result", copy=False), copy=False)
             .order_by(*order, copy=False).with_("ev", as_=events, copy=False))
    if dup_keys is not None:
        query = query.with_("dk", as_=dup_keys, copy=False)
    query = query.with_("dd", as_=kept, copy=False).with_("cl", as_=classified, materialized=True, copy=False)
    return query, shape


def dedup(keys: Sequence[str], rank_every_event: bool) -> tuple[exp.Expression, exp.Select | None]:
    """`dd`: the events of `ev` with their rank within their (customer, id),
    first good row first (then by time, type and property values); and `dk`,
    the keys it needs, or None.

    Re-sent events are rare, so by default only the rows of a key seen more
    than once (`dk`, a GROUP BY on two columns) are ranked and every other row
    is its key's first: one window over every event sorts them all by key,
    carrying every column through the sort. But `ev` is then read three
    times, which the engine keeps it for; when the events do not fit in its
    memory that costs more than the window, which spills in one sorted pass,
    and `rank_every_event` ranks them all in one window instead (the figures:
    docs/scale.md, "Histories: usage").
    """
    table = None if rank_every_event else "ev"
    order = [exp.Ordered(this=col("bad", table)), exp.Ordered(this=col("t", table)),
             exp.Ordered(this=col("type", table))]
    order += [exp.Ordered(this=col(f"p{i}", table), nulls_first=True) for i in range(len(keys))]
    rank = exp.Window(this=exp.RowNumber(),
                      partition_by=[col("customer", table), col("id", table)],
                      order=exp.Order(expressions=order))
    if rank_every_event:
        return exp.select("*", alias(rank, "rn"), copy=False).from_("ev", copy=False), None
    dup_keys = (exp.select(col("customer"), col("id"), copy=False).from_("ev", copy=False)
                .group_by(col("customer"), col("id"), copy=False)
                .having(exp.GT(this=exp.Count(this=exp.Star()), expression=lit(1)), copy=False))
    same_key = and_(exp.EQ(this=col("customer", "dk"), expression=col("customer", "ev")),
                        exp.EQ(this=col("id", "dk"), expression=col("id", "ev")))
    every = exp.Column(this=exp.Star(), table=exp.to_identifier("ev"))
    once = (exp.select(every, alias(lit(1), "rn"), copy=False).from_("ev", copy=False)
            .join(exp.to_table("dk"), on=same_key, join_type="left", copy=False)
            .where(exp.Is(this=col("customer", "dk"), expression=exp.Null()), copy=False))
    resent = (exp.select(every.copy(), alias(rank, "rn"), copy=False).from_("ev", copy=False)
              .join(exp.to_table("dk"), on=same_key.copy(), join_type="inner", copy=False))
    return exp.union(once, resent, distinct=False, copy=False), dup_keys


def _as(relation: exp.Expression, name: str) -> exp.Expression:
    if isinstance(relation, exp.Table):
        return relation.copy().as_(name)
    return relation.copy().subquery(name, copy=False)


def _meter_select(plan: RatingPlan, m: Meter, props: _Props, width: int,
                  relations: Relations, nodes: derived_sql.Nodes | None,
                  contract: str | None = None) -> exp.Select:
    """One meter's GROUP BY: per (window or segment, dimension values); `nodes`, a derived
    meter's node columns; `contract`: that contract's rows only (`build_query`)."""
    cl = "cl"
    cprops = _Props(props.index.keys(), cl)
    window = exp.func("COALESCE", col("key", "sg"), col("wkey", cl))
    dims = [cprops(d) for d in m.dimension_names]
    fn_name, field = m.aggregation.function, m.aggregation.field
    if fn_name == "count":
        quantity = exp.Count(this=exp.Star())
    elif fn_name == "unique":
        quantity = exp.Count(this=exp.Distinct(expressions=[cprops(field)]))
    else:
        if nodes is not None:
            value = nodes.ref(nodes.expr, cl)  # (its column: the event is billed, so good)
        else:
            value = quantity_value(cprops(field))
        if fn_name == "sum":
            quantity = exp.Sum(this=value)
        elif fn_name == "max":
            quantity = exp.Max(this=value)
        else:  # latest: the greatest time, ties broken by the greatest id
            quantity = exp.ArgMax(this=value, expression=fn("ROW", col("t", cl), col("id", cl)))
    in_segment = and_(
        exp.EQ(this=col("contract", "sg"), expression=col("contract", cl)),
        exp.EQ(this=col("meter", "sg"), expression=lit(m.name)),
        _in_window(col("t", cl), "sg"))
    select = exp.select(
        alias(lit("agg"), "kind"), alias(window, "window"), alias(lit(m.name), "meter"),
        *[alias(d, f"d{i}") for i, d in enumerate(dims)],
        *[alias(cast(exp.Null(), TEXT), f"d{i}") for i in range(len(dims), width)],
        alias(cast(quantity, TEXT), AGGREGATE),
        alias(exp.Count(this=exp.Star()), "events"), copy=False
    ).from_(cl, copy=False).join(_as(relations.segments, "sg"), on=in_segment, join_type="left", copy=False)
    charged = _plans_charging(plan, m.name)
    billed = [exp.EQ(this=col("reason", cl), expression=lit("billed")),
              reads(m, cprops, col("type", cl)),
              member(col("plan", cl), charged)]
    if contract is not None:
        billed.append(exp.EQ(this=col("contract", cl), expression=lit(contract)))
    select = select.where(and_(*billed), copy=False)
    grouped = select.group_by(window.copy(), *[d.copy() for d in dims], copy=False)
    # the aggregate is named once (`g_quantity`) and its storage zeros trimmed outside the
    # GROUP BY: `strip_zeros` reads its text five times, and a derived quantity's is large
    return exp.select(*[col(c) for c in ("kind", "window", "meter", *[f"d{i}" for i in range(width)])],
                      alias(strip_zeros(col(AGGREGATE)), "quantity"), col("events"), copy=False) \
        .from_(grouped.subquery("g", copy=False), copy=False)


# ----------------------------------------------------------------- time-weighted meters


def held_nulls() -> list[exp.Expression]:
    """The `held_from`, `held_until` columns of a row that is no piece of a step function."""
    return [alias(cast(exp.Null(), BIGINT), name) for name in HELD_COLUMNS]


def _weighted_windows(plan: RatingPlan, m: Meter, relations: Relations,
                      contract: str | None = None) -> exp.Expression:
    """The windows a weighted meter's usage is integrated over, with the customer whose
    contract they are of: the meter's segments (a rate change inside a period part splits
    it there) and every period part without any (a part's first segment starts where the
    part does), of the terms whose plan charges the meter only: after a change to a plan
    that does not, what the last report held is no one's usage (part2-decisions 6.9).
    With `contract`, that contract's windows only (`build_query`)."""
    names = ("key", "contract", "start", "end")
    own = (exp.select(*[alias(col(c, "s1"), c) for c in names], copy=False)
           .from_(_as(relations.segments, "s1"), copy=False)
           .where(exp.EQ(this=col("meter", "s1"), expression=lit(m.name)), copy=False))
    split = and_(exp.EQ(this=col("contract", "s2"), expression=col("contract", "w1")),
                     exp.EQ(this=col("meter", "s2"), expression=lit(m.name)),
                     exp.EQ(this=col("start", "s2"), expression=col("start", "w1")))
    whole = (exp.select(*[alias(col(c, "w1"), c) for c in names], copy=False)
             .from_(_as(relations.windows, "w1"), copy=False)
             .join(_as(relations.segments, "s2"), on=split, join_type="left", copy=False)
             .where(exp.Is(this=col("key", "s2"), expression=exp.Null()), copy=False))
    windows = exp.union(own, whole, distinct=False, copy=False)
    start = col("start", "ew")
    charging = and_(
        exp.EQ(this=col("contract", "wt"), expression=col("contract", "ew")),
        exp.LTE(this=col("starts", "wt"), expression=start.copy()),
        exp.Paren(this=or_(exp.Is(this=col("ends", "wt"), expression=exp.Null()),
                               exp.GT(this=col("ends", "wt"), expression=start.copy()))),
        member(col("plan", "wt"), _plans_charging(plan, m.name)))
    if contract is not None:
        charging = and_(charging, exp.EQ(this=col("contract", "wt"), expression=lit(contract)))
    return (exp.select(*[alias(col(c, "ew"), c) for c in ("key", "start", "end")],
                       alias(col("customer", "wt"), "customer"), copy=False)
            .from_(windows.subquery("ew", copy=False), copy=False)
            .join(_as(relations.terms, "wt"), on=charging, join_type="inner", copy=False))


def weighted_select(plan: RatingPlan, m: Meter, props: _Props, width: int, relations: Relations,
                    contract: str | None = None) -> exp.Select:
    """A `weighted` meter's step function, piece by piece, per window (part2-decisions 2).

    A level is a fact about the customer's account (LANGUAGE.md: "per customer and
    dimension combination"): the reports are every kept event the meter reads (type and
    `where`; not a bad row, not a duplicate), whatever contract, or none, it falls in and
    whatever its reason in the counts. They are ordered per (customer, dimension values)
    by (time, id), so at one instant the greater id holds; each holds until the next
    report's time (LEAD), the last one for ever. A report is joined to every window of its
    customer's that charges the meter (`_weighted_windows`) it is inside (a piece from its
    time, possibly of zero length) or that it still holds at the start of (a piece carried
    in: from an earlier period, from before the contract's start, from another plan's
    stretch or contract), clipped to the window. The exact integral, split at calendar
    months, is finished in Python (`weighted.line_from_pieces`): value x microseconds
    needs more than 38 digits, and no engine divides exactly."""
    cl = "cl"
    cprops = _Props(props.index.keys(), cl)
    dims = [cprops(d) for d in m.dimension_names]
    following = exp.Window(this=exp.Lead(this=col("t", cl)),
                           partition_by=[col("customer", cl), *[d.copy() for d in dims]],
                           order=exp.Order(expressions=[exp.Ordered(this=col("t", cl)),
                                                        exp.Ordered(this=col("id", cl))]))
    reports = (exp.select(alias(col("customer", cl), "customer"),
                          *[alias(d, f"d{i}") for i, d in enumerate(dims)],
                          alias(col("t", cl), "t"), alias(quantity_value(cprops(m.aggregation.field)), "v"),
                          alias(following, "u"), copy=False)
               .from_(cl, copy=False)
               .where(and_(exp.Not(this=member(col("reason", cl), ["bad", "duplicate"])),
                               reads(m, cprops, col("type", cl))), copy=False))
    t, u = col("t", "wr"), col("u", "wr")
    start, end = col("start", "cw"), col("end", "cw")
    forever = exp.Is(this=u.copy(), expression=exp.Null())
    overlaps = and_(
        exp.EQ(this=col("customer", "cw"), expression=col("customer", "wr")),
        exp.LT(this=t.copy(), expression=end.copy()),
        exp.Paren(this=or_(exp.GTE(this=t.copy(), expression=start.copy()), forever.copy(),
                               exp.GT(this=u.copy(), expression=start.copy()))))
    held_from = exp.Case(ifs=[exp.If(this=exp.GT(this=t.copy(), expression=start.copy()), true=t.copy())],
                         default=start.copy())
    held_until = exp.Case(ifs=[exp.If(this=or_(forever.copy(), exp.GT(this=u.copy(), expression=end.copy())),
                                      true=end.copy())], default=u.copy())
    inside = exp.Case(ifs=[exp.If(this=exp.GTE(this=t.copy(), expression=start.copy()), true=lit(1))],
                      default=lit(0))
    return (exp.select(
        alias(lit("step"), "kind"), alias(col("key", "cw"), "window"), alias(lit(m.name), "meter"),
        *[alias(col(f"d{i}", "wr"), f"d{i}") for i in range(len(dims))],
        *[alias(cast(exp.Null(), TEXT), f"d{i}") for i in range(len(dims), width)],
        alias(strip_zeros(cast(col("v", "wr"), TEXT)), "quantity"),
        alias(cast(inside, BIGINT), "events"),
        alias(exp.UnixMicros(this=held_from), HELD_COLUMNS[0]),
        alias(exp.UnixMicros(this=held_until), HELD_COLUMNS[1]), copy=False
    ).from_(reports.subquery("wr", copy=False), copy=False)
     .join(_weighted_windows(plan, m, relations, contract).subquery("cw", copy=False), on=overlaps,
           join_type="inner",
           copy=False))
