"""Running the aggregation in embedded DuckDB, and reading the result back.

The common case is one pass: DuckDB reads every file, checks every row,
dedups, classifies and aggregates in a single query, and only the aggregates
(plus a handful of counts) come back to Python. When the query reports bad
rows, or a file cannot be parsed at all, the slow path reads the files row by
row (`rows`) to name each bad line; with `--skip-bad-rows` the good rows of
those files are copied aside and the query runs again on the copies.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Sequence

from ..diagnostics import Diagnostic, Span, error
from ..io import write_atomic
from ..model import RatingPlan
from .query import Relations, Source, build_query, engine_path, macros, needed_keys, needs_exact_reading
from .records import (
    REJECTION_REASONS,
    Aggregate,
    BadRow,
    ContractTerm,
    UsageReport,
    Window,
    memory_limit_problem,
    size_bytes,
)
from .rows import (
    UnreadableFile,
    clean_copy,
    file_kind,
    parquet_properties,
    read_rows,
    row_problem,
)

MAX_ROW_DIAGNOSTICS = 1000
UTC = dt.timezone.utc


class EngineFailure(Exception):
    """DuckDB refused a query or a file; the message is DuckDB's first line."""


def default_memory_limit() -> str:
    """Half of physical memory: room for the rest of the machine, and for Python."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(total // 2 // (1 << 20), 256)}MB"


def connect(memory_limit: str | None = None, threads: int | None = None):
    import duckdb

    spill = tempfile.mkdtemp(prefix="ratecard-spill-")
    config = {
        "memory_limit": memory_limit or default_memory_limit(),
        "temp_directory": spill,
        "preserve_insertion_order": False,
    }
    if threads:
        config["threads"] = threads
    try:
        conn = duckdb.connect(config=config)
    except duckdb.Error as exc:
        shutil.rmtree(spill, ignore_errors=True)
        raise EngineFailure(_first_line(exc)) from None
    for statement in macros():
        conn.execute(statement)
    try:  # naive times are UTC; without the ICU extension DuckDB is UTC already
        conn.execute("SET TimeZone = 'UTC'")
    except duckdb.Error:
        pass
    try:
        # Every join in the plan has the small relation (terms, windows,
        # segments) on its right, which is the side to build a hash table on.
        # DuckDB estimates a JSONL or CSV file at a few dozen rows and would
        # build on the events instead: measured on 10M JSONL events, twice the
        # time and 10 GB of memory instead of 3.
        conn.execute("SET disabled_optimizers = 'build_side_probe_side'")
    except duckdb.Error:
        pass
    return conn, spill


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ----------------------------------------------------------------- sources


def describe(conn, path: str) -> Source:
    """How a usage file is laid out (its kind and columns)."""
    kind = file_kind(path)
    if os.path.isdir(path):
        raise UnreadableFile(f"`{path}` is a directory; name the usage files in it")
    if not os.path.isfile(path):
        raise UnreadableFile(f"cannot open usage file `{path}`")
    if kind == "jsonl":
        return Source(path, "jsonl")
    if kind == "csv":
        return Source(path, "csv", tuple((name, "VARCHAR") for name in csv_header(path)))
    try:
        import pyarrow.parquet as pq

        layout = parquet_properties(pq.read_schema(path))
        where = engine_path(path)
        rows = conn.execute("DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [where]).fetchall()
        # the row count from the footer, for choosing the dedup plan (`events_fit`)
        (count,), = conn.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)", [where]).fetchall()
    except UnreadableFile:
        raise
    except Exception as exc:  # duckdb.Error, pyarrow.ArrowInvalid: not a Parquet file
        raise UnreadableFile(f"cannot read `{path}` as Parquet: {_first_line(exc)}") from None
    columns = tuple((name, kind.strip('"')) for name, kind, *_ in rows)
    props = dict(columns).get("properties") or ""
    if layout == "struct":
        fields = _struct_fields(conn, where)
    elif layout == "map":
        fields = (("", _map_value_type(props)),)
    else:
        fields = ()
    return Source(path, "parquet", columns, layout, fields, rows=int(count or 0))


def csv_header(path: str) -> list[str]:
    """A CSV file's column names (a leading BOM, as a spreadsheet writes it, is no part of them)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        return next(csv.reader(fh), [])


