"""The usage aggregation as one SQL syntax tree, built with sqlglot.

    sources (files or a table) -> events: id, type, customer, t, p0..pn (text)
      -> bad-row flags -> dedup on (customer, id) (see `dedup`) -> classification
         (contract term, billing window, reason) -> one GROUP BY per meter
      -> a single result: aggregate rows, then counts by reason

Nothing here pastes text into SQL: names become identifiers and values
become literals through sqlglot, which quotes them for the target dialect.
The same tree is generated for DuckDB (the embedded engine), Spark and the
warehouses `ratecard sql` supports.

Result rows have the columns of `RESULT_COLUMNS` plus one `d<i>` column per
dimension position. `kind` says what a row is:

- `agg`: `window`, `meter`, `d0..`, `quantity` (text), `events`;
- `reason`: `meter` holds a rejection reason (or `billed`), `events` the count;
- `read`, `bad`, `kept`: counts of rows read, rows failing the row checks,
  and events left after dedup (duplicates = read - bad - kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlglot import exp

from ..model import Condition, Meter, RatingPlan
from .rows import (
    EVENT_FIELDS,
    EXPONENT_PATTERN,
    MAX_ROW_BYTES,
    QUANTITY_DIGITS,
    QUANTITY_PATTERN,
    QUANTITY_SCALE,
    TIME_MAX,
    TIME_MIN,
    TIME_PATTERN,
)

QUANTITY = exp.DataType.build(f"DECIMAL({QUANTITY_DIGITS}, {QUANTITY_SCALE})")
TEXT = exp.DataType.build("VARCHAR")
STAMP = exp.DataType.build("TIMESTAMPTZ")
INT = exp.DataType.build("INT")
NUMERIC_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL"}


@dataclass(frozen=True)
class Source:
    """Where events come from, and how its columns are laid out.

    kind: `jsonl`, `csv`, `parquet` (files read by DuckDB) or `table` (a
    relation named `path`, with flat columns, for warehouses and Spark).
    columns: top-level column name -> SQL type name (csv: all VARCHAR).
    properties: how property values are stored: `struct` (a STRUCT column
    `properties`), `map`, `json` (a JSON text column) or `flat` (one column
    per property).
    rows: how many events a Parquet file holds (from its footer), when known.
    exact: JSONL read line by line with every number checked against its text
    (`_json_select`); False when no line needs that (`needs_exact_reading`): the
    file is read by DuckDB's JSON reader, which then reads every value exactly.
    """

    path: str
    kind: str
    columns: tuple[tuple[str, str], ...] = ()
    properties: str = "flat"
    property_types: tuple[tuple[str, str], ...] = ()
    rows: int | None = None
    exact: bool = True

    def column_type(self, name: str) -> str | None:
        return dict(self.columns).get(name)


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


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def lit(value) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def fn(name: str, *args) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def cast(e: exp.Expression, to: exp.DataType, safe: bool = False) -> exp.Expression:
    return exp.TryCast(this=e, to=to.copy()) if safe else exp.Cast(this=e, to=to.copy())


def alias(e: exp.Expression, name: str) -> exp.Alias:
    return exp.alias_(e, name, quoted=True)


def needed_keys(plan: RatingPlan) -> tuple[str, ...]:
    """Every event property some meter reads: dimensions, where keys, fields."""
    keys: set[str] = set()
    for m in plan.meters.values():
        keys.update(m.dimension_names)
        keys.update(c.key for c in m.where)
        if m.aggregation.field:
            keys.add(m.aggregation.field)
    return tuple(sorted(keys))


# ----------------------------------------------------------------- reading sources

# Column names the reading steps add to a source's own columns (a file's columns
# cannot be called that).
_K, _S, _FLAG, _LAX, _LINE = "__rc_kinds", "__rc_texts", "__rc_flag", "__rc_lax", "__rc_line"
_BOM = "\ufeff"
# JSON text: one string, quotes and escapes included (RE2 and Java read it alike).
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
# A run of strings and other characters, then a number if one follows: matched
# again and again from the start of a JSON text, each match begins where the last
# ended, so a number is never looked for inside a string (`_quote_numbers`).
_JSON_NUMBERS = r'((?:' + _JSON_STRING + r'|[^"0-9\-])*)(-?[0-9][0-9.eE+\-]*)?'


def _duplicate_pattern(names: Sequence[str]) -> str:
    """`"name" :` twice on one line, for each name (a cheap sign of a key given twice;
    a name with `"` or `\\` in it is written with an escape, which `flag_pattern` catches)."""
    def literal(name: str) -> str:
        return "".join(ch if ch.isalnum() or ch == "_" or ord(ch) > 127
                       else "\\" + ch if ch in "[]^-\\" else f"[{ch}]" for ch in name)
    return "|".join(f'"{literal(n)}"[ \\t\\r]*:.*"{literal(n)}"[ \\t\\r]*:'
                    for n in names if '"' not in n and "\\" not in n)


def flag_pattern(names: Sequence[str]) -> str:
    """The lines a double or a lenient JSON reader might read differently from the
    text: a number of 16 or more digits or with an exponent (a double would round
    it), NaN or Infinity, a trailing comma, any escape, or one of `names` (fields
    and properties ratecard reads) given twice. Only these lines pay for an exact
    reading; the others read the same through any JSON reader. A pattern RE2
    (DuckDB) and Java (Spark) read alike."""
    parts = [r"\\", r"[:,\[][ \t\n\r]*[+-]?([0-9.]{16}|[0-9.]*[0-9][eE]|(?i:nan|inf))", r",[ \t\n\r]*[}\]]"]
    duplicates = _duplicate_pattern(names)
    return "|".join(parts + ([duplicates] if duplicates else []))


def _index(items: exp.Expression, i: int) -> exp.Expression:
    """items[i], 1-based (DuckDB lists)."""
    return exp.Bracket(this=items.copy(), expressions=[exp.Literal.number(i)], offset=1)


def _like(text: exp.Expression, pattern: str) -> exp.Expression:
    return exp.Like(this=text.copy(), expression=lit(pattern))


def _regex(text: exp.Expression, pattern: str) -> exp.Expression:
    return exp.RegexpLike(this=text.copy(), expression=lit(pattern))


def _has_exponent(text: exp.Expression) -> exp.Expression:
    """Cheap first: `e` in the text at all, then the whole exponent form (a CASE:
    DuckDB evaluates both sides of an AND for every row)."""
    return exp.Case(ifs=[exp.If(this=exp.or_(_like(text, "%e%"), _like(text, "%E%")),
                                true=_regex(text, EXPONENT_PATTERN))], default=exp.false())


def _concat(*parts: exp.Expression) -> exp.Expression:
    return exp.DPipe(this=parts[0], expression=_concat(*parts[1:])) if len(parts) > 1 else parts[0]


def _lambda(name: str, body: exp.Expression) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(name)])


def _let(value: exp.Expression, name: str, body: exp.Expression) -> exp.Expression:
    """`body` with `name` bound to `value`, computed once (DuckDB: a one-element list
    transformed by a lambda): keeps an expression that reads `value` often small."""
    return _index(fn("list_transform", exp.Array(expressions=[value]), _lambda(name, body)), 1)


def _field(name: str, field: str) -> exp.Expression:
    return exp.Dot(this=exp.column(name), expression=exp.to_identifier(field))


def _struct(**fields: exp.Expression) -> exp.Expression:
    return exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(k), expression=v)
                                   for k, v in fields.items()])


def plain_number(text: exp.Expression) -> exp.Expression:
    """The DuckDB twin of `rows.plain_number`, step for step: `1.5e3` -> `1500`; text
    without an exponent (of one to three digits) is left as it is."""
    parts = exp.RegexpExtract(this=text.copy(), expression=lit(r"^([+-]?)([0-9]*)[.]?([0-9]*)[eE]([+-]?[0-9]+)$"),
                              group=exp.Array(expressions=[lit("s"), lit("i"), lit("f"), lit("x")]))
    digits, point, size = _field("q", "d"), _field("q", "pt"), exp.Length(this=_field("q", "d"))
    body = exp.Case(ifs=[
        exp.If(this=exp.LTE(this=point.copy(), expression=exp.Literal.number(0)),
               true=_concat(lit("0."), exp.Pad(this=digits.copy(), expression=cast(exp.Sub(
                   this=size.copy(), expression=point.copy()), INT), fill_pattern=lit("0"), is_left=True))),
        exp.If(this=exp.GTE(this=point.copy(), expression=size.copy()),
               true=exp.Pad(this=digits.copy(), expression=cast(point.copy(), INT), fill_pattern=lit("0"),
                            is_left=False)),
    ], default=_concat(exp.Substring(this=digits.copy(), start=exp.Literal.number(1), length=point.copy()), lit("."),
                       exp.Substring(this=digits.copy(), start=exp.Add(this=point.copy(),
                                                                       expression=exp.Literal.number(1)))))
    moved = _let(_struct(s=_field("p", "s"), d=_concat(_field("p", "i"), _field("p", "f")),
                         pt=exp.Add(this=exp.Length(this=_field("p", "i")), expression=cast(_field("p", "x"), INT))),
                 "q", _concat(_field("q", "s"), exp.Paren(this=body)))
    return exp.Case(ifs=[exp.If(this=_has_exponent(text), true=_let(parts, "p", moved))], default=text.copy())


def _zero(text: exp.Expression) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=exp.In(this=text.copy(), expressions=[lit("-0"), lit("+0")]),
                                true=lit("0"))], default=text)


def strip_zeros(text: exp.Expression) -> exp.Expression:
    """`2.0` -> `2`, `1.50` -> `1.5`, `-0.0` -> `0` (text without an exponent). Only text
    that ends in a storage zero or a point is trimmed: trimming copies the text."""
    stripped = exp.func("RTRIM", exp.func("RTRIM", text.copy(), lit("0")), lit("."))
    ends = exp.or_(_like(text, "%.%0"), _like(text, "%."))
    return exp.Case(ifs=[exp.If(this=ends, true=_zero(stripped))], default=text.copy())


def fast_number_text(text: exp.Expression) -> exp.Expression:
    """`number_text` (the macro) called only for text with an `e` in it: plain numbers,
    nearly all of them, are only stripped of storage zeros."""
    exponent = exp.or_(_like(text, "%e%"), _like(text, "%E%"))
    return exp.Case(ifs=[exp.If(this=exponent, true=fn(NUMBER_TEXT, text.copy()))], default=strip_zeros(text))


def number_text(text: exp.Expression) -> exp.Expression:
    """The DuckDB twin of `rows.number_text`: a number's text as rules and dimensions
    compare it (the plain decimal, no storage zeros, zero as "0")."""
    sign = exp.Left(this=col("n"), expression=exp.Literal.number(1))
    signed = exp.In(this=sign, expressions=[lit("+"), lit("-")])
    body = exp.func("LTRIM", exp.func("LTRIM", col("n"), lit("+-")), lit("0"))
    leading = _let(body, "b", exp.Case(ifs=[exp.If(this=exp.or_(exp.EQ(this=col("b"), expression=lit("")),
                                                                  _like(col("b"), ".%")),
                                                   true=_concat(lit("0"), col("b")))], default=col("b")))
    written_out = _let(plain_number(text), "n", _concat(
        exp.Case(ifs=[exp.If(this=signed, true=sign.copy())], default=lit("")), leading))
    return exp.Case(ifs=[exp.If(this=_has_exponent(text), true=_zero(strip_zeros(exp.Paren(this=written_out)))),
                         exp.If(this=_like(text, "%.%"), true=strip_zeros(text))],
                    default=text.copy())


# `number_text` as a DuckDB macro the readers call (`macros`): the expression is
# large, and a call keeps the query small to build, print and bind.
NUMBER_TEXT = "rc_number_text"


def macros() -> list[str]:
    """The statements that define the macros the DuckDB readers call, for `engine.connect`."""
    body = number_text(exp.column("text")).sql(dialect="duckdb")
    return [f"CREATE OR REPLACE TEMPORARY MACRO {NUMBER_TEXT}(text) AS {body}"]


def exponent_quantity(text: exp.Expression) -> exp.Expression:
    """A quantity written with an exponent that DECIMAL(38, 18) holds exactly (the
    twin of `rows.exponent_quantity`, in SQL every dialect runs): at most 18 decimal
    places and 20 integer digits once written out, computed from the digits."""
    w = exp.Lower(this=text.copy())
    mantissa = exp.SplitPart(this=w, delimiter=lit("e"), part_index=exp.Literal.number(1))
    exponent = cast(exp.SplitPart(this=w.copy(), delimiter=lit("e"), part_index=exp.Literal.number(2)), INT)
    fraction = exp.Length(this=exp.SplitPart(this=mantissa.copy(), delimiter=lit("."),
                                             part_index=exp.Literal.number(2)))
    significant = exp.Length(this=exp.func("LTRIM", exp.func("REPLACE", exp.func("LTRIM", mantissa.copy(), lit("+-")),
                                                             lit("."), lit("")), lit("0")))
    places = exp.Sub(this=fraction.copy(), expression=exponent.copy())
    integer = exp.Add(this=exp.Sub(this=significant, expression=fraction.copy()), expression=exponent.copy())
    fits = exp.and_(exp.LTE(this=places, expression=exp.Literal.number(QUANTITY_SCALE)),
                    exp.LTE(this=integer, expression=exp.Literal.number(QUANTITY_DIGITS - QUANTITY_SCALE)))
    return exp.Case(ifs=[exp.If(this=_has_exponent(text), true=exp.Paren(this=fits))], default=exp.false())


def _json_documents(doc: exp.Expression, type_paths: Sequence[str], text_paths: Sequence[str],
                    levels: Sequence[tuple[str, Sequence[str]]]) -> list[exp.Expression]:
    """Columns that read JSON text `doc` exactly (DuckDB): `__rc_kinds`, the JSON type at
    each of `type_paths` (NULL for text that is not JSON); `__rc_texts`, the text at each
    of `text_paths`, numbers as written; `__rc_lax`, whether the document breaks a rule
    a lenient reader lets pass (`json_lax`, on `levels`). Expects `__rc_flag`
    (`flag_pattern`) on the row already: only flagged documents pay for the exact reading."""
    flagged = col(_FLAG)
    exact = exp.Case(ifs=[exp.If(this=flagged, true=_quote_numbers(doc))], default=doc.copy())
    kinds = fn("TRY", fn("json_type", doc.copy(), exp.Array(expressions=[lit(p) for p in type_paths])))
    texts = fn("TRY", fn("json_extract_string", exact, exp.Array(expressions=[lit(p) for p in text_paths])))
    # a CASE, not AND: DuckDB evaluates both sides of an AND for every row
    lax = exp.Case(ifs=[exp.If(this=flagged.copy(), true=json_lax(doc, levels))], default=exp.false())
    return [alias(kinds, _K), alias(texts, _S), alias(lax, _LAX)]


def _quote_numbers(doc: exp.Expression) -> exp.Expression:
    """JSON text with every number written as a JSON string of its exact text, so a
    JSON reader hands it over as written (`1.0000000000000000000000001`, not `1.0`):
    each number is wrapped in U+0001 .. U+0002 (characters valid JSON never holds
    raw), the empty wrap after the last number dropped, the wraps made quotes."""
    wrapped = exp.RegexpReplace(this=doc.copy(), expression=lit(_JSON_NUMBERS), replacement=lit("\\1\x01\\2\x02"))
    unwrapped = exp.func("REPLACE", wrapped, lit("\x01\x02"), lit(""))
    return exp.func("REPLACE", exp.func("REPLACE", unwrapped, lit("\x01"), lit('"')), lit("\x02"), lit('"'))


def json_lax(doc: exp.Expression, levels: Sequence[tuple[str, Sequence[str]]]) -> exp.Expression:
    """What DuckDB's JSON reader accepts and RFC 8259 (Python, Spark) does not — a
    trailing comma, NaN or Infinity — or, for each (path, names) of `levels`, one of
    `names` given twice in the object at `path`. TRUE when `doc` is not JSON at all."""
    no_strings = exp.RegexpReplace(this=doc.copy(), expression=lit(_JSON_STRING), replacement=lit('""'))
    parts = [_regex(no_strings, r",[ \t\n\r]*[}\]]"), _regex(no_strings.copy(), "(?i)nan|inf")]
    levels = [(path, names) for path, names in levels if names]
    if levels:
        keys = fn("TRY", fn("json_keys", doc.copy(), exp.Array(expressions=[lit(p) for p, _ in levels])))
        for i, (_, names) in enumerate(levels, start=1):
            level = _index(keys, i)
            for name in names:
                first = fn("list_position", level.copy(), lit(name))
                last = exp.Sub(this=exp.Add(this=exp.Length(this=level.copy()), expression=exp.Literal.number(1)),
                               expression=fn("list_position", fn("list_reverse", level.copy()), lit(name)))
                parts.append(exp.NullSafeNEQ(this=first, expression=last))
    return exp.func("COALESCE", exp.Paren(this=exp.or_(*parts)), exp.true())


def _json_value(kind: exp.Expression, text: exp.Expression) -> exp.Expression:
    """A JSON value's text from its type (`json_type`) and text: strings and booleans
    as they are, numbers as `number_text`, null, objects and arrays NULL."""
    return exp.Case(ifs=[
        exp.If(this=exp.In(this=kind.copy(), expressions=[lit("VARCHAR"), lit("BOOLEAN")]), true=text.copy()),
        # an integer is written plain already (its exact text `-0`: "0")
        exp.If(this=exp.In(this=kind.copy(), expressions=[lit("BIGINT"), lit("UBIGINT")]), true=_zero(text.copy())),
        exp.If(this=exp.EQ(this=kind.copy(), expression=lit("DOUBLE")), true=fast_number_text(text)),
    ], default=cast(exp.Null(), TEXT))


def _nested_kind(kind: exp.Expression) -> exp.Expression:
    return exp.func("COALESCE", exp.In(this=kind.copy(), expressions=[lit("OBJECT"), lit("ARRAY")]), exp.false())


def _path(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def engine_path(path: str) -> str:
    """A file name as DuckDB reads exactly that file: absolute (no `~` expansion, no
    search path), with the glob characters `*`, `?` and `[` escaped as classes."""
    import os

    full = os.path.abspath(path)
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in full)


def _named(*options: tuple[str, exp.Expression]) -> list[exp.Expression]:
    return [exp.EQ(this=exp.column(name), expression=value) for name, value in options]


def _reader(source: Source, keys: Sequence[str]) -> exp.Expression:
    """The table expression that reads one source (exactly the file named)."""
    path = lit(engine_path(source.path)) if source.kind != "table" else None
    if source.kind == "jsonl" and not source.exact:
        fields = [exp.PropertyEQ(this=exp.to_identifier(name), expression=lit("VARCHAR"))
                  for name in ("id", "type", "customer", "time")]
        struct = exp.DataType(this=exp.DataType.Type.STRUCT, nested=True, expressions=[
            exp.ColumnDef(this=exp.to_identifier(k, quoted=True), kind=exp.DataType.build("JSON"))
            for k in (keys or ("_",))])
        fields.append(exp.PropertyEQ(this=exp.to_identifier("properties"), expression=lit(struct.sql("duckdb"))))
        return fn("read_json", path, *_named(
            ("format", lit("newline_delimited")), ("columns", exp.Struct(expressions=fields)),
            ("maximum_object_size", exp.Literal.number(MAX_ROW_BYTES)), ("hive_partitioning", exp.false())))
    if source.kind == "jsonl":  # lines as text: the JSON is read by `_json_select`
        return fn("read_csv", path, *_named(
            ("columns", exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(_LINE, quoted=True),
                                                               expression=lit("VARCHAR"))])),
            # a line ends at LF, CRLF or a lone CR (as DuckDB's CSV reader, Spark's
            # text reader and `rows` split lines); no quoting: the line as it is
            ("header", exp.false()), ("auto_detect", exp.false()), ("delim", lit("\n")), ("quote", lit("")),
            ("escape", lit("")), ("strict_mode", exp.false()), ("max_line_size", exp.Literal.number(MAX_ROW_BYTES)),
            ("hive_partitioning", exp.false())))
    if source.kind == "csv":
        columns = [exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=lit("VARCHAR"))
                   for name, _ in source.columns]
        return fn("read_csv", path, *_named(
            ("header", exp.true()), ("auto_detect", exp.false()), ("delim", lit(",")), ("quote", lit('"')),
            ("escape", lit('"')), ("max_line_size", exp.Literal.number(MAX_ROW_BYTES)),
            ("hive_partitioning", exp.false()), ("columns", exp.Struct(expressions=columns))))
    if source.kind == "parquet":
        return fn("read_parquet", path, *_named(("hive_partitioning", exp.false())))
    return exp.to_table(source.path)


def _nested_type(kind: str | None) -> bool:
    """A column type that holds objects or arrays (not a value ratecard compares)."""
    upper = (kind or "").upper()
    return upper.startswith(("STRUCT", "MAP", "UNION")) or upper.endswith("]")


def _typed_text(value: exp.Expression, kind: str | None) -> exp.Expression:
    """A typed column's value as text: numbers as `number_text`, other values cast."""
    text = cast(value, TEXT)
    if (kind or "").split("(")[0].upper() in NUMERIC_TYPES:
        return fast_number_text(text)
    return text


