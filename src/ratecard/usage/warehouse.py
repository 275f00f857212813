"""The usage aggregation as SQL text for a warehouse (`ratecard sql`).

The query is `build_query`'s tree, with the events read from one table of
the flat layout (see `table_columns`) and the contract terms, billing windows
and segments written into the query itself as typed VALUES (`inline_relations`,
hoisted into CTEs so each appears once), so the printed SQL needs nothing
but the events table. Each dialect gets the same tree, adapted where the
dialect lacks something (`dialects.adapt`).

The result has the columns of `build_query` (kind, window, meter, d0..,
quantity, events, and `held_from`, `held_until` with a `weighted` meter) plus one `scope` row: a fingerprint of the contracts,
windows and meters the query was printed for, and the number of line rows. Saved as CSV or Parquet, the
result is what `ratecard invoice --aggregates` reads; the fingerprint lets
it refuse aggregates computed for another `--through` or other contracts, the
count a result missing some of its lines.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Sequence

from sqlglot import exp

from ..model import RatingPlan
from .dialects import adapt
from .query import HELD_COLUMNS, QueryShape, Relations, build_query, held_nulls
from .records import DIALECTS, TIME_TYPES, ContractTerm, Window
from .rows import needed_keys
from .sources import Source
from .sql import STAMP, TEXT, alias, cast, col, lit

if TYPE_CHECKING:
    from .rating_print import PrintedRating

# Where the rating can be printed too (`sql --priced`): DuckDB (`TRY` leaves an overflowing
# line to Python), PostgreSQL (exact NUMERIC, the casts guarded: `rating_dialects.portable`) and
# Spark (try_ forms; its exactness rests on a session setting, `allowPrecisionLoss` off, which the
# query probes: a result computed without it is refused, `rating_print.INEXACT`). The others are
# refused: their DECIMAL arithmetic cannot be held exact the same way (no overflow-safe form in
# ClickHouse, BigQuery's and Snowflake's scale limits), and none is here to test against, so a
# rated column could be wrong where DuckDB's is NULL.
PRICED_DIALECTS = ("duckdb", "postgres", "spark")
RELATION_NAMES = ("rc_terms", "rc_windows", "rc_segments")
# Names the query defines itself: an events table cannot be called that.
RESERVED_NAMES = frozenset(RELATION_NAMES + ("ev", "dk", "dd", "cl", "result", "src", "lv", "kc", "tm", "w", "sg", "t0",
                                             "wr", "ew", "cw", "wt", "w1", "s1", "s2")
                           # and the priced query's (`sql --priced`, `rating_print.printed_query`)
                           + ("rc_result", "rc_shapes", "rc_keyprices", "rc_rates", "rc_tiers"))

TERMS = (("contract", TEXT), ("customer", TEXT), ("plan", TEXT), ("starts", STAMP), ("ends", STAMP))
WINDOWS = (("key", TEXT), ("contract", TEXT), ("start", STAMP), ("end", STAMP))
SEGMENTS = (("key", TEXT), ("contract", TEXT), ("meter", TEXT), ("start", STAMP), ("end", STAMP))


# ----------------------------------------------------------------- relations as VALUES


def stamp_text(value: dt.datetime) -> str:
    """An instant as ISO text every dialect casts to a timestamp: `2026-01-01 00:00:00+00:00`."""
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(sep=" ")


def _cell(value, kind: exp.DataType) -> exp.Expression:
    if value is None:
        return cast(exp.Null(), kind)
    if isinstance(value, dt.datetime):
        return cast(lit(stamp_text(value)), kind)
    return lit(value)


def values_relation(columns: Sequence[tuple[str, exp.DataType]], rows: Sequence[Sequence]) -> exp.Select:
    """`SELECT CAST(c AS type) AS c, ... FROM (VALUES ...) AS v(c, ...)`, typed even when empty.

    Every cell and every column is cast, so no engine has to guess a type from
    a literal (or from a column of NULLs); an empty relation is one row of
    NULLs filtered out by `WHERE FALSE`.
    """
    names = [name for name, _ in columns]
    cells = rows or [[None] * len(columns)]
    values = exp.values([tuple(_cell(v, kind) for v, (_, kind) in zip(row, columns)) for row in cells],
                        alias="v", columns=[exp.to_identifier(n, quoted=True) for n in names])
    select = exp.select(*[alias(cast(col(n), kind), n) for n, kind in columns]).from_(values)
    return select.where(exp.false()) if not rows else select


def inline_relations(terms: Sequence[ContractTerm], windows: Sequence[Window]) -> Relations:
    """The contract terms, billing windows and segments as VALUES relations."""
    periods = [w for w in windows if w.meter is None]
    segments = [w for w in windows if w.meter is not None]
    return Relations(
        terms=values_relation(TERMS, [(t.contract, t.customer, t.plan, t.starts, t.ends) for t in terms]),
        windows=values_relation(WINDOWS, [(w.key, w.contract, w.start, w.end) for w in periods]),
        segments=values_relation(SEGMENTS, [(w.key, w.contract, w.meter, w.start, w.end) for w in segments]),
    )


def with_relations(plan: RatingPlan, sources: Sequence[Source], relations: Relations,
                   keys: Sequence[str] | None = None) -> tuple[exp.Select, QueryShape]:
    """`build_query` with `relations` as the first CTEs (rc_terms, rc_windows,
    rc_segments), so a relation the query joins several times is written once."""
    refs = Relations(*(exp.to_table(n) for n in RELATION_NAMES))
    query, shape = build_query(plan, sources, refs, keys)
    ctes = [exp.CTE(this=rel.copy(), alias=exp.TableAlias(this=exp.to_identifier(name)))
            for name, rel in zip(RELATION_NAMES, (relations.terms, relations.windows, relations.segments))]
    query.args["with_"].set("expressions", ctes + list(query.args["with_"].expressions))
    return query, shape


# ----------------------------------------------------------------- the events table


def table_columns(keys: Sequence[str], time_type: str = "text") -> tuple[tuple[str, str], ...]:
    """The flat events table: id, type, customer, time, then one text column per property."""
    time = "TIMESTAMPTZ" if time_type == "timestamp" else "VARCHAR"
    return (("id", "VARCHAR"), ("type", "VARCHAR"), ("customer", "VARCHAR"), ("time", time),
            *((k, "VARCHAR") for k in property_columns(keys)))


def property_columns(keys: Sequence[str]) -> tuple[str, ...]:
    """The property columns of the table (a key named like a required column cannot be one)."""
    return tuple(k for k in keys if k not in ("id", "type", "customer", "time", "properties"))


def table_source(table: str, keys: Sequence[str], time_type: str = "text") -> Source:
    return Source(table, "table", table_columns(keys, time_type))


# ----------------------------------------------------------------- the scope fingerprint


def scope_fingerprint(plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window]) -> str:
    """What the aggregates depend on besides the events: contracts, windows, and
    how each meter reads events (not its prices). `sha256:` + 16 hex digits.

    How a meter measures is its whole aggregation: a derived quantity's expression
    (its `field` is None) and a weighted meter's `per` change every quantity, so
    aggregates summed as `prompt - cached` are not this run's when it sums
    `prompt + cached` (and `diff` must aggregate such a side again). With a weighted
    meter, also whose levels they are: the customer's (`weighted_levels`)."""
    def stamp(t):
        return stamp_text(t) if t is not None else None

    meters = [[m.name, m.event, m.aggregation.model_dump(mode="json"), list(m.dimension_names),
               [[c.key, c.positive, list(c.values)] for c in m.where]]
              for m in sorted(plan.meters.values(), key=lambda m: m.name)]
    doc = {
        "terms": [[t.contract, t.customer, t.plan, stamp(t.starts), stamp(t.ends), list(t.charged_meters)]
                  for t in terms],
        "windows": [[w.key, w.contract, stamp(w.start), stamp(w.end), w.meter] for w in windows],
        "meters": meters,
        "plans": {p.name: [c.meter for c in p.charges] for p in plan.plans.values()},
    }
    if any(m.aggregation.function == "weighted" for m in plan.meters.values()):
        # a weighted level is the customer's, whatever contract its report fell in (part2-decisions
        # 2.3): a result whose query held levels per contract (before that) is another scope
        doc["weighted_levels"] = "customer"
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _add_scope_row(query: exp.Select, shape: QueryShape, fingerprint: str) -> None:
    """One more result row: kind `scope`, the fingerprint in `window`, and in `events` how
    many line rows (`agg` and `step`) the result has.

    The counts of events (`read`, `kept`, the reasons) add up without the line rows, so
    a result missing some of them -- a shard of a sharded export not passed, a row
    deleted -- would bill without those lines, exit 0; `invoice --aggregates` compares
    the rows it reads with this count. A window over the whole result (COUNT, a BIGINT
    in every dialect), not a second pass over the aggregation."""
    subquery = query.args["from_"].this
    scope = exp.select(alias(lit("scope"), "kind"), alias(cast(lit(fingerprint), TEXT), "window"),
                       alias(cast(exp.Null(), TEXT), "meter"),
                       *[alias(cast(exp.Null(), TEXT), f"d{i}") for i in range(shape.dimensions)],
                       alias(cast(exp.Null(), TEXT), "quantity"),
                       alias(exp.Count(this=exp.Star()), "events"),
                       *(held_nulls() if shape.held else ())).from_("rc_terms")
    subquery.set("this", exp.union(subquery.this, scope, distinct=False))

    def of_result(name: str) -> exp.Column:
        """`result.events`, qualified (an alias naming itself is a cycle to ClickHouse);
        `result` unquoted, as the subquery is named."""
        return exp.Column(this=exp.to_identifier(name, quoted=True), table=exp.to_identifier("result"))

    kind = of_result("kind")
    is_line = exp.In(this=kind.copy(), expressions=[lit("agg"), lit("step")])
    lines = exp.Window(this=exp.Count(this=exp.Case(ifs=[exp.If(this=is_line, true=lit(1))])))
    events = exp.Case(ifs=[exp.If(this=exp.EQ(this=kind.copy(), expression=lit("scope")), true=lines)],
                      default=of_result("events"))
    query.set("expressions", [col(c) for c in ("kind", "window", "meter",
                                                *[f"d{i}" for i in range(shape.dimensions)], "quantity")]
              + [alias(events, "events")] + [col(c) for c in (HELD_COLUMNS if shape.held else ())])


