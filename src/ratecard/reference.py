"""A deliberately simple, pure-Python usage aggregator: the oracle for tests.

It implements the same contract as `ratecard.usage.aggregate_usage` with
plain loops and dicts, one event at a time, so that its correctness can be
checked by reading it. The DuckDB path (and later Spark) must produce
identical reports; hypothesis tests compare them. It is slow on purpose of
clarity and is never used to bill in production runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .diagnostics import Span, error
from .model import Meter, RatingPlan
from .usage.records import (
    REJECTION_REASONS,
    Aggregate,
    BadRow,
    ContractTerm,
    UsageReport,
    Window,
)

UTC = dt.timezone.utc
REQUIRED = ("id", "type", "customer", "time")


@dataclass
class _Event:
    file: str
    line: int
    id: str
    type: str
    customer: str
    time: dt.datetime
    properties: dict[str, str]


def _text(value) -> str | None:
    """A property as text, the way dimension values are compared."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    return str(value)


def _parse_time(raw) -> dt.datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        t = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


def _rows(path: str):
    """(line, dict-or-error) for each row of a usage file."""
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            for i, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw, parse_float=Decimal, parse_int=Decimal)
                except json.JSONDecodeError as exc:
                    yield i, f"invalid JSON: {exc.msg}", raw.rstrip("\n")
                    continue
                if not isinstance(obj, dict):
                    yield i, "not a JSON object", raw.rstrip("\n")
                    continue
                yield i, obj, raw.rstrip("\n")
    elif suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                line = reader.line_num
                props = {k: v for k, v in row.items() if k not in REQUIRED and v not in (None, "")}
                obj = {k: row.get(k) for k in REQUIRED if row.get(k) not in (None, "")}
                obj["properties"] = props
                yield line, obj, ",".join(v or "" for v in row.values())
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for i, row in enumerate(table.to_pylist(), start=1):
            props = row.get("properties")
            if isinstance(props, str):
                props = json.loads(props, parse_float=Decimal, parse_int=Decimal)
            elif props is None:
                props = {k: v for k, v in row.items() if k not in REQUIRED and v is not None}
            elif isinstance(props, list):  # a MAP column
                props = dict(props)
            obj = {k: row.get(k) for k in REQUIRED}
            if isinstance(obj.get("time"), dt.datetime):
                t = obj["time"]
                obj["time"] = (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()
            obj["properties"] = {k: v for k, v in props.items() if v is not None}
            yield i, obj, ""
    else:
        raise ValueError(f"unsupported usage file type: {path}")


def _numeric(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _matches_where(meter: Meter, props: dict[str, str]) -> bool:
    return all(c.matches(props) for c in meter.where)


def aggregate_usage(plan: RatingPlan, terms: list[ContractTerm], windows: list[Window],
                    files: list[str], *, skip_bad_rows: str | None = None,
                    memory_limit: str | None = None, threads: int | None = None) -> UsageReport:
    report = UsageReport(rejected={r: 0 for r in REJECTION_REASONS})
    events: list[_Event] = []
    by_type: dict[str, list[Meter]] = {}
    for m in plan.meters.values():
        by_type.setdefault(m.event, []).append(m)

    for path in files:
        for line, obj, raw in _rows(path):
            report.events_read += 1
            reason = None
            if isinstance(obj, str):
                reason = obj
            else:
                missing = [k for k in REQUIRED if obj.get(k) in (None, "")]
                if missing:
                    reason = f"missing field `{missing[0]}`"
                elif _parse_time(obj["time"]) is None:
                    reason = f"bad timestamp `{obj['time']}`"
            props: dict[str, str] = {}
            if reason is None:
                raw_props = obj.get("properties") or {}
                if not isinstance(raw_props, dict):
                    reason = "`properties` is not an object"
                else:
                    props = {k: _text(v) for k, v in raw_props.items() if v is not None}
            if reason is None:
                for meter in by_type.get(str(obj["type"]), ()):
                    field = meter.aggregation.field
                    if meter.aggregation.function in ("sum", "max", "latest") and _matches_where(meter, props):
                        if _numeric(props.get(field)) is None:
                            shown = props.get(field)
                            reason = (f"missing quantity `{field}` for meter {meter.name}" if shown is None
                                      else f"non-numeric quantity `{field}` = {shown!r} for meter {meter.name}")
                            break
            if reason is not None:
                report.bad_rows.append(BadRow(path, line, reason, raw))
                continue
            events.append(_Event(path, line, str(obj["id"]), str(obj["type"]), str(obj["customer"]),
                                 _parse_time(obj["time"]), props))

    for bad in report.bad_rows:
        report.diagnostics.append(error("E500", f"bad usage row: {bad.reason}",
                                        Span(bad.file, bad.line, 1, bad.line, 2)))
    if report.bad_rows and skip_bad_rows is not None:
        report.rejected["bad_row"] = len(report.bad_rows)
        report.diagnostics = []

    # dedup: keep, per (customer, id), the earliest event; ties by content
    kept: dict[tuple[str, str], _Event] = {}
    for e in events:
        key = (e.customer, e.id)
        cur = kept.get(key)
        order = (e.time, e.type, sorted(e.properties.items()))
        if cur is None or order < (cur.time, cur.type, sorted(cur.properties.items())):
            if cur is not None:
                report.rejected["duplicate"] += 1
            kept[key] = e
        else:
            report.rejected["duplicate"] += 1

    terms_by_customer: dict[str, list[ContractTerm]] = {}
    for t in terms:
        terms_by_customer.setdefault(t.customer, []).append(t)
    windows_by_contract: dict[str, list[Window]] = {}
    for w in windows:
        windows_by_contract.setdefault(w.contract, []).append(w)

    groups: dict[tuple, dict] = {}
    for e in kept.values():
        customer_terms = terms_by_customer.get(e.customer)
        if not customer_terms:
            report.rejected["unknown_customer"] += 1
            continue
        term = next((t for t in customer_terms
                     if t.starts <= e.time and (t.ends is None or e.time < t.ends)), None)
        if term is None:
            report.rejected["outside_contract"] += 1
            continue
        window = next((w for w in windows_by_contract.get(term.contract, ())
                       if w.start <= e.time < w.end), None)
        if window is None:
            report.rejected["not_yet_billable"] += 1
            continue
        meters = by_type.get(e.type, [])
        if not meters:
            report.rejected["no_meter"] += 1
            continue
        passing = [m for m in meters if _matches_where(m, e.properties)]
        if not passing:
            report.rejected["filtered"] += 1
            continue
        charged = [m for m in passing if m.name in term.charged_meters]
        if not charged:
            report.rejected["not_in_plan"] += 1
            continue
        report.billed += 1
        for m in charged:
            dims = tuple((d, e.properties.get(d)) for d in m.dimension_names)
            g = groups.setdefault((window.key, m.name, dims), {"events": 0, "values": []})
            g["events"] += 1
            g["values"].append(e)

    for (window, meter_name, dims), g in groups.items():
        meter = plan.meters[meter_name]
        fn, field = meter.aggregation.function, meter.aggregation.field
        evs = g["values"]
        if fn == "count":
            q = Decimal(len(evs))
        elif fn == "sum":
            q = sum((Decimal(e.properties[field]) for e in evs), Decimal(0))
        elif fn == "max":
            q = max(Decimal(e.properties[field]) for e in evs)
        elif fn == "unique":
            q = Decimal(len({e.properties[field] for e in evs if e.properties.get(field) is not None}))
        else:  # latest: greatest time, ties by greatest id
            last = max(evs, key=lambda e: (e.time, e.id))
            q = Decimal(last.properties[field])
        report.aggregates.append(Aggregate(window, meter_name, dims, q, g["events"]))

    report.aggregates.sort(key=lambda a: (a.window, a.meter,
                                          tuple((k, v is not None, v or "") for k, v in a.dimensions)))
    return report
