"""Each usage source (a file or a table) as the normalized event relation, in SQL.

    a source -> id, type, customer, t, time_bad, row_bad, p0..pn (text)

`source_select` builds the step of the query (`query.build_query`) that
reads one source: exactly the file named (`engine_path`), every value as the
text the row reader (`rows`) gives it, and `row_bad` when a rule of the
source's format is broken. JSON is read exactly: only the lines a double or a
lenient reader could read otherwise (`flag_pattern`) pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlglot import exp

from .rows import EVENT_FIELDS, MAX_ROW_BYTES, TIME_MAX, TIME_MIN, TIME_PATTERN
from .sql import (
    NUMERIC_TYPES,
    STAMP,
    TEXT,
    alias,
    and_,
    cast,
    col,
    fast_number_text,
    fn,
    index,
    let,
    like,
    lit,
    or_,
    regex,
    zero,
)


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


# ----------------------------------------------------------------- reading sources

# Column names the reading steps add to a source's own columns (a file's columns
# cannot be called that).
_K, _S, _FLAG, _LAX, _LINE = "__rc_kinds", "__rc_texts", "__rc_flag", "__rc_lax", "__rc_line"
_KEYS = "__rc_keys"  # (a lambda's parameter in `json_lax`)
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
    parts = [regex(no_strings, r",[ \t\n\r]*[}\]]"), regex(no_strings.copy(), "(?i)nan|inf")]
    levels = [(path, names) for path, names in levels if names]
    if levels:
        # the keys of every level read once (`let`), each name looked up in them
        keys = fn("TRY", fn("json_keys", doc.copy(), exp.Array(expressions=[lit(p) for p, _ in levels])))
        twice = []
        for i, (_, names) in enumerate(levels, start=1):
            level = index(col(_KEYS), i)
            for name in names:
                first = fn("list_position", level.copy(), lit(name))
                last = exp.Sub(this=exp.Add(this=exp.Length(this=level.copy()), expression=exp.Literal.number(1)),
                               expression=fn("list_position", fn("list_reverse", level.copy()), lit(name)))
                twice.append(exp.NullSafeNEQ(this=first, expression=last))
        parts.append(let(keys, _KEYS, or_(*twice)))
    return exp.func("COALESCE", exp.Paren(this=or_(*parts)), exp.true())


def _json_value(kind: exp.Expression, text: exp.Expression) -> exp.Expression:
    """A JSON value's text from its type (`json_type`) and text: strings and booleans
    as they are (the empty string absent, `absent_if_empty`), numbers as
    `number_text`, null, objects and arrays NULL."""
    return exp.Case(ifs=[
        exp.If(this=exp.In(this=kind.copy(), expressions=[lit("VARCHAR"), lit("BOOLEAN")]),
               true=absent_if_empty(text.copy())),
        # an integer is written plain already (its exact text `-0`: "0")
        exp.If(this=exp.In(this=kind.copy(), expressions=[lit("BIGINT"), lit("UBIGINT")]), true=zero(text.copy())),
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


def absent_if_empty(text: exp.Expression) -> exp.Expression:
    """A value's text, NULL (absent) when it is the empty string: in every format and
    engine a property given as `""` is absent, as an empty CSV cell is (docs/usage.md,
    "An empty text is absent"); whitespace is a value."""
    return exp.Nullif(this=text, expression=lit(""))


def _typed_text(value: exp.Expression, kind: str | None) -> exp.Expression:
    """A typed column's value as text: numbers as `number_text`, other values cast,
    the empty string absent (`absent_if_empty`)."""
    text = cast(value, TEXT)
    if (kind or "").split("(")[0].upper() in NUMERIC_TYPES:
        return fast_number_text(text)
    return absent_if_empty(text)


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
        return _typed_text(col(key), kind), None
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
        t = cast(exp.Upper(this=text.copy()), STAMP, safe=True)  # `t` and `z` (RFC 3339): `rows.TIME_PATTERN`
        bad = or_(exp.Is(this=t.copy(), expression=exp.Null()),
                      exp.Not(this=regex(text, TIME_PATTERN)))
    bounds = or_(exp.LT(this=t.copy(), expression=cast(lit(_stamp(TIME_MIN)), STAMP)),
                     exp.GT(this=t.copy(), expression=cast(lit(_stamp(TIME_MAX)), STAMP)))
    if not (kind.startswith("TIMESTAMP") or kind == "DATE"):
        # only the first and the last day can cross the years 0001-9999 (an offset is under 24 hours)
        edge = or_(like(text, "0001-01-01%"), like(text, "9999-12-31%"))
        bounds = exp.Case(ifs=[exp.If(this=edge, true=bounds)], default=exp.false())
    return t, or_(bad, exp.Paren(this=bounds))


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
    fields.append(alias(exp.func("COALESCE", exp.Paren(this=or_(*nested)), exp.false())
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
        .where(regex(line, pattern), copy=False)


def _plain_value(raw: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """A JSON value (JSON text, from DuckDB's JSON reader) of a file no line of which
    `needs_exact_reading`: (its text, whether it is an object or an array). Strings
    hold no escape (a backslash flags a line), so unquoting is taking the quotes off;
    numbers have at most 15 digits and no exponent, which a double holds exactly.
    The empty string is absent (`absent_if_empty`)."""
    text = cast(raw, TEXT)
    unquoted = exp.Substring(this=text.copy(), start=exp.Literal.number(2),
                             length=exp.Sub(this=exp.Length(this=text.copy()), expression=exp.Literal.number(2)))

    def starts(prefix: str) -> exp.Expression:  # (cheaper than taking the first character)
        return fn("STARTS_WITH", text.copy(), lit(prefix))
    nested = or_(starts("{"), starts("["))
    value = exp.Case(ifs=[
        exp.If(this=starts('"'), true=absent_if_empty(unquoted)),
        exp.If(this=exp.In(this=text.copy(), expressions=[lit("true"), lit("false")]), true=text.copy()),
        exp.If(this=or_(exp.EQ(this=text.copy(), expression=lit("null")), nested), true=cast(exp.Null(), TEXT)),
    ], default=fast_number_text(text))
    return value, exp.Paren(this=nested.copy())


def _jsonl_plain_select(source: Source, keys: Sequence[str]) -> exp.Select:
    """A JSONL file read by DuckDB's JSON reader (see `needs_exact_reading`: its own
    fields are strings). A line the reader refuses (not an object, `properties` not
    an object, too long) fails the read, and the engine reads the file exactly
    instead (`duckdb.run_query`)."""
    props = [_plain_value(exp.Dot(this=col("properties"), expression=exp.to_identifier(k, quoted=True)))
             for k in keys]
    time = absent_if_empty(col("time"))
    t, time_bad = _time(source, time)
    nested = [bad for _, bad in props] or [exp.false()]
    fields = [alias(absent_if_empty(col(f)), f) for f in ("id", "type", "customer")]
    fields.append(alias(t, "t"))
    fields.append(alias(or_(exp.Is(this=time.copy(), expression=exp.Null()), exp.Paren(this=time_bad)),
                        "time_bad"))
    fields.append(alias(exp.func("COALESCE", exp.Paren(this=or_(*nested)), exp.false()), "row_bad"))
    fields += [alias(value, f"p{i}") for i, (value, _) in enumerate(props)]
    return exp.select(*fields).from_(exp.Table(this=_reader(source, keys)), copy=False)


def _text_column(source: Source, name: str) -> exp.Expression:
    """A top-level column as text, '' as absent; NULL when the source has no such column."""
    if source.column_type(name) is None:
        return cast(exp.Null(), TEXT)
    return absent_if_empty(cast(col(name), TEXT))


def _source_time(source: Source) -> tuple[exp.Expression, exp.Expression]:
    """(timestamp, is-bad) of a source's `time` column; bad when it has none."""
    if source.kind != "table" and source.column_type("time") is None:
        return cast(exp.Null(), STAMP), exp.true()
    t, bad = _time(source)
    return t, or_(exp.Is(this=_text_column(source, "time"), expression=exp.Null()), exp.Paren(this=bad))