def _property(source: Source, key: str) -> tuple[exp.Expression, exp.Expression | None]:
    """One property's text (NULL when the source cannot hold it), and when the row is
    bad because of it (a nested value), or None."""
    null = cast(exp.Null(), TEXT)
    if source.kind in ("csv", "table") or source.properties == "flat":
        kind = source.column_type(key)
        if kind is None or kind.upper() == "NULL" or key in ("id", "type", "customer", "time", "properties"):
            return null, None
        if _nested_type(kind):
            return null, exp.Not(this=exp.Is(this=col(key), expression=exp.Null()))
        if kind.split("(")[0].upper() in NUMERIC_TYPES:
            return _typed_text(col(key), kind), None
        return exp.Nullif(this=cast(col(key), TEXT), expression=lit("")), None
    if source.properties == "struct":
        kind = dict(source.property_types).get(key)
        if kind is None or kind.upper() == "NULL":
            return null, None
        value = exp.Dot(this=col("properties"), expression=exp.to_identifier(key, quoted=True))
        if _nested_type(kind):
            return null, exp.Not(this=exp.Is(this=value, expression=exp.Null()))
        return _typed_text(value, kind), None
    if source.properties == "map":
        kind = dict(source.property_types).get("")
        value = exp.Bracket(this=col("properties"), expressions=[lit(key)])
        if _nested_type(kind):
            return null, exp.Not(this=exp.Is(this=value, expression=exp.Null()))
        return _typed_text(value, kind), None
    raise ValueError(f"no property reader for {source.kind}/{source.properties}")  # JSON: `_json_select`