def _map_value_type(kind: str) -> str:
    """`MAP(VARCHAR, DECIMAL(10, 2))` -> `DECIMAL(10, 2)`."""
    inner, depth = kind[kind.index("(") + 1:kind.rindex(")")], 0
    for i, ch in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            return inner[i + 1:].strip()
    return ""


def _struct_fields(conn, path: str) -> tuple[tuple[str, str], ...]:
    rows = conn.execute("DESCRIBE SELECT unnest(properties) FROM read_parquet(?, hive_partitioning = false)",
                        [path]).fetchall()
    return tuple((name, kind.strip('"')) for name, kind, *_ in rows)


def has_rows(path: str) -> bool:
    """False for a file with no events at all (empty, blank lines, a bare CSV header)."""
    kind = file_kind(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows > 0
        except Exception:  # not Parquet: `describe` says so
            return True
    if os.path.isdir(path):
        return True  # `describe` says what it is
    with open(path, "rb") as fh:
        if kind == "csv":
            fh.readline()
        for raw in fh:
            if raw.removeprefix(codecs.BOM_UTF8).strip(b" \t\r\n"):
                return True
    return False


# ----------------------------------------------------------------- relations


def _stamp(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def register_relations(conn, terms: Sequence[ContractTerm], windows: Sequence[Window]) -> Relations:
    """Terms, billing windows and segments as temporary tables DuckDB can join.

    Each is one statement whose columns are bound as lists and unnested, not
    Arrow tables: building an Arrow array from Python values makes pyarrow
    import pandas where it is installed, ~0.3 s of every run's start-up.
    """
    from sqlglot import exp

    periods = [w for w in windows if w.meter is None]
    segments = [w for w in windows if w.meter is not None]
    _create_table(conn, "rc_terms", terms, ("contract", "customer", "plan"), ("starts", "ends"))
    _create_table(conn, "rc_windows", periods, ("key", "contract"), ("start", "end"))
    _create_table(conn, "rc_segments", segments, ("key", "contract", "meter"), ("start", "end"))
    return Relations(exp.to_table("rc_terms"), exp.to_table("rc_windows"), exp.to_table("rc_segments"))


def _create_table(conn, name: str, rows: Sequence, texts: tuple[str, ...], times: tuple[str, ...]) -> None:
    """CREATE TEMPORARY TABLE name AS SELECT UNNEST(CAST(? AS type[])) AS column, ...
    with the `texts` (VARCHAR) and `times` (TIMESTAMPTZ, UTC) attributes of `rows`:
    the values are bound parameters (lists of equal length), never SQL text."""
    from sqlglot import exp

    columns = [(c, "VARCHAR", [getattr(r, c) for r in rows]) for c in texts]
    columns += [(c, "TIMESTAMPTZ", [_stamp(getattr(r, c)) for r in rows]) for c in times]
    select = exp.select(*(
        exp.alias_(exp.Unnest(expressions=[exp.cast(exp.Placeholder(), exp.DataType.build(f"{kind}[]", dialect="duckdb"))]),
                   column, quoted=True)
        for column, kind, _ in columns))
    create = exp.Create(this=exp.to_table(name), kind="TABLE", expression=select, replace=True,
                        properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
    conn.execute(create.sql(dialect="duckdb"), [values for _, _, values in columns])


# ----------------------------------------------------------------- running


@dataclass
class Counts:
    read: int = 0
    bad: int = 0
    kept: int = 0


# What an event costs DuckDB held in memory (normalized text columns; measured
# ~200 bytes on the benchmark events), and what a line of a text file holds at
# least (so a file's size over-counts its events rather than under-counts).
EVENT_BYTES = 200
MIN_LINE_BYTES = {"jsonl": 100, "csv": 40}


def events_fit(sources: Sequence[Source], memory_limit: str | None) -> bool:
    """Whether the events, held twice (`ev` read by three steps, then `cl`), fit in
    the engine's memory limit: what decides how the query dedups (`query.dedup`)."""
    limit = size_bytes(memory_limit or default_memory_limit())
    if limit is None:
        return True
    events = 0
    for source in sources:
        if source.rows is not None:
            events += source.rows
        elif source.kind in MIN_LINE_BYTES:
            events += os.path.getsize(source.path) // MIN_LINE_BYTES[source.kind] + 1
        else:
            return True  # a table: the engine's own
    return 2 * events * EVENT_BYTES <= limit


def plain_json(conn, source: Source, keys: Sequence[str]) -> Source:
    """A JSONL source read by DuckDB's JSON reader when no line needs reading from its
    text (`query.needs_exact_reading`): measured on 1M events, the exact reading of
    every line costs ~2.5 s of CPU more, the check ~0.6 s."""
    import dataclasses

    import duckdb

    if source.kind != "jsonl":
        return source
    try:
        (count,), = conn.execute(needs_exact_reading(source, keys).sql(dialect="duckdb")).fetchall()
    except duckdb.Error:  # a line the line reader refuses: the exact reading says which
        return source
    return dataclasses.replace(source, exact=False) if count == 0 else source


def run_query(conn, plan: RatingPlan, sources: Sequence[Source], relations: Relations,
              memory_limit: str | None = None):
    """Execute the aggregation; (aggregates, reasons, counts). When DuckDB's JSON
    reader refuses a file no line of which looked like it needed the exact reading
    (`plain_json`), the file is read exactly, which names every bad line."""
    import dataclasses

    import duckdb

    query, shape = build_query(plan, sources, relations,
                               rank_every_event=not events_fit(sources, memory_limit))
    try:
        # Arrow hands the result over in columns: far cheaper than Python tuples per row
        table = conn.sql(query.sql(dialect="duckdb")).to_arrow_table()
    except duckdb.Error as exc:
        if any(not s.exact for s in sources):
            return run_query(conn, plan, [dataclasses.replace(s, exact=True) for s in sources], relations,
                             memory_limit)
        raise EngineFailure(_first_line(exc)) from None
    return read_columns(plan, [column.to_pylist() for column in table.columns], shape.dimensions)


def read_result(plan: RatingPlan, rows, width: int):
    """Result rows (kind, window, meter, d0.., quantity, events) -> Python values."""
    rows = list(rows)
    columns = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(width + 5)]
    return read_columns(plan, columns, width)


def read_columns(plan: RatingPlan, columns: list[list], width: int):
    """The result by columns (kind, window, meter, d0.., quantity, events) ->
    (aggregates, reasons, counts).

    The query sorts its rows, so aggregates arrive in their final order. This
    runs once per invoice line of the run, before pricing can start: it works
    a column at a time (comprehensions, no per-row branching), and the
    dimension tuples and quantities that repeat are built once.
    """
    kinds, windows, meters = columns[0], columns[1], columns[2]
    dim_columns, quantities, events = columns[3:3 + width], columns[3 + width], columns[4 + width]
    agg = [i for i, kind in enumerate(kinds) if kind == "agg"]
    if len(agg) != len(kinds):  # counts rows are few; keep the aggregate rows only
        windows, meters = [windows[i] for i in agg], [meters[i] for i in agg]
        dim_columns = [[col[i] for i in agg] for col in dim_columns]
        quantities, events = [quantities[i] for i in agg], [events[i] for i in agg]
    names = {m.name: m.dimension_names for m in plan.meters.values()}
    shapes: dict[tuple, tuple] = {}

    def dims_of(key: tuple) -> tuple:
        found = shapes.get(key)
        if found is None:
            found = shapes[key] = tuple(zip(names[key[0]], key[1:]))
        return found

    numbers: dict[str | None, Decimal] = {None: Decimal(0)}

    def number(text: str | None) -> Decimal:
        found = numbers.get(text)
        if found is None:
            found = numbers[text] = Decimal(text)
        return found

    dims = [dims_of(key) for key in zip(meters, *dim_columns)]
    aggregates = list(map(Aggregate, windows, meters, dims, map(number, quantities), map(int, events)))

    reasons: dict[str, int] = {}
    counts = Counts()
    for kind, meter, n in zip(kinds, columns[2], columns[4 + width]):
        if kind == "reason":
            reasons[meter] = reasons.get(meter, 0) + int(n)
        elif kind != "agg":
            setattr(counts, kind, getattr(counts, kind) + int(n))
    return aggregates, reasons, counts


def scan_bad_rows(plan: RatingPlan, files: Sequence[str]) -> tuple[list[BadRow], dict[str, set[int]]]:
    """The slow path: every bad row of every file, by file and line."""
    by_type: dict[str, list] = {}
    for m in plan.meters.values():
        by_type.setdefault(m.event, []).append(m)
    keys = needed_keys(plan)
    bad: list[BadRow] = []
    lines: dict[str, set[int]] = {}
    for path in files:
        for line, obj, raw in read_rows(path):
            reason = obj if isinstance(obj, str) else row_problem(obj, by_type, keys)[0]
            if reason is not None:
                bad.append(BadRow(path, line, reason, raw))
                lines.setdefault(path, set()).add(line)
    return bad, lines


def locate_bad_rows(plan: RatingPlan, files: Sequence[str], failure: Exception | None = None):
    """After an engine found bad rows (or failed on a file): (bad rows, bad lines by
    file, None), or the E501 that explains why the rows cannot be named."""
    try:
        bad, lines = scan_bad_rows(plan, files)
    except (OSError, ValueError, UnreadableFile) as exc:
        return [], {}, error("E501", f"cannot read usage: {exc}")
    if not bad:
        why = (in_user_files(str(failure), {f: f for f in files}) if failure
               else f"the engine found bad rows the row reader did not, in {', '.join(files)}")
        return [], {}, error("E501", f"cannot read usage: {why}")
    return bad, lines, None


def in_user_files(message: str, files: dict[str, str], lines: dict[str, list[int]] | None = None) -> str:
    """An engine's message with the names it was given for files (absolute, glob
    characters escaped; a cleaned copy) as the user wrote them, {engine's file: user's};
    with `lines` ({copy: the user's line of each of its lines}), a line of the copy
    the message names is the user's line."""
    named = [given for given in files if any(form in message for form in _forms(given))]
    if lines and len(named) == 1 and named[0] in lines:
        table = lines[named[0]]

        def user_line(m: re.Match) -> str:
            n = int(m.group(2))
            return m.group(1) + str(table[n - 1] if 0 < n <= len(table) else n)
        message = re.sub(r"(?i)(\bline:?\s*)(\d+)", user_line, message)
    for given, user in sorted(files.items(), key=lambda kv: -len(kv[0])):
        for form in _forms(given):
            message = message.replace(form, user)
    return message


def _forms(path: str) -> tuple[str, ...]:
    return engine_path(path), os.path.abspath(path), path


def write_clean_copy(path: str, bad_lines: set[int], folder: str) -> tuple[str, list[int]]:
    """A copy of `path` without its bad rows, in the same format, and the user's line
    of each of its lines (`rows.clean_copy`)."""
    target = os.path.join(folder, f"{len(os.listdir(folder))}-{Path(path).name}")
    return target, clean_copy(path, bad_lines, target)


def write_bad_rows(path: str, bad: Sequence[BadRow]) -> None:
    lines = [json.dumps({"file": b.file, "line": b.line, "reason": b.reason, "row": b.text},
                        ensure_ascii=False) for b in bad]
    write_atomic(path, "".join(line + "\n" for line in lines))


def bad_row_diagnostics(bad: Sequence[BadRow]) -> list[Diagnostic]:
    shown = []
    for b in bad[:MAX_ROW_DIAGNOSTICS]:
        hints = [f"the row: {b.text[:120]}{'...' if len(b.text) > 120 else ''}"] if b.text else []
        hints.append("fix the row, or pass `--skip-bad-rows FILE` to set bad rows aside and bill the rest")
        shown.append(error("E500", f"bad usage row at {b.file}:{b.line}: {b.reason}", Span(b.file, b.line, 1, b.line, 2),
                           hints=hints))
    if len(bad) > MAX_ROW_DIAGNOSTICS:
        shown.append(error("E500", f"{len(bad) - MAX_ROW_DIAGNOSTICS} more bad usage rows not shown"))
    return shown


# ----------------------------------------------------------------- the stage


def aggregate_usage(plan: RatingPlan, terms: list[ContractTerm], windows: list[Window],
                    files: list[str], *, skip_bad_rows: str | None = None,
                    memory_limit: str | None = None, threads: int | None = None) -> UsageReport:
    """Usage files -> aggregates per (window, meter, dimension values), with every
    event accounted for (see `records`)."""
    report = UsageReport(rejected={r: 0 for r in REJECTION_REASONS})
    problem = memory_limit_problem(memory_limit)
    if problem is not None:
        report.diagnostics.append(error("E501", f"cannot start the usage engine: --memory-limit {problem}"))
        return report
    try:
        conn, spill = connect(memory_limit, threads)
    except EngineFailure as exc:
        report.diagnostics.append(error("E501", f"cannot start the usage engine: {exc}",
                                        hints=["check --memory-limit (e.g. 2GB)"]))
        return report
    scratch = tempfile.mkdtemp(prefix="ratecard-clean-")
    try:
        return _aggregate(conn, plan, terms, windows, files, skip_bad_rows, report, scratch, memory_limit)
    finally:
        conn.close()
        shutil.rmtree(spill, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _aggregate(conn, plan, terms, windows, files, skip_bad_rows, report: UsageReport, scratch: str,
               memory_limit: str | None = None):
    sources: list[Source] = []
    for path in files:
        try:
            if not has_rows(path):
                continue
            sources.append(describe(conn, path))
        except (UnreadableFile, OSError) as exc:
            report.diagnostics.append(error("E501", f"cannot read usage file `{path}`: {exc}"))
    if report.diagnostics:
        return report
    if not sources:
        return report
    keys = needed_keys(plan)
    sources = [plain_json(conn, s, keys) for s in sources]
    relations = register_relations(conn, terms, windows)

    failure: EngineFailure | None = None
    try:
        aggregates, reasons, counts = run_query(conn, plan, sources, relations, memory_limit)
    except EngineFailure as exc:
        failure, counts = exc, None
    if failure is None and counts.bad == 0:
        return _fill(report, aggregates, reasons, counts, bad_rows=0)

    bad, bad_lines, problem = locate_bad_rows(plan, files, failure)
    if problem is not None:
        report.diagnostics.append(problem)
        return report
    report.bad_rows = bad
    if skip_bad_rows is None:
        report.diagnostics.extend(bad_row_diagnostics(bad))
        return report
    write_bad_rows(skip_bad_rows, bad)
    # The engine reads copies without the bad rows, which keep every line's number;
    # what it says about a copy is said about the user's file.
    user, copy_lines, cleaned = {}, {}, []
    for source in sources:
        copy, lines = replace_source(conn, source, bad_lines.get(source.path), scratch)
        user[copy.path] = source.path
        if lines is not None:
            copy_lines[copy.path] = lines
        if has_rows(copy.path):
            cleaned.append(copy)
    if not cleaned:
        return _fill(report, [], {}, Counts(), bad_rows=len(bad))
    try:
        aggregates, reasons, counts = run_query(conn, plan, cleaned, relations, memory_limit)
    except EngineFailure as exc:
        report.diagnostics.append(error("E501", f"cannot read usage: {in_user_files(str(exc), user, copy_lines)} "
                                                "(with the bad rows set aside)"))
        return report
    if counts.bad:
        report.diagnostics.append(error(
            "E501", f"cannot read usage: the engine still found {counts.bad} bad rows in "
                    f"{', '.join(user[s.path] for s in cleaned)} with the rows the row reader named set aside"))
        return report
    return _fill(report, aggregates, reasons, counts, bad_rows=len(bad))


def replace_source(conn, source: Source, bad_lines: set[int] | None,
                   scratch: str) -> tuple[Source, list[int] | None]:
    """The source without its bad lines (a copy), and the user's line of each line of
    the copy; the source itself (and None) when it has none."""
    if not bad_lines:
        return source, None
    target, lines = write_clean_copy(source.path, bad_lines, scratch)
    return describe(conn, target), lines


def _fill(report: UsageReport, aggregates, reasons, counts: Counts, bad_rows: int) -> UsageReport:
    report.aggregates = aggregates
    report.events_read = counts.read + bad_rows
    report.billed = reasons.pop("billed", 0)
    for reason, n in reasons.items():
        report.rejected[reason] = report.rejected.get(reason, 0) + n
    report.rejected["duplicate"] = counts.read - counts.bad - counts.kept
    report.rejected["bad_row"] = bad_rows
    return report


__all__ = ["aggregate_usage", "needed_keys"]
