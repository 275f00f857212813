"""What a usage row is, row by row: the definitions every engine must agree on.

The SQL engines check rows in bulk; when a file holds a bad row, this module
reads it one row at a time to say *which* line is bad and why (the slow path
runs only on bad input). The reference aggregator uses the same definitions,
so "bad row" means one thing everywhere (docs/usage.md, "What a good row is"):

- a JSONL line that is not valid UTF-8, not a JSON object (RFC 8259: no NaN,
  no trailing commas, no lone surrogates), or gives a field ratecard reads
  (`id`, `type`, `customer`, `time`, `properties`, a property a meter reads)
  twice; a CSV record that is not valid UTF-8 or does not have one cell per
  header column; any row of `MAX_ROW_BYTES` or more;
- a missing or empty `id`, `type`, `customer` or `time`, or one that is an
  object or an array;
- a `time` that is not RFC 3339 (`2026-03-01T10:00:00Z`, an offset of at
  most 23:59, or a plain date; naive times are UTC), or whose instant in UTC
  falls outside the years 0001-9999;
- `properties` that is not an object, or a property a meter reads that is
  a JSON object or array;
- for a `sum`/`max`/`latest` meter that reads the event (type and `where`
  match), a quantity that is missing, not a decimal number, or carries more
  than 18 decimal places (ratecard never rounds a quantity silently).

Numbers are exact: a JSON number is read from its text, never through a
binary float. Property values are compared as text: a number (JSON number,
numeric column) is written as the plain decimal it denotes, without storage
zeros (`2.0` -> "2", `1.50` -> "1.5", `1e3` -> "1000"); strings are kept
verbatim. Fractional seconds beyond microseconds are truncated, never rounded.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

UTC = dt.timezone.utc
REQUIRED = ("id", "type", "customer", "time")
EVENT_FIELDS = REQUIRED + ("properties",)
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}

# RFC 3339 date-time (or a plain date), as both Python and SQL check it: years
# 0001-9999, hours 00-23, an offset of at most 23:59 (RFC 3339's numoffset).
TIME_PATTERN = (r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}"
                r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]+)?)?)?"
                r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$")
# The instants an event may have, in UTC (what every engine and Python's datetime hold).
TIME_MIN = dt.datetime(1, 1, 1, tzinfo=UTC)
TIME_MAX = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
# A decimal quantity; at most 18 fractional digits (QUANTITY_SCALE).
NUMBER_PATTERN = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"
QUANTITY_SCALE = 18
QUANTITY_DIGITS = 38
# The same test in one pattern, for the engines: the number shape, at most
# QUANTITY_SCALE fractional digits and fewer than QUANTITY_DIGITS - QUANTITY_SCALE
# integer digits once leading zeros are dropped (what DECIMAL(38, 18) holds
# exactly). `parse_quantity` accepts exactly the texts it matches, and the texts
# with an exponent that `exponent_quantity` accepts.
QUANTITY_PATTERN = (r"^[+-]?(0*[0-9]{1,%d}([.][0-9]{0,%d})?|0*[.][0-9]{1,%d})$"
                    % (QUANTITY_DIGITS - QUANTITY_SCALE, QUANTITY_SCALE, QUANTITY_SCALE))
# A number written with an exponent of one to three digits: the plain decimal it
# denotes is written out (`plain_number`). A longer exponent is left as written.
EXPONENT_PATTERN = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)[eE][+-]?[0-9]{1,3}$"
# A row (a JSONL line, a CSV record) of this many bytes or more is a bad row:
# DuckDB's `max_line_size`, which the engine sets to it.
MAX_ROW_BYTES = 2_000_000

_TIME = re.compile(TIME_PATTERN)
_QUANTITY = re.compile(QUANTITY_PATTERN)
_EXPONENT = re.compile(EXPONENT_PATTERN)
_BOM = "\ufeff"


class UnreadableFile(Exception):
    """A usage file that cannot be opened or has an unsupported type or layout."""


def file_kind(path: str) -> str:
    kind = SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise UnreadableFile(f"unsupported usage file type `{Path(path).suffix or path}` "
                             "(use .jsonl, .csv or .parquet)")
    return kind


# ----------------------------------------------------------------- numbers as text


def strip_zeros(text: str) -> str:
    """`2.0` -> `2`, `1.50` -> `1.5`: a number's text without storage zeros."""
    if "." in text and "e" not in text and "E" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def plain_number(text: str) -> str:
    """`1.5e3` -> `1500`, `25E-3` -> `0.025`: a number written with an exponent (of
    at most three digits) as the plain decimal it denotes, by moving its point;
    every digit written is kept (`1.50e-17` has 19 decimal places). Other text
    is returned as it is. `query.plain_number` is the SQL twin, step for step."""
    if not _EXPONENT.match(text):
        return text
    mantissa, exponent = text.lower().split("e")
    sign = mantissa[0] if mantissa[0] in "+-" else ""
    whole, _, fraction = mantissa[len(sign):].partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent)
    if point <= 0:
        body = "0." + digits.rjust(len(digits) - point, "0")
    elif point >= len(digits):
        body = digits.ljust(point, "0")
    else:
        body = digits[:point] + "." + digits[point:]
    return sign + body