def _time(source: Source, time: exp.Expression | None = None) -> tuple[exp.Expression, exp.Expression]:
    """(timestamp, is-bad) for a source's `time` (its column, or `time` text)."""
    kind = (source.column_type("time") or "VARCHAR").upper() if time is None else "VARCHAR"
    time = col("time") if time is None else time
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        if kind.endswith("_NS"):  # nanoseconds: floored to microseconds, never rounded up
            time = _floor_to_micros(time)
        t = cast(time, STAMP)
        bad = exp.Is(this=t.copy(), expression=exp.Null())
    else:
        text = cast(time, TEXT)
        t = cast(text, STAMP, safe=True)
        bad = exp.or_(exp.Is(this=t.copy(), expression=exp.Null()),
                      exp.Not(this=_regex(text, TIME_PATTERN)))
    bounds = exp.or_(exp.LT(this=t.copy(), expression=cast(lit(_stamp(TIME_MIN)), STAMP)),
                     exp.GT(this=t.copy(), expression=cast(lit(_stamp(TIME_MAX)), STAMP)))
    if not (kind.startswith("TIMESTAMP") or kind == "DATE"):
        # only the first and the last day can cross the years 0001-9999 (an offset is under 24 hours)
        edge = exp.or_(_like(text, "0001-01-01%"), _like(text, "9999-12-31%"))
        bounds = exp.Case(ifs=[exp.If(this=edge, true=bounds)], default=exp.false())
    return t, exp.or_(bad, exp.Paren(this=bounds))