def _json_select(source: Source, keys: Sequence[str]) -> exp.Select:
    """A JSONL file (each line an event) or a Parquet file with JSON text `properties`,
    read exactly (`_json_documents`): every JSON number as the text it was written with."""
    named: dict[str, exp.Expression] = {}

    def piece(items: str, i: int) -> exp.Expression:
        """`items[i]`, named once in step `n` (each is read several times below)."""
        name = f"{items}_{i}"
        named.setdefault(name, index(col(items), i))
        return col(name)

    if source.kind == "jsonl":
        line = col(_LINE)
        fields = ["id", "type", "customer", "time"]
        type_paths = ["$", *(f"$.{f}" for f in fields), "$.properties",
                      *(f"$.properties.{_path(k)}" for k in keys)]
        text_paths = [*(f"$.{f}" for f in fields), *(f"$.properties.{_path(k)}" for k in keys)]
        unbom = exp.Case(ifs=[exp.If(this=fn("STARTS_WITH", line.copy(), lit(_BOM)),
                                     true=exp.Substring(this=line.copy(), start=exp.Literal.number(2)))],
                         default=line.copy())
        blank = regex(line, "^[ \t\r]*$")  # (TRIM with characters copies every line: far slower)
        lines = (exp.select(alias(unbom, _LINE)).from_(exp.Table(this=_reader(source, keys)), copy=False)
                 .where(exp.Not(this=blank), copy=False))
        flagged = (exp.select(line.copy(), alias(regex(line, flag_pattern(EVENT_FIELDS + tuple(keys))), _FLAG))
                   .from_(lines.subquery("l", copy=False), copy=False))
        levels = [("$", EVENT_FIELDS), ("$.properties", tuple(keys))]
        parsed = exp.select(*_json_documents(line, type_paths, text_paths, levels)).from_(
            flagged.subquery("f", copy=False), copy=False)
        kinds, texts = col(_K), col(_S)
        required = {f: (piece(_K, i + 2), piece(_S, i + 1)) for i, f in enumerate(fields)}
        structure = [exp.Is(this=kinds.copy(), expression=exp.Null()),
                     exp.NEQ(this=piece(_K, 1), expression=lit("OBJECT")),
                     exp.Not(this=exp.In(this=exp.func("COALESCE", piece(_K, 6), lit("NULL")),
                                         expressions=[lit("OBJECT"), lit("NULL")])),
                     *[_nested_kind(k) for k, _ in required.values()]]
        props = [(piece(_K, 7 + i), piece(_S, 5 + i)) for i in range(len(keys))]
        text = {f: _json_value(k, s) for f, (k, s) in required.items()}  # '' is absent (`_json_value`)
        t, time_bad = _time(source, text["time"])
        time_bad = or_(exp.Is(this=text["time"].copy(), expression=exp.Null()), exp.Paren(this=time_bad))
    else:  # Parquet, `properties` as JSON text
        doc = cast(col("properties"), TEXT)
        type_paths = ["$", *(f"$.{_path(k)}" for k in keys)]
        text_paths = [f"$.{_path(k)}" for k in keys] or ["$.__rc_none"]
        flag = exp.func("COALESCE", regex(doc, flag_pattern(keys)), exp.false())
        flagged = exp.select(exp.Star(), alias(flag, _FLAG)).from_(exp.Table(this=_reader(source, keys)),
                                                                   copy=False)
        parsed = exp.select(exp.Star(), *_json_documents(doc, type_paths, text_paths, [("$", tuple(keys))])) \
            .from_(flagged.subquery("f", copy=False), copy=False)
        kinds = col(_K)
        present = exp.Not(this=exp.Is(this=col("properties"), expression=exp.Null()))
        structure = [and_(present, exp.Is(this=kinds.copy(), expression=exp.Null())),
                     and_(present.copy(), exp.Not(this=exp.In(
                         this=exp.func("COALESCE", piece(_K, 1), lit("NULL")),
                         expressions=[lit("OBJECT"), lit("NULL")])))]
        structure += [exp.Not(this=exp.Is(this=col(n), expression=exp.Null()))
                      for n in ("id", "type", "customer", "time") if _nested_type(source.column_type(n))]
        props = [(piece(_K, 2 + i), piece(_S, 1 + i)) for i in range(len(keys))]
        text = {f: _text_column(source, f) for f in ("id", "type", "customer")}
        t, time_bad = _source_time(source)
    structure += [_nested_kind(k) for k, _ in props]
    structure.append(col(_LAX))
    fields = [alias(text[f], f) for f in ("id", "type", "customer")]
    fields.append(alias(t, "t"))
    fields.append(alias(time_bad, "time_bad"))
    fields.append(alias(exp.func("COALESCE", exp.Paren(this=or_(*structure)), exp.true()), "row_bad"))
    fields += [alias(_json_value(k, s), f"p{i}") for i, (k, s) in enumerate(props)]
    pieces = exp.select(exp.Star(), *[alias(e, name) for name, e in named.items()], copy=False) \
        .from_(parsed.subquery("j", copy=False), copy=False)
    return exp.select(*fields).from_(pieces.subquery("n", copy=False), copy=False)