# ----------------------------------------------------------------- the query text


def warehouse_query(plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window],
                    table: str = "usage_events", keys: Sequence[str] | None = None,
                    time_type: str = "text") -> tuple[exp.Select, QueryShape]:
    """The dialect-neutral tree: the flat `table`, relations inlined, the scope row added."""
    keys = tuple(needed_keys(plan) if keys is None else keys)
    query, shape = with_relations(plan, [table_source(table, keys, time_type)],
                                  inline_relations(terms, windows), keys)
    _add_scope_row(query, shape, scope_fingerprint(plan, terms, windows))
    return query, shape


def warehouse_sql(plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window],
                  dialect: str, table: str = "usage_events", keys: Sequence[str] | None = None,
                  time_type: str = "text", priced: "PrintedRating | None" = None) -> str:
    """The aggregation query for `dialect`, reading the flat events `table`, pretty-printed.

    With `priced` (`sql --priced`), the query rates its whole-period lines too
    (`rating_print.printed_query`): the result has `rating_query.RATED_COLUMNS` and `rc_prices`
    after the aggregation's columns. DuckDB and PostgreSQL (`PRICED_DIALECTS`)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unsupported dialect `{dialect}` (use one of {', '.join(DIALECTS)})")
    query, shape = warehouse_query(plan, terms, windows, table, keys, time_type)
    if priced is not None:
        from .rating_dialects import portable, spark_rating_tree
        from .rating_print import printed_query

        if dialect not in PRICED_DIALECTS:
            raise ValueError(f"the priced query is for {', '.join(PRICED_DIALECTS)} only")
        query = printed_query(query, priced, shape.dimensions, shape.held,  # (takes `query` over)
                              probed=dialect == "spark")
        if dialect == "spark":
            return adapt(spark_rating_tree(query, {}), dialect).sql(dialect=dialect, pretty=True) + ";\n"
        if dialect != "duckdb":
            return portable(adapt(query, dialect), dialect).sql(dialect=dialect, pretty=True) + ";\n"
    return adapt(query, dialect).sql(dialect=dialect, pretty=True) + ";\n"