def _floor_to_micros(time: exp.Expression) -> exp.Expression:
    """A DuckDB TIMESTAMP_NS / TIMESTAMPTZ_NS as a microsecond timestamp, floored
    (DuckDB's own cast and DATE_TRUNC round the last nanoseconds of a second up)."""
    ns = fn("epoch_ns", time)
    below = exp.Mod(this=exp.Paren(this=exp.Add(this=exp.Mod(this=ns.copy(), expression=exp.Literal.number(1000)),
                                                expression=exp.Literal.number(1000))),
                    expression=exp.Literal.number(1000))
    micros = exp.IntDiv(this=exp.Paren(this=exp.Sub(this=ns.copy(), expression=below)),
                        expression=exp.Literal.number(1000))
    return fn("make_timestamp", micros)


def _stamp(value) -> str:
    return value.isoformat(sep=" ")


def source_select(source: Source, keys: Sequence[str]) -> exp.Select:
    """One source as the normalized event relation: id, type, customer, t, time_bad,
    row_bad (a rule of the source's format broken), p0..pn (property texts)."""
    if source.kind == "jsonl" and not source.exact:
        return _jsonl_plain_select(source, keys)
    if source.kind == "jsonl" or source.properties == "json":
        return _json_select(source, keys)
    t, time_bad = _source_time(source)
    fields = [alias(_text_column(source, n), n) for n in ("id", "type", "customer")]
    fields.append(alias(t, "t"))
    fields.append(alias(time_bad, "time_bad"))
    properties = [_property(source, k) for k in keys]
    nested = [bad for _, bad in properties if bad is not None]
    nested += [exp.Not(this=exp.Is(this=col(n), expression=exp.Null()))
               for n in ("id", "type", "customer", "time") if _nested_type(source.column_type(n))]
    fields.append(alias(exp.func("COALESCE", exp.Paren(this=exp.or_(*nested)), exp.false())
                        if nested else exp.false(), "row_bad"))
    fields += [alias(value, f"p{i}") for i, (value, _) in enumerate(properties)]
    return exp.select(*fields).from_(exp.Table(this=_reader(source, keys)) if source.kind != "table"
                                     else _reader(source, keys), copy=False)


