"""What a usage row is, row by row: the definitions every engine must agree on.

The SQL engines check rows in bulk; when a file holds a bad row, this module
reads it one row at a time to say *which* line is bad and why (the slow path
runs only on bad input). The reference aggregator uses the same definitions,
so "bad row" means one thing everywhere:

- a line that is not a JSON object (JSONL);
- a missing or empty `id`, `type`, `customer` or `time`;
- a `time` that is not RFC 3339 (`2026-03-01T10:00:00Z`, an offset, or a
  plain date; naive times are UTC);
- `properties` that is not an object;
- for a `sum`/`max`/`latest` meter that reads the event (type and `where`
  match), a quantity that is missing, not a decimal number, or carries more
  than 18 decimal places (ratecard never rounds a quantity silently).

Property values are compared as text. Numbers are written without storage
zeros: `2.0` reads as "2" and `1.50` as "1.5"; strings are kept verbatim.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterator

UTC = dt.timezone.utc
REQUIRED = ("id", "type", "customer", "time")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}

# RFC 3339 date-time (or a plain date), as both Python and SQL check it.
TIME_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
                r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]+)?)?)?"
                r"(Z|[+-][0-9]{2}:[0-9]{2})?$")
# A decimal quantity; at most 18 fractional digits (QUANTITY_SCALE).
NUMBER_PATTERN = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"
QUANTITY_SCALE = 18
QUANTITY_DIGITS = 38
# The same test in one pattern, for the engines: the number shape, at most
# QUANTITY_SCALE fractional digits and fewer than QUANTITY_DIGITS - QUANTITY_SCALE
# integer digits once leading zeros are dropped (what DECIMAL(38, 18) holds
# exactly). `parse_quantity` accepts exactly the (trimmed) texts it matches.
QUANTITY_PATTERN = (r"^[+-]?(0*[0-9]{1,%d}([.][0-9]{0,%d})?|0*[.][0-9]{1,%d})$"
                    % (QUANTITY_DIGITS - QUANTITY_SCALE, QUANTITY_SCALE, QUANTITY_SCALE))
_TIME = re.compile(TIME_PATTERN)
_NUMBER = re.compile(NUMBER_PATTERN)


class UnreadableFile(Exception):
    """A usage file that cannot be opened or has an unsupported type."""


def file_kind(path: str) -> str:
    kind = SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise UnreadableFile(f"unsupported usage file type `{Path(path).suffix or path}` "
                             "(use .jsonl, .csv or .parquet)")
    return kind


def strip_zeros(text: str) -> str:
    """`2.0` -> `2`, `1.50` -> `1.5`: a number's text without storage zeros."""
    if "." in text and "e" not in text and "E" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def text_value(value) -> str | None:
    """A property value as the text that rules and dimensions compare."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (Decimal, int, float)):
        if isinstance(value, float):
            return strip_zeros(repr(value))
        return strip_zeros(format(Decimal(value), "f"))
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def parse_time(raw) -> dt.datetime | None:
    """An RFC 3339 timestamp (or date) as UTC; None when it is not one."""
    if not isinstance(raw, str) or not _TIME.match(raw):
        return None
    try:
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


def parse_quantity(text: str | None) -> Decimal | None:
    """A quantity exactly as written, or None when it is not an acceptable number."""
    if text is None or not _NUMBER.match(text.strip()):
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if -value.as_tuple().exponent > QUANTITY_SCALE or value.adjusted() >= QUANTITY_DIGITS - QUANTITY_SCALE:
        return None
    return value


def read_rows(path: str) -> Iterator[tuple[int, dict | str, str]]:
    """(line, row-or-problem, raw text) for each row of a usage file.

    A row is a dict with the required fields (those present) and
    `properties`, a dict of raw values; a problem is a string.
    """
    kind = file_kind(path)
    if kind == "jsonl":
        with open(path, encoding="utf-8", errors="replace") as fh:
            for i, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                text = raw.rstrip("\r\n")
                try:
                    obj = json.loads(text, parse_float=Decimal, parse_int=Decimal)
                except json.JSONDecodeError as exc:
                    yield i, f"invalid JSON: {exc.msg} at column {exc.colno}", text
                    continue
                if not isinstance(obj, dict):
                    yield i, "not a JSON object", text
                    continue
                yield i, obj, text
    elif kind == "csv":
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                row.pop(None, None)  # cells beyond the header
                props = {k: v for k, v in row.items() if k not in REQUIRED and v not in (None, "")}
                obj = {k: row.get(k) for k in REQUIRED if row.get(k) not in (None, "")}
                obj["properties"] = props
                yield reader.line_num, obj, ",".join(v or "" for v in row.values())
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for i, row in enumerate(table.to_pylist(), start=1):
            props = row.get("properties")
            if isinstance(props, str):
                try:
                    props = json.loads(props, parse_float=Decimal, parse_int=Decimal)
                except json.JSONDecodeError:
                    yield i, "`properties` is not valid JSON", ""
                    continue
            elif props is None and "properties" not in row:
                props = {k: v for k, v in row.items() if k not in REQUIRED and v is not None}
            elif isinstance(props, list):  # a MAP column
                props = dict(props)
            obj = {k: row.get(k) for k in REQUIRED if row.get(k) not in (None, "")}
            t = obj.get("time")
            if isinstance(t, dt.datetime):
                obj["time"] = (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()
            elif isinstance(t, dt.date):
                obj["time"] = t.isoformat()
            obj["properties"] = props
            yield i, obj, ""


def row_problem(obj: dict, meters_by_type: dict) -> tuple[str | None, dict[str, str]]:
    """Why a parsed row is bad (None if it is good), and its properties as text."""
    missing = [k for k in REQUIRED if obj.get(k) in (None, "")]
    if missing:
        return f"missing field `{missing[0]}`", {}
    if parse_time(obj["time"] if isinstance(obj["time"], str) else None) is None:
        return f"bad timestamp `{obj['time']}`", {}
    raw_props = obj.get("properties")
    if raw_props is None:
        raw_props = {}
    if not isinstance(raw_props, dict):
        return "`properties` is not an object", {}
    props = {k: text_value(v) for k, v in raw_props.items() if v is not None}
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