def number_text(text: str) -> str:
    """A number's text (a JSON number as written, a numeric column cast to text) as
    the text rules and dimensions compare: the plain decimal, no storage zeros,
    zero as "0". The SQL twin is `query.number_text`."""
    if _EXPONENT.match(text):
        plain = plain_number(text)
        sign = plain[0] if plain[0] in "+-" else ""
        body = plain[len(sign):].lstrip("0")
        text = sign + ("0" + body if body[:1] in ("", ".") else body)
    text = strip_zeros(text)
    return "0" if text in ("-0", "+0") else text


class JsonNumber(str):
    """A JSON number, kept as the text it was written with (never a float)."""


def text_value(value) -> str | None:
    """A property value as the text that rules and dimensions compare."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, JsonNumber):
        return number_text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return number_text(repr(value))
    if isinstance(value, (Decimal, int)):
        return number_text(format(Decimal(value), "f"))
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def nested(value) -> bool:
    """An object or an array: not a value ratecard compares or sums."""
    return isinstance(value, (dict, list, tuple))


def parse_time(raw) -> dt.datetime | None:
    """An RFC 3339 timestamp (or date) as UTC; None when it is not one, or its
    instant in UTC is outside the years 0001-9999."""
    if not isinstance(raw, str) or not _TIME.match(raw):
        return None
    try:
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return t.astimezone(UTC)
    except (ValueError, OverflowError):  # 2026-02-30; 0001-01-01T00:00+01:00 (year 0 in UTC)
        return None


def exponent_quantity(text: str) -> bool:
    """A quantity written with an exponent that DECIMAL(38, 18) holds exactly: at
    most 18 decimal places and 20 integer digits once written out (`1.50e-17` has
    19 places), computed from the digits as `query.exponent_quantity` does."""
    if not _EXPONENT.match(text):
        return False
    mantissa, exponent = text.lower().split("e")
    fraction = len(mantissa.partition(".")[2])
    significant = len(mantissa.lstrip("+-").replace(".", "").lstrip("0"))
    return (fraction - int(exponent) <= QUANTITY_SCALE
            and significant - fraction + int(exponent) <= QUANTITY_DIGITS - QUANTITY_SCALE)


def parse_quantity(text: str | None) -> Decimal | None:
    """A quantity exactly as written, or None when it is not an acceptable number:
    a plain decimal (`QUANTITY_PATTERN`) or one with an exponent (`exponent_quantity`)."""
    if text is None:
        return None
    text = text.strip(" ")
    if not (_QUANTITY.fullmatch(text) or exponent_quantity(text)):
        return None
    return Decimal(text)


# ----------------------------------------------------------------- reading rows


class JsonObject(dict):
    """A parsed JSON object that remembers the keys it was given more than once."""

    duplicates: frozenset = frozenset()


def _object(pairs) -> JsonObject:
    obj = JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        obj.duplicates = frozenset(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def _no_constant(name: str):
    raise ValueError(f"`{name}` is not a JSON number")


def _has_surrogate(value) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def parse_json(text: str):
    """JSON text -> (value, None), or (None, why it is not JSON): RFC 8259, numbers
    kept as their text (`JsonNumber`), objects as `JsonObject`."""
    try:
        value = json.loads(text, parse_float=JsonNumber, parse_int=JsonNumber,
                           parse_constant=_no_constant, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at column {exc.colno}"
    except ValueError as exc:
        return None, str(exc)
    except RecursionError:
        return None, "nested too deeply"
    if "\\u" in text and _has_surrogate(value):  # yyjson (DuckDB) refuses a lone surrogate
        return None, "an unpaired surrogate escape (\\ud800-\\udfff)"
    return value, None


def parse_json_line(text: str) -> JsonObject | str:
    """One JSONL line (without its newline) -> the object, or why it is not one."""
    value, problem = parse_json(text)
    if problem is not None:
        return f"invalid JSON: {problem}"
    if not isinstance(value, dict):
        return "not a JSON object"
    return value


def _too_long(size: int) -> str:
    return f"the row is {size} bytes long; a row has fewer than {MAX_ROW_BYTES} bytes"


def read_rows(path: str) -> Iterator[tuple[int, dict | str, str]]:
    """(line, row-or-problem, raw text) for each row of a usage file.

    A row is a dict with the required fields (those present) and
    `properties`, a dict of raw values; a problem is a string. `line` is
    the physical line a row starts on (JSONL, CSV) or its row number (Parquet).
    """
    kind = file_kind(path)
    if kind == "jsonl":
        yield from _jsonl_rows(path)
    elif kind == "csv":
        yield from _csv_rows(path)
    else:
        yield from _parquet_rows(path)


def physical_lines(fh) -> Iterator[bytes]:
    """The lines of a binary file, each with its terminator: a line ends at LF, CRLF
    or a lone CR, as DuckDB's CSV reader and Spark's text reader split lines."""
    for raw in fh:  # split at LF
        crlf = raw.endswith(b"\r\n")
        parts = (raw[:-2] if crlf else raw).split(b"\r")
        for part in parts[:-1]:
            yield part + b"\r"
        last = parts[-1] + (b"\r\n" if crlf else b"")
        if last:
            yield last


def _body(raw: bytes) -> bytes:
    """A line without its terminator."""
    return raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith((b"\n", b"\r")) else raw


def _jsonl_rows(path: str) -> Iterator[tuple[int, dict | str, str]]:
    """A leading BOM is ignored; a line of JSON whitespace only (space, tab) is no row."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(physical_lines(fh), start=1):
            body = _body(raw)
            if body.startswith(codecs.BOM_UTF8):
                body = body[len(codecs.BOM_UTF8):]
            if not body.strip(b" \t"):
                continue
            text = body.decode("utf-8", errors="replace")
            size = len(raw) - raw.endswith(b"\n")  # as DuckDB counts: a CR before the LF too
            if size >= MAX_ROW_BYTES:
                yield i, _too_long(size), text[:200]
                continue
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                yield i, "not valid UTF-8", text
                continue
            yield i, parse_json_line(text), text