# An event's own field given as something else than a string (a number, an object):
# DuckDB's JSON reader would hand it over as text, not as the value it is.
_NOT_A_STRING = "|".join(f'"{f}"[ \\t\\r]*:[ \\t\\r]*[^" \\t\\rn]' for f in ("id", "type", "customer", "time"))


def needs_exact_reading(source: Source, keys: Sequence[str]) -> exp.Select:
    """How many lines of a JSONL file DuckDB's JSON reader could read otherwise than
    their text (`flag_pattern`, or an event's own field that is not a string or
    null): none, and the file is read by that reader (`_jsonl_plain_select`)."""
    line = col(_LINE)
    pattern = flag_pattern(EVENT_FIELDS + tuple(keys)) + "|" + _NOT_A_STRING
    return exp.select(exp.Count(this=exp.Star())).from_(exp.Table(this=_reader(source, keys)), copy=False) \
        .where(_regex(line, pattern), copy=False)


def _plain_value(raw: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """A JSON value (JSON text, from DuckDB's JSON reader) of a file no line of which
    `needs_exact_reading`: (its text, whether it is an object or an array). Strings
    hold no escape (a backslash flags a line), so unquoting is taking the quotes off;
    numbers have at most 15 digits and no exponent, which a double holds exactly."""
    text = cast(raw, TEXT)
    unquoted = exp.Substring(this=text.copy(), start=exp.Literal.number(2),
                             length=exp.Sub(this=exp.Length(this=text.copy()), expression=exp.Literal.number(2)))

    def starts(prefix: str) -> exp.Expression:  # (cheaper than taking the first character)
        return fn("STARTS_WITH", text.copy(), lit(prefix))
    nested = exp.or_(starts("{"), starts("["))
    value = exp.Case(ifs=[
        exp.If(this=starts('"'), true=unquoted),
        exp.If(this=exp.In(this=text.copy(), expressions=[lit("true"), lit("false")]), true=text.copy()),
        exp.If(this=exp.or_(exp.EQ(this=text.copy(), expression=lit("null")), nested), true=cast(exp.Null(), TEXT)),
    ], default=fast_number_text(text))
    return value, exp.Paren(this=nested.copy())


def _jsonl_plain_select(source: Source, keys: Sequence[str]) -> exp.Select:
    """A JSONL file read by DuckDB's JSON reader (see `needs_exact_reading`: its own
    fields are strings). A line the reader refuses (not an object, `properties` not
    an object, too long) fails the read, and the engine reads the file exactly
    instead (`engine.run_query`)."""
    props = [_plain_value(exp.Dot(this=col("properties"), expression=exp.to_identifier(k, quoted=True)))
             for k in keys]
    time = exp.Nullif(this=col("time"), expression=lit(""))
    t, time_bad = _time(source, time)
    nested = [bad for _, bad in props] or [exp.false()]
    fields = [alias(exp.Nullif(this=col(f), expression=lit("")), f) for f in ("id", "type", "customer")]
    fields.append(alias(t, "t"))
    fields.append(alias(exp.or_(exp.Is(this=time.copy(), expression=exp.Null()), exp.Paren(this=time_bad)),
                        "time_bad"))
    fields.append(alias(exp.func("COALESCE", exp.Paren(this=exp.or_(*nested)), exp.false()), "row_bad"))
    fields += [alias(value, f"p{i}") for i, (value, _) in enumerate(props)]
    return exp.select(*fields).from_(exp.Table(this=_reader(source, keys)), copy=False)


def _text_column(source: Source, name: str) -> exp.Expression:
    """A top-level column as text, '' as absent; NULL when the source has no such column."""
    if source.column_type(name) is None:
        return cast(exp.Null(), TEXT)
    return exp.Nullif(this=cast(col(name), TEXT), expression=lit(""))


def _source_time(source: Source) -> tuple[exp.Expression, exp.Expression]:
    """(timestamp, is-bad) of a source's `time` column; bad when it has none."""
    if source.kind != "table" and source.column_type("time") is None:
        return cast(exp.Null(), STAMP), exp.true()
    t, bad = _time(source)
    return t, exp.or_(exp.Is(this=_text_column(source, "time"), expression=exp.Null()), exp.Paren(this=bad))


def _json_select(source: Source, keys: Sequence[str]) -> exp.Select:
    """A JSONL file (each line an event) or a Parquet file with JSON text `properties`,
    read exactly (`_json_documents`): every JSON number as the text it was written with."""
    if source.kind == "jsonl":
        line = col(_LINE)
        fields = ["id", "type", "customer", "time"]
        type_paths = ["$", *(f"$.{f}" for f in fields), "$.properties",
                      *(f"$.properties.{_path(k)}" for k in keys)]
        text_paths = [*(f"$.{f}" for f in fields), *(f"$.properties.{_path(k)}" for k in keys)]
        unbom = exp.Case(ifs=[exp.If(this=fn("STARTS_WITH", line.copy(), lit(_BOM)),
                                     true=exp.Substring(this=line.copy(), start=exp.Literal.number(2)))],
                         default=line.copy())
        blank = _regex(line, "^[ \t\r]*$")  # (TRIM with characters copies every line: 8x slower)
        lines = (exp.select(alias(unbom, _LINE)).from_(exp.Table(this=_reader(source, keys)), copy=False)
                 .where(exp.Not(this=blank), copy=False))
        flagged = (exp.select(line.copy(), alias(_regex(line, flag_pattern(EVENT_FIELDS + tuple(keys))), _FLAG))
                   .from_(lines.subquery("l", copy=False), copy=False))
        levels = [("$", EVENT_FIELDS), ("$.properties", tuple(keys))]
        parsed = exp.select(*_json_documents(line, type_paths, text_paths, levels)).from_(
            flagged.subquery("f", copy=False), copy=False)
        kinds, texts = col(_K), col(_S)
        required = {f: (_index(kinds, i + 2), _index(texts, i + 1)) for i, f in enumerate(fields)}
        structure = [exp.Is(this=kinds.copy(), expression=exp.Null()),
                     exp.NEQ(this=_index(kinds, 1), expression=lit("OBJECT")),
                     exp.Not(this=exp.In(this=exp.func("COALESCE", _index(kinds, 6), lit("NULL")),
                                         expressions=[lit("OBJECT"), lit("NULL")])),
                     *[_nested_kind(k) for k, _ in required.values()]]
        props = [(_index(kinds, 7 + i), _index(texts, 5 + i)) for i in range(len(keys))]
        text = {f: exp.Nullif(this=_json_value(k, s), expression=lit("")) for f, (k, s) in required.items()}
        t, time_bad = _time(source, text["time"])
        time_bad = exp.or_(exp.Is(this=text["time"].copy(), expression=exp.Null()), exp.Paren(this=time_bad))
    else:  # Parquet, `properties` as JSON text
        doc = cast(col("properties"), TEXT)
        type_paths = ["$", *(f"$.{_path(k)}" for k in keys)]
        text_paths = [f"$.{_path(k)}" for k in keys] or ["$.__rc_none"]
        flag = exp.func("COALESCE", _regex(doc, flag_pattern(keys)), exp.false())
        flagged = exp.select(exp.Star(), alias(flag, _FLAG)).from_(exp.Table(this=_reader(source, keys)),
                                                                   copy=False)
        parsed = exp.select(exp.Star(), *_json_documents(doc, type_paths, text_paths, [("$", tuple(keys))])) \
            .from_(flagged.subquery("f", copy=False), copy=False)
        kinds = col(_K)
        present = exp.Not(this=exp.Is(this=col("properties"), expression=exp.Null()))
        structure = [exp.and_(present, exp.Is(this=kinds.copy(), expression=exp.Null())),
                     exp.and_(present.copy(), exp.Not(this=exp.In(
                         this=exp.func("COALESCE", _index(kinds, 1), lit("NULL")),
                         expressions=[lit("OBJECT"), lit("NULL")])))]
        structure += [exp.Not(this=exp.Is(this=col(n), expression=exp.Null()))
                      for n in ("id", "type", "customer", "time") if _nested_type(source.column_type(n))]
        props = [(_index(kinds, 2 + i), _index(col(_S), 1 + i)) for i in range(len(keys))]
        text = {f: _text_column(source, f) for f in ("id", "type", "customer")}
        t, time_bad = _source_time(source)
    structure += [_nested_kind(k) for k, _ in props]
    structure.append(col(_LAX))
    fields = [alias(text[f], f) for f in ("id", "type", "customer")]
    fields.append(alias(t, "t"))
    fields.append(alias(time_bad, "time_bad"))
    fields.append(alias(exp.func("COALESCE", exp.Paren(this=exp.or_(*structure)), exp.true()), "row_bad"))
    fields += [alias(_json_value(k, s), f"p{i}") for i, (k, s) in enumerate(props)]
    return exp.select(*fields).from_(parsed.subquery("j", copy=False), copy=False)


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
        return exp.Paren(this=exp.and_(present, members))
    return exp.Paren(this=exp.or_(exp.Is(this=value.copy(), expression=exp.Null()), exp.Not(this=members)))


def reads(meter: Meter, props: _Props, type_col: exp.Expression) -> exp.Expression:
    """The event is of the meter's type and passes its `where`."""
    parts = [exp.EQ(this=type_col.copy(), expression=lit(meter.event))]
    parts += [condition(c, props) for c in meter.where]
    return exp.Paren(this=exp.and_(*parts))


def _bad_quantity(value: exp.Expression) -> exp.Expression:
    """Not a quantity `rows.parse_quantity` accepts: one pattern, no cast (cheaper per
    row); a number written with an exponent is checked once written out."""
    trimmed = exp.Trim(this=value.copy())
    # a CASE, not AND: DuckDB evaluates both sides of an AND for every row
    unreadable = exp.Case(ifs=[exp.If(this=_regex(trimmed, QUANTITY_PATTERN), true=exp.false())],
                          default=exp.Not(this=exponent_quantity(trimmed)))
    return exp.Paren(this=exp.or_(exp.Is(this=value.copy(), expression=exp.Null()), unreadable))


def quantity_value(value: exp.Expression) -> exp.Expression:
    """A (good) quantity's text as DECIMAL(38, 18), exactly (an exponent too)."""
    return cast(exp.Trim(this=value.copy()), QUANTITY)


def bad_row(plan: RatingPlan, props: _Props) -> exp.Expression:
    """The SQL twin of rows.row_problem (is this row bad at all)."""
    parts: list[exp.Expression] = [exp.Is(this=col(n), expression=exp.Null()) for n in ("id", "type", "customer")]
    parts.append(col("time_bad"))
    parts.append(col("row_bad"))
    for m in sorted(plan.meters.values(), key=lambda m: m.name):
        if m.aggregation.function in ("sum", "max", "latest"):
            parts.append(exp.Paren(this=exp.and_(reads(m, props, col("type")),
                                                 _bad_quantity(props(m.aggregation.field)))))
    return exp.func("COALESCE", exp.Paren(this=exp.or_(*parts)), exp.true())


# ----------------------------------------------------------------- the query


def member(e: exp.Expression, values: Sequence[str]) -> exp.Expression:
    """`e IN (values)`; FALSE (not NULL) for no values, so CASE and NOT behave."""
    if not values:
        return exp.false()
    return exp.In(this=e, expressions=[lit(v) for v in values])


def _plans_charging(plan: RatingPlan, meter: str) -> list[str]:
    return sorted(p.name for p in plan.plans.values() if any(c.meter == meter for c in p.charges))


def _in_window(t: exp.Expression, table: str) -> exp.Expression:
    return exp.and_(exp.LTE(this=col("start", table), expression=t.copy()),
                    exp.GT(this=col("end", table), expression=t.copy()))


def build_query(plan: RatingPlan, sources: Sequence[Source], relations: Relations,
                keys: Sequence[str] | None = None, *,
                rank_every_event: bool = False) -> tuple[exp.Select, QueryShape]:
    """The aggregation. `rank_every_event` dedups with one window over every event
    instead of ranking only the re-sent keys: the same result, and the cheaper plan
    when the events do not fit in the engine's memory (see `dedup`)."""
    keys = tuple(needed_keys(plan) if keys is None else keys)
    props = _Props(keys)
    meters = sorted(plan.meters.values(), key=lambda m: m.name)
    width = max((len(m.dimensions) for m in meters), default=0)
    shape = QueryShape(width)

    union: exp.Expression = source_select(sources[0], keys)
    for s in sources[1:]:
        union = exp.union(union, source_select(s, keys), distinct=False, copy=False)
    events = exp.select("*", alias(bad_row(plan, props), "bad")).from_(union.subquery("src", copy=False), copy=False)

    kept, dup_keys = dedup(keys, rank_every_event)

    # classification
    e = "dd"
    in_term = exp.and_(
        exp.EQ(this=col("customer", "tm"), expression=col("customer", e)),
        exp.LTE(this=col("starts", "tm"), expression=col("t", e)),
        exp.Paren(this=exp.or_(exp.Is(this=col("ends", "tm"), expression=exp.Null()),
                               exp.GT(this=col("ends", "tm"), expression=col("t", e)))))
    in_window = exp.and_(exp.EQ(this=col("contract", "w"), expression=col("contract", "tm")),
                         _in_window(col("t", e), "w"))
    eprops = _Props(keys, e)
    types = sorted({m.event for m in meters})
    passing = [reads(m, eprops, col("type", e)) for m in meters]
    charged = [exp.Paren(this=exp.and_(reads(m, eprops, col("type", e)),
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
        exp.If(this=exp.Not(this=exp.Paren(this=exp.or_(*passing) if passing else exp.false())),
               true=lit("filtered")),
        exp.If(this=exp.Not(this=exp.Paren(this=exp.or_(*charged) if charged else exp.false())),
               true=lit("not_in_plan")),
    ], default=lit("billed"))
    customers = exp.select(alias(col("customer"), "customer")).distinct().from_(
        _as(relations.terms, "t0"))
    classified = (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(e)),
                   alias(col("contract", "tm"), "contract"), alias(col("plan", "tm"), "plan"),
                   alias(col("key", "w"), "wkey"), alias(reason, "reason"))
        .from_(exp.to_table(e))
        .join(customers.subquery("kc"), on=exp.EQ(this=col("customer", "kc"), expression=col("customer", e)),
              join_type="left")
        .join(_as(relations.terms, "tm"), on=in_term, join_type="left")
        .join(_as(relations.windows, "w"), on=in_window, join_type="left")
    )

    parts: list[exp.Select] = []
    for m in meters:
        parts.append(_meter_select(plan, m, props, width, relations))
    counts = (exp.select(alias(lit("reason"), "kind"), alias(cast(exp.Null(), TEXT), "window"),
                         alias(col("reason"), "meter"),
                         *[alias(cast(exp.Null(), TEXT), f"d{i}") for i in range(width)],
                         alias(cast(exp.Null(), TEXT), "quantity"),
                         alias(exp.Count(this=exp.Star()), "events"))
              .from_("cl").where(exp.Not(this=member(col("reason"), ["bad", "duplicate"])))
              .group_by(col("reason")))
    parts.append(counts)
    not_kept = member(col("reason"), ["bad", "duplicate"])
    for kind, rel, where in (("read", "cl", None), ("bad", "cl", exp.EQ(this=col("reason"), expression=lit("bad"))),
                             ("kept", "cl", exp.Not(this=not_kept))):
        q = exp.select(alias(lit(kind), "kind"), alias(cast(exp.Null(), TEXT), "window"),
                       alias(cast(exp.Null(), TEXT), "meter"),
                       *[alias(cast(exp.Null(), TEXT), f"d{i}") for i in range(width)],
                       alias(cast(exp.Null(), TEXT), "quantity"),
                       alias(exp.Count(this=exp.Star()), "events")).from_(rel)
        parts.append(q.where(where) if where is not None else q)

    body: exp.Expression = parts[0]
    for p in parts[1:]:
        body = exp.union(body, p, distinct=False)
    # sorted here, once, by the engine: the Python side reads the rows in order
    order = [exp.Ordered(this=col(c), nulls_first=True)
             for c in ("kind", "window", "meter", *[f"d{i}" for i in range(width)])]
    query = exp.select("*").from_(body.subquery("result")).order_by(*order).with_("ev", as_=events)
    if dup_keys is not None:
        query = query.with_("dk", as_=dup_keys)
    query = query.with_("dd", as_=kept).with_("cl", as_=classified, materialized=True)
    return query, shape


