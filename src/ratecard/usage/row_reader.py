"""Reading usage files row by row: the slow path that names each bad line.

The SQL engines check rows in bulk; when a file holds a bad row, the files
are read here one row at a time (`read_rows`), each row judged by
`rows.row_problem`, to say *which* line is bad and why. The reference
aggregator reads every file this way. Lines are split as DuckDB's CSV reader
and Spark's text reader split them (`physical_lines`), so a line number means
the same thing to every engine.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import os
import sys
from typing import Iterator

from .rows import (MAX_ROW_BYTES, REQUIRED, BadHeader, JsonNumber, UnreadableFile, absent, file_kind,
                   header_problem, text_value)

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
    problem = header_problem(path, header)
    if problem is not None:  # as `csv_header` says for the engines: no row is read by such a header
        raise BadHeader(problem)
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
        elif layout == "flat":  # one column per property: '' is absent, as in every format
            props = {k: v for k, v in row.items() if k not in REQUIRED and not absent(v)}
        elif layout == "map" and props is not None:
            props = dict(props)
        obj = {k: row.get(k) for k in REQUIRED if k != "time" and not absent(row.get(k))}
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


# ----------------------------------------------------------------- whole files


def has_rows(path: str) -> bool:
    """False for a file with no events at all (empty, blank lines, a bare CSV header)."""
    kind = file_kind(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows > 0
        except Exception:  # not Parquet: the engine's `describe` says so
            return True
    if os.path.isdir(path):
        return True  # the engine's `describe` says what it is
    with open(path, "rb") as fh:
        if kind == "csv":
            fh.readline()
        for raw in fh:
            if raw.removeprefix(codecs.BOM_UTF8).strip(b" \t\r\n"):
                return True
    return False


def csv_header(path: str) -> list[str]:
    """A CSV file's column names (a leading BOM, as a spreadsheet writes it, is no part of them);
    `BadHeader` when one is empty or given twice, or a required one is missing
    (`rows.header_problem`)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        header = next(csv.reader(fh), [])
    problem = header_problem(path, header)
    if problem is not None:
        raise BadHeader(problem)
    return header