class _Lines:
    """The physical lines of a CSV file, decoded one by one, for `csv.reader`:
    keeps the raw bytes of the lines handed out since `take`, so a record is
    placed at the line it starts on and measured in bytes as DuckDB measures it."""

    def __init__(self, fh):
        self.lines = physical_lines(fh)
        self.count = 0
        self.raw: list[bytes] = []
        self.bad_utf8 = False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = next(self.lines)
        if self.count == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        self.count += 1
        self.raw.append(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_utf8 = True
            return raw.decode("utf-8", errors="replace")

    def take(self) -> tuple[list[bytes], bool]:
        """The raw lines since the last take, and whether any was not UTF-8."""
        raw, bad, self.raw, self.bad_utf8 = self.raw, self.bad_utf8, [], False
        return raw, bad


def csv_records(path: str) -> Iterator[tuple[int, list[str] | None, list[bytes], str | None]]:
    """(first line, cells, raw lines, problem) for the header (line 1) and every
    record of a CSV file; cells is None after a record the csv module cannot read."""
    csv.field_size_limit(sys.maxsize)  # a cell may be as long as a row (MAX_ROW_BYTES)
    with open(path, "rb") as fh:
        lines = _Lines(fh)
        reader = csv.reader(lines)
        start = 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raw, _ = lines.take()
                yield start, None, raw, f"not a CSV record: {exc}"
                return
            raw, bad_utf8 = lines.take()
            size = sum(len(r) for r in raw) - (1 if raw and raw[-1].endswith(b"\n") else 0)
            problem = (_too_long(size) if size >= MAX_ROW_BYTES else "not valid UTF-8" if bad_utf8 else None)
            yield start, record, raw, problem
            start = lines.count + 1


def _csv_rows(path: str) -> Iterator[tuple[int, dict | str, str]]:
    records = csv_records(path)
    first = next(records, None)
    if first is None or first[1] is None:
        return
    header = first[1]
    for line, record, _, problem in records:
        if record is None:
            yield line, problem, ""
            return
        if not record:
            continue  # a blank line
        text = ",".join(record)
        if problem is not None:
            yield line, problem, text[:200]
        elif len(record) != len(header):
            yield line, f"{len(record)} cells, but the header has {len(header)} columns", text
        else:
            row = dict(zip(header, record))
            props = {k: v for k, v in row.items() if k not in REQUIRED and v != ""}
            obj = {k: row[k] for k in REQUIRED if row.get(k, "") != ""}
            obj["properties"] = props
            yield line, obj, text


def clean_copy(path: str, bad_lines: set[int], target: str) -> list[int]:
    """`path` without the rows that start on `bad_lines`, written to `target` (the good
    rows' bytes as they are, so an engine reads them as it would have); returns the
    user's line (Parquet: row) of each line (row) of the copy, to name it."""
    kind = file_kind(path)
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        keep = [i + 1 not in bad_lines for i in range(table.num_rows)]
        pq.write_table(table.filter(pa.array(keep)), target)
        return [i + 1 for i, k in enumerate(keep) if k]
    lines: list[int] = []
    with open(target, "wb") as out:
        if kind == "jsonl":
            with open(path, "rb") as fh:
                for i, raw in enumerate(physical_lines(fh), start=1):
                    if i not in bad_lines:
                        out.write(raw)
                        lines.append(i)
            return lines
        for line, _, raw, _ in csv_records(path):
            if line not in bad_lines and raw:
                out.write(b"".join(raw))
                lines.extend(range(line, line + len(raw)))
    return lines


def _parquet_rows(path: str) -> Iterator[tuple[int, dict | str, str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    layout = parquet_properties(table.schema)
    times = _parquet_times(table) if "time" in table.column_names else None
    columns = [c for c in table.column_names if c != "time"]
    rows = table.select(columns).to_pylist()
    for i, row in enumerate(rows, start=1):
        props = row.get("properties")
        if layout == "json":
            if isinstance(props, bytes):
                props = props.decode("utf-8", errors="replace")
            if props is not None:
                props, problem = parse_json(props)
                if problem is not None:
                    yield i, f"`properties` is not valid JSON: {problem}", ""
                    continue
        elif layout == "flat":  # one column per property: '' is absent, as in CSV
            props = {k: v for k, v in row.items() if k not in REQUIRED and v not in (None, "")}
        elif layout == "map" and props is not None:
            props = dict(props)
        obj = {k: row.get(k) for k in REQUIRED if k != "time" and row.get(k) not in (None, "")}
        if times is not None and times[i - 1] not in (None, ""):
            obj["time"] = times[i - 1]
        obj["properties"] = props
        yield i, obj, ""


def parquet_properties(schema) -> str:
    """How a Parquet file (a pyarrow schema) holds properties: `flat` (no `properties`
    column), `struct`, `map` (text keys) or `json` (text); anything else is unreadable."""
    import pyarrow as pa

    if "properties" not in schema.names:
        return "flat"
    kind = schema.field("properties").type
    if isinstance(kind, pa.ExtensionType):  # e.g. arrow.json: JSON text
        kind = kind.storage_type
    if pa.types.is_struct(kind):
        return "struct"
    if pa.types.is_map(kind) and (pa.types.is_string(kind.key_type) or pa.types.is_large_string(kind.key_type)):
        return "map"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "json"
    raise UnreadableFile(f"its `properties` column is {kind}; use a STRUCT, a MAP with text keys, "
                         "or JSON text (or one column per property)")


def _parquet_times(table) -> list:
    """The `time` column as text: timestamps floored to microseconds (never rounded
    up) and written in ISO form; an instant outside the years 0001-9999 as text no
    timestamp pattern accepts."""
    import pyarrow as pa

    column = table.column("time")
    kind = column.type
    if pa.types.is_timestamp(kind):
        out = []
        for v in column.cast(pa.int64()).to_pylist():
            if v is None:
                out.append(None)
                continue
            micro = v // 1000 if kind.unit == "ns" else v * {"s": 1_000_000, "ms": 1000, "us": 1}[kind.unit]
            try:
                t = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=micro)
            except OverflowError:
                out.append(f"{micro} microseconds from 1970 (outside the years 0001-9999)")
                continue
            out.append(t.isoformat() + ("+00:00" if kind.tz is not None else ""))
        return out
    if pa.types.is_date(kind):
        return [None if d is None else d.isoformat() for d in column.cast(pa.date32()).to_pylist()]
    return [None if v is None else (v if isinstance(v, str) else text_value(v))
            for v in column.to_pylist()]


def row_problem(obj: dict, meters_by_type: dict, keys: Iterable[str] = ()) -> tuple[str | None, dict[str, str]]:
    """Why a parsed row is bad (None if it is good), and its properties as text.
    `keys` are the properties some meter reads (`query.needed_keys`)."""
    duplicates = getattr(obj, "duplicates", frozenset()) & set(EVENT_FIELDS)
    if duplicates:
        return f"field `{sorted(duplicates)[0]}` is given twice", {}
    missing = [k for k in REQUIRED if obj.get(k) in (None, "")]
    if missing:
        return f"missing field `{missing[0]}`", {}
    complex_ = [k for k in REQUIRED if nested(obj[k])]
    if complex_:
        return f"field `{complex_[0]}` is a JSON {'object' if isinstance(obj[complex_[0]], dict) else 'array'}", {}
    if parse_time(obj["time"] if isinstance(obj["time"], str) else None) is None:
        return f"bad timestamp `{obj['time']}`", {}
    raw_props = obj.get("properties")
    if raw_props is None:
        raw_props = {}
    if not isinstance(raw_props, dict):
        return "`properties` is not an object", {}
    read = set(keys)
    twice = getattr(raw_props, "duplicates", frozenset()) & read
    if twice:
        return f"property `{sorted(twice)[0]}` is given twice", {}
    for k in sorted(read):
        if nested(raw_props.get(k)):
            return (f"property `{k}` is a JSON {'object' if isinstance(raw_props[k], dict) else 'array'}; "
                    "a property a meter reads is a string, a number or a boolean"), {}
    props = {k: text_value(v) for k, v in raw_props.items() if v is not None and not nested(v)}
    for meter in meters_by_type.get(text_value(obj["type"]), ()):
        field = meter.aggregation.field
        if meter.aggregation.function in ("sum", "max", "latest") and all(
                c.matches(props) for c in meter.where):
            shown = props.get(field)
            if shown is None:
                return f"missing quantity `{field}` for meter {meter.name}", props
            if parse_quantity(shown) is None:
                return (f"quantity `{field}` = {shown!r} for meter {meter.name} is not a decimal "
                        f"number with at most {QUANTITY_SCALE} decimal places"), props
    return None, props