def dedup(keys: Sequence[str], rank_every_event: bool) -> tuple[exp.Expression, exp.Select | None]:
    """`dd`: the events of `ev` with their rank within their (customer, id),
    first good row first (then by time, type and property values); and `dk`,
    the keys it needs, or None.

    Re-sent events are rare (0.1% in the benchmarks), so by default only the
    rows of a key seen more than once (`dk`, a GROUP BY on two columns) are
    ranked and every other row is its key's first: one window over every
    event sorts them all by key, carrying every column through the sort
    (measured on 10M events in memory: 1.0-1.5 s more per run). But `ev` is
    then read three times, which the engine keeps it for; when the events do
    not fit in its memory that costs more than the window, which spills in
    one sorted pass (10M events under 1 GB: 0.8 s more; 100M: 47 s more), and
    `rank_every_event` ranks them all in one window instead.
    """
    table = None if rank_every_event else "ev"
    order = [exp.Ordered(this=col("bad", table)), exp.Ordered(this=col("t", table)),
             exp.Ordered(this=col("type", table))]
    order += [exp.Ordered(this=col(f"p{i}", table), nulls_first=True) for i in range(len(keys))]
    rank = exp.Window(this=exp.RowNumber(),
                      partition_by=[col("customer", table), col("id", table)],
                      order=exp.Order(expressions=order))
    if rank_every_event:
        return exp.select("*", alias(rank, "rn")).from_("ev"), None
    dup_keys = (exp.select(col("customer"), col("id")).from_("ev")
                .group_by(col("customer"), col("id"))
                .having(exp.GT(this=exp.Count(this=exp.Star()), expression=lit(1))))
    same_key = exp.and_(exp.EQ(this=col("customer", "dk"), expression=col("customer", "ev")),
                        exp.EQ(this=col("id", "dk"), expression=col("id", "ev")))
    every = exp.Column(this=exp.Star(), table=exp.to_identifier("ev"))
    once = (exp.select(every, alias(lit(1), "rn")).from_("ev")
            .join(exp.to_table("dk"), on=same_key, join_type="left")
            .where(exp.Is(this=col("customer", "dk"), expression=exp.Null())))
    resent = (exp.select(every.copy(), alias(rank, "rn")).from_("ev")
              .join(exp.to_table("dk"), on=same_key.copy(), join_type="inner"))
    return exp.union(once, resent, distinct=False), dup_keys


def _as(relation: exp.Expression, name: str) -> exp.Expression:
    if isinstance(relation, exp.Table):
        return relation.copy().as_(name)
    return relation.copy().subquery(name)


def _meter_select(plan: RatingPlan, m: Meter, props: _Props, width: int,
                  relations: Relations) -> exp.Select:
    """One meter's GROUP BY: per (window or segment, dimension values)."""
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
        value = quantity_value(cprops(field))
        if fn_name == "sum":
            quantity = exp.Sum(this=value)
        elif fn_name == "max":
            quantity = exp.Max(this=value)
        else:  # latest: the greatest time, ties broken by the greatest id
            quantity = exp.ArgMax(this=value, expression=fn("ROW", col("t", cl), col("id", cl)))
    in_segment = exp.and_(
        exp.EQ(this=col("contract", "sg"), expression=col("contract", cl)),
        exp.EQ(this=col("meter", "sg"), expression=lit(m.name)),
        _in_window(col("t", cl), "sg"))
    select = exp.select(
        alias(lit("agg"), "kind"), alias(window, "window"), alias(lit(m.name), "meter"),
        *[alias(d, f"d{i}") for i, d in enumerate(dims)],
        *[alias(cast(exp.Null(), TEXT), f"d{i}") for i in range(len(dims), width)],
        alias(strip_zeros(cast(quantity, TEXT)), "quantity"),
        alias(exp.Count(this=exp.Star()), "events"),
    ).from_(cl).join(_as(relations.segments, "sg"), on=in_segment, join_type="left")
    charged = _plans_charging(plan, m.name)
    select = select.where(exp.and_(
        exp.EQ(this=col("reason", cl), expression=lit("billed")),
        reads(m, cprops, col("type", cl)),
        member(col("plan", cl), charged)))
    return select.group_by(window.copy(), *[d.copy() for d in dims])
