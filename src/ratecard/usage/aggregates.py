"""Aggregates computed elsewhere (`ratecard invoice --aggregates FILE`).

The file is the result of the query `ratecard sql` prints, run in a
warehouse and saved as Parquet or CSV: columns `kind`, `window`, `meter`,
`d0..`, `quantity`, `events` (and `held_from`, `held_until` when a meter is
`weighted`, whose lines come as `step` rows: the pieces of their step
function, integrated here as the engines' are, `result.held_aggregates`; see
`usage.query`), plus the `scope` row that fingerprints the contracts, windows
and meters the query was printed for.

A result of `ratecard sql --priced` also has the rated columns
(`rating.RATED_COLUMNS`) and `rc_prices`, the fingerprint of the prices it
was rated with: when the fingerprint is the one billing works out for this
pricing (`rating`), billing checks each rated line's figures against its own
pricing (E504 where they differ); a result rated with other prices is refused
(E505), never billed.

`aggregate_file` has the signature of `usage.aggregate_usage`, so billing
takes it as its aggregator; the "usage files" it is given are the aggregates
files. Nothing in the file is trusted: every row is checked against the plan
and the run's windows, and anything that does not fit is a diagnostic
(E504: the file cannot be read as aggregates; E505: it was computed for
other contracts, windows or meters), never a crash and never a silent zero.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..diagnostics import Diagnostic, Span, error, first_line
from ..limits import QUANTITY_DECIMALS, QUANTITY_INTEGER_DIGITS, within
from ..model import RatingPlan
from ..money import minor_units
from .query import HELD_COLUMNS
from .rating_print import INEXACT
from .rating_query import RATED_COLUMNS
from .records import REJECTION_REASONS, Aggregate, ContractTerm, Counts, UsageReport, Window, fill_report, write_bad_rows
from .result import aggregate_order, held_aggregates
from .rows import strip_zeros, text_value
from .warehouse import scope_fingerprint
from .weighted import micros

KINDS = ("agg", "step", "reason", "read", "bad", "kept", "scope")
# Reasons the query itself counts (`duplicate` and `bad_row` are derived from read/bad/kept).
QUERY_REASONS = ("billed",) + tuple(r for r in REJECTION_REASONS if r not in ("duplicate", "bad_row"))
MAX_DIAGNOSTICS = 50
_SUFFIXES = {".parquet": "parquet", ".csv": "csv"}


class _Problems:
    """Diagnostics about the file, capped."""

    def __init__(self):
        self.items: list[Diagnostic] = []
        self.more = 0

    def add(self, code: str, path: str, line: int | None, message: str, hints=()) -> None:
        if len(self.items) >= MAX_DIAGNOSTICS:
            self.more += 1
            return
        where = f"{path}:{line}" if line is not None else path
        span = Span(path, line, 1, line, 2) if line is not None else None
        self.items.append(error(code, f"aggregates {where}: {message}", span, hints=list(hints)))

    def done(self) -> list[Diagnostic]:
        if self.more:
            self.items.append(error(self.items[-1].code, f"{self.more} more problems in the aggregates not shown"))
        return self.items


def _rows(path: str, problems: _Problems, wanted: Sequence[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line or row number, {lowercase column: value}) for each row of an aggregates file
    (of Parquet, only the `wanted` columns are read, when given)."""
    kind = _SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        problems.add("E504", path, None, f"unsupported file type `{Path(path).suffix or path}` "
                                         "(save the query's result as .parquet or .csv)")
        return
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow.ArrowInvalid and friends: not Parquet
            problems.add("E504", path, None, f"cannot read as Parquet: {first_line(exc)}")
            return
        if wanted is not None:
            keep = set(wanted)
            table = table.select([i for i, n in enumerate(table.column_names) if n.lower() in keep])
        names = [n.lower() for n in table.column_names]
        for i, row in enumerate(table.to_pylist(), start=1):
            yield i, dict(zip(names, row.values()))
        return
    try:  # utf-8-sig: a byte order mark (a spreadsheet's "CSV UTF-8") is no part of `kind`
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = [n.strip().lower() for n in next(reader, [])]
            for record in reader:
                if not record:
                    continue
                if len(record) != len(header):
                    problems.add("E504", path, reader.line_num,
                                 f"{len(record)} cells, but the header has {len(header)} columns")
                    continue
                yield reader.line_num, {n: (v if v != "" else None) for n, v in zip(header, record)}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.add("E504", path, None, f"cannot read as CSV: {exc}")


# The columns a result of `ratecard sql --priced` adds: the figures, then their fingerprint.
_PRINTED_COLUMNS = (*RATED_COLUMNS, "rc_prices")


def _columns(path: str, problems: _Problems, width: int, held: bool) -> tuple[tuple[str, ...], bool] | None:
    """The columns the file must have, checked against its header, and whether it carries the
    rated columns of `ratecard sql --priced`; None when it does not fit."""
    kind = _SUFFIXES.get(Path(path).suffix.lower())
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            names = [n.lower() for n in pq.read_schema(path).names]
        elif kind == "csv":
            with open(path, encoding="utf-8-sig", newline="") as fh:
                names = [n.strip().lower() for n in next(csv.reader(fh), [])]
        else:
            return (), False  # `_rows` says what is wrong
    except Exception:
        return (), False  # unreadable: `_rows` says so
    expected = ("kind", "window", "meter", *[f"d{i}" for i in range(width)], "quantity", "events",
                *(HELD_COLUMNS if held else ()))
    missing = [c for c in expected if c not in names]
    extra = sorted(n for n in names if n.startswith("d") and n[1:].isdigit() and int(n[1:]) >= width)
    if missing or extra:
        detail = []
        if missing:
            detail.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(f'`{c}`' for c in missing)}")
        if extra:
            detail.append(f"dimension column{'s' if len(extra) > 1 else ''} {', '.join(f'`{c}`' for c in extra)} "
                          "that no meter of this project has")
        code = "E505" if (extra or all(c.startswith("d") for c in missing)) else "E504"
        problems.add(code, path, None, "; ".join(detail) + f" (expected {', '.join(expected)})",
                     hints=["save the result of `ratecard sql` for this project unchanged"])
        return None
    rated = [c for c in _PRINTED_COLUMNS if c in names]
    if rated and len(rated) != len(_PRINTED_COLUMNS):
        missing = [c for c in _PRINTED_COLUMNS if c not in names]
        problems.add("E504", path, None, f"some of the rated columns of `ratecard sql --priced` but not "
                                         f"{', '.join(f'`{c}`' for c in missing)}",
                     hints=["save the result of `ratecard sql --priced` for this project unchanged"])
        return None
    return expected, bool(rated)


def _text(value, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise ValueError(f"{what} is a binary float ({value!r}); write it as text or DECIMAL")
    if isinstance(value, (str, int, Decimal, bool)):
        return text_value(value)
    raise ValueError(f"{what} has an unexpected type ({type(value).__name__})")


def _quantity(value) -> Decimal:
    if value is None:
        raise ValueError("`quantity` is empty")
    if isinstance(value, float):
        raise ValueError(f"`quantity` is a binary float ({value!r}); write it as text or DECIMAL")
    try:
        quantity = Decimal(strip_zeros(str(value).strip()))
    except InvalidOperation:
        quantity = None
    if quantity is None or not quantity.is_finite():
        raise ValueError(f"`quantity` {value!r} is not a decimal number")
    # what the usage stage holds (DECIMAL(38, 18)), the bound every amount's arithmetic is
    # sized for (limits.py): a warehouse whose SUM outgrows it (PostgreSQL's NUMERIC) or an
    # edited file must not bill a line `--usage` refuses, nor overflow the exact context
    if not within(abs(quantity), QUANTITY_INTEGER_DIGITS, QUANTITY_DECIMALS):
        raise ValueError(f"`quantity` {value!r} has more than {QUANTITY_INTEGER_DIGITS} integer digits or "
                         f"{QUANTITY_DECIMALS} decimal places (DECIMAL(38, 18), what the usage stage holds)")
    return quantity


def _decimal(value, what: str) -> Decimal | None:
    """A rated figure: DECIMAL or its text (never a binary float); None when empty."""
    if value is None:
        return None
    if isinstance(value, Decimal) and value.is_finite():  # a DECIMAL column
        return _held(value, what, value)
    if isinstance(value, (float, bool)):
        raise ValueError(f"{what} is not a decimal number ({value!r}); write it as text or DECIMAL")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ValueError(f"{what} {value!r} is not a decimal number")
    return _held(number, what, value)


def _held(number: Decimal, what: str, value) -> Decimal:
    """A rated figure is a DECIMAL(38, s) of the query: more digits are not its (and rounding
    such an amount to cents overflowed the exact context: an internal error)."""
    if len(number.as_tuple().digits) > 38 or number.adjusted() >= 38:
        raise ValueError(f"{what} {value!r} has more digits than a DECIMAL(38) holds")
    return number


def _whole(value, what: str) -> int | None:
    if type(value) is int and value >= 0:  # an INTEGER column
        return value
    number = _decimal(value, what)
    if number is None:
        return None
    if number != number.to_integral_value() or number < 0:
        raise ValueError(f"{what} {value!r} is not a whole number")
    return int(number)


def _rated(row: dict, quantum: Decimal) -> tuple | None:
    """The figures `ratecard sql --priced` gave a line (`rating.RATED_COLUMNS`), as the
    engine hands them to billing; None when it left the line to billing."""
    price = _whole(row.get("rc_price"), "`rc_price`")
    if price is None:
        return None
    amount, exact = _decimal(row.get("rc_amount"), "`rc_amount`"), _decimal(row.get("rc_exact"), "`rc_exact`")
    if amount is None or exact is None:
        raise ValueError("a priced line (`rc_price`) without `rc_amount` or `rc_exact`")
    if amount.quantize(quantum) != amount:
        raise ValueError(f"`rc_amount` {amount} has more decimals than the currency's")
    return (price, amount.quantize(quantum), exact, _decimal(row.get("rc_packages"), "`rc_packages`"),
            _whole(row.get("rc_tier"), "`rc_tier`"), _decimal(row.get("rc_units"), "`rc_units`"),
            _decimal(row.get("rc_last"), "`rc_last`"))


def _micros(value, what: str) -> int:
    """`held_from` / `held_until`: whole microseconds since 1970 (UTC)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise ValueError(f"{what} {value!r} is not a whole number of microseconds")
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(f"{what} {value!r} is not a whole number of microseconds")
    return int(text)


def _events(value) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError("`events` is empty")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text.isdigit():
            raise ValueError(f"`events` {value!r} is not a whole number")
        number = int(text)
    if number < 0:
        raise ValueError(f"`events` {value!r} is negative")
    return number


def _charged_in(terms: Sequence[ContractTerm], window: Window) -> tuple[str, ...]:
    """The meters billable in a window: those of the contract's term that holds it (a window
    never straddles a change of them: billing cuts periods into plan parts at a plan change)."""
    for t in terms:
        if t.starts <= window.start and (t.ends is None or window.start < t.ends):
            return t.charged_meters
    return ()


def aggregate_file(plan: RatingPlan, terms: list[ContractTerm], windows: list[Window],
                   files: list[str], *, skip_bad_rows: str | None = None,
                   memory_limit: str | None = None, threads: int | None = None,
                   rating: Callable[[int, bool], str | None] | None = None) -> UsageReport:
    """Aggregates files (the query's result) -> the UsageReport billing needs.

    A file with the rated columns (`ratecard sql --priced`): with `rating` (billing's
    `EnginePrices.printed`, fingerprinted: `rating(width, held)`, None when it cannot be
    printed), each priced line keeps its figures for billing to check (`Aggregate.rated`),
    and a file whose `rc_prices` is not this pricing's is refused (E505): its
    amounts are another pricing's. Without `rating` (`--price-in python`) they are ignored."""
    report = UsageReport(rejected={r: 0 for r in REJECTION_REASONS})
    problems = _Problems()
    meters = sorted(plan.meters.values(), key=lambda m: m.name)
    width = max((len(m.dimensions) for m in meters), default=0)
    by_key = {w.key: w for w in windows}
    terms_of: dict[str, list[ContractTerm]] = {}
    for t in terms:
        terms_of.setdefault(t.contract, []).append(t)
    expected_scope = scope_fingerprint(plan, terms, windows)

    held = any(m.aggregation.function == "weighted" for m in meters)
    quantum = Decimal(1).scaleb(-minor_units(plan.currency))
    prices: list[str | None] = []  # this pricing's fingerprint, worked out for the first rated file
    aggregates: list[Aggregate] = []
    steps: list[tuple] = []
    seen: dict[tuple, str] = {}
    reasons: dict[str, int] = {}
    counts = Counts()
    scopes = 0
    lines_said: set[int] = set()  # the line rows (`agg`, `step`) the scope row says the result has
    lines_read = 0
    for path in files:
        header = _columns(path, problems, width, held)
        if header is None:
            continue
        rated = header[1] and rating is not None
        if rated and not prices:
            prices.append(rating(width, held))
        stale = False
        wanted = (*header[0], *(_PRINTED_COLUMNS if rated else ())) if header[0] else None
        for line, row in _rows(path, problems, wanted):
            where = f"{path}:{line}"
            try:
                kind = _text(row.get("kind"), "`kind`")
                events = _events(row.get("events"))
                if kind not in KINDS:
                    raise ValueError(f"unknown row kind {kind!r} (expected one of {', '.join(KINDS)})")
                if kind == "scope":
                    scopes += 1
                    lines_said.add(events)
                    found = _text(row.get("window"), "`window`")
                    if found != expected_scope:
                        problems.add("E505", path, line,
                                     f"computed for other contracts, billing windows or meters "
                                     f"(scope {found}, this run's is {expected_scope})",
                                     hints=["print the query again with `ratecard sql` with the same pricing, "
                                            "--contracts and --through, and run it again"])
                    continue
                if kind in ("read", "bad", "kept"):
                    setattr(counts, kind, getattr(counts, kind) + events)
                    continue
                meter_name = _text(row.get("meter"), "`meter`")
                if kind == "reason":
                    if meter_name not in QUERY_REASONS:
                        raise ValueError(f"unknown rejection reason {meter_name!r}")
                    reasons[meter_name] = reasons.get(meter_name, 0) + events
                    continue
                lines_read += 1
                window_key = _text(row.get("window"), "`window`")
                dims = [_text(row.get(f"d{i}"), f"`d{i}`") for i in range(width)]
                quantity = _quantity(row.get("quantity"))
                span = tuple(_micros(row.get(c), f"`{c}`") for c in HELD_COLUMNS) if kind == "step" else ()
                figures = _rated(row, quantum) if rated and kind == "agg" else None
            except ValueError as exc:
                problems.add("E504", path, line, str(exc))
                continue
            window = by_key.get(window_key)
            meter = plan.meters.get(meter_name) if meter_name is not None else None
            if window is None:
                problems.add("E505", path, line, f"window `{window_key}` is not a billing window of this run",
                             hints=["the aggregates were computed for other contracts or another --through"])
                continue
            if meter is None:
                problems.add("E505", path, line, f"unknown meter `{meter_name}`")
                continue
            if window.meter is not None and window.meter != meter.name:
                problems.add("E505", path, line, f"window `{window_key}` is a segment of meter "
                                                 f"`{window.meter}`, not of `{meter.name}`")
                continue
            if meter.name not in _charged_in(terms_of.get(window.contract, ()), window):
                problems.add("E505", path, line, f"contract `{window.contract}`'s plan does not charge meter "
                                                 f"`{meter.name}` in window `{window.key}`")
                continue
            names = meter.dimension_names
            if any(v is not None for v in dims[len(names):]):
                problems.add("E505", path, line, f"meter `{meter.name}` has {len(names)} dimensions, "
                                                 f"but the row has values beyond them")
                continue
            if (kind == "step") != (meter.aggregation.function == "weighted"):
                problems.add("E505", path, line, f"a `{kind}` row for meter `{meter.name}`, whose lines come as "
                                                 f"`{'step' if kind == 'agg' else 'agg'}` rows")
                continue
            if kind == "step":
                if not 0 <= events <= 1 or span[0] > span[1] or quantity < 0:
                    problems.add("E504", path, line, "not a piece of a step function (`events` 0 or 1, "
                                                     "`held_from` <= `held_until`, a value not below zero)")
                    continue
                # the query cuts every piece at its window's bounds: one outside them is not the
                # query's (and an instant past the calendar was an internal error, OverflowError)
                if not micros(window.start) <= span[0] <= span[1] <= micros(window.end):
                    problems.add("E505", path, line, f"a piece of a step function held from {span[0]} to "
                                                     f"{span[1]} (microseconds) is outside window `{window.key}`")
                    continue
                steps.append(((window.key, meter.name, *dims[:len(names)]), (*span, quantity, events == 1)))
                continue
            if rated and not stale and row.get("rc_prices") == INEXACT:
                stale = True
                problems.add("E504", path, line,
                             "priced in a session that rounds decimal products to fit 38 digits: its amounts "
                             "cannot be trusted to the cent",
                             hints=["run the query with `SET spark.sql.decimalOperations.allowPrecisionLoss="
                                    "false` in the session, or bill with `--price-in python` to price every "
                                    "line here"])
            elif rated and not stale and row.get("rc_prices") != prices[0]:
                stale = True
                problems.add("E505", path, line,
                             f"priced with other prices (rc_prices {row.get('rc_prices')}, this pricing's is "
                             f"{prices[0] or 'none: its query cannot be printed priced'})",
                             hints=["print the query again with `ratecard sql --priced` for this pricing and run "
                                    "it again, or bill with `--price-in python` to price every line here"])
            if stale:
                continue
            aggregate = Aggregate(window.key, meter.name, tuple(zip(names, dims[:len(names)])), quantity, events,
                                  (), figures)
            key = (aggregate.window, aggregate.meter, aggregate.dimensions)
            if key in seen:
                problems.add("E505", path, line, f"a second row for window `{window.key}`, meter "
                                                 f"`{meter.name}` and the same dimensions (first at {seen[key]})")
                continue
            seen[key] = where
            aggregates.append(aggregate)

    if not problems.items:
        label = files[0] if len(files) == 1 else f"{files[0]} (and {len(files) - 1} more)"
        classified = sum(reasons.values())
        if scopes == 0:
            problems.add("E505", label, None, "no `scope` row: not the result of the query `ratecard sql` prints",
                         hints=["run the query `ratecard sql` prints and save its whole result"])
        elif lines_said != {lines_read}:
            problems.add("E505", label, None,
                         f"{lines_read} rows of lines (`agg`, `step`), but the `scope` row says "
                         f"{' or '.join(str(n) for n in sorted(lines_said))}: is part of the result missing?",
                         hints=["pass every file of the result (a sharded export is several), saved unchanged"])
        elif classified != counts.kept or counts.read < counts.bad + counts.kept:
            problems.add("E505", label, None,
                         f"the counts do not add up (read {counts.read}, bad {counts.bad}, kept {counts.kept}, "
                         f"classified {classified}): is part of the result missing?")
    report.diagnostics.extend(problems.done())
    if report.diagnostics:
        return report

    aggregates += held_aggregates(plan, (key for key, _ in steps), (piece for _, piece in steps))
    aggregates.sort(key=aggregate_order)
    if counts.bad and skip_bad_rows is None:
        report.diagnostics.append(error(
            "E500", f"{counts.bad} bad usage rows were left out by the warehouse query "
                    f"({files[0] if len(files) == 1 else ', '.join(files)})",
            hints=["list them with the query's `ev` step (`SELECT * FROM ev WHERE bad`) and fix them, "
                   "or pass `--skip-bad-rows FILE` to bill the rest"]))
        return report
    if skip_bad_rows is not None:
        write_bad_rows(skip_bad_rows, [])  # the rows stayed in the warehouse: none to list
    return fill_report(report, aggregates, reasons, Counts(counts.read - counts.bad, 0, counts.kept),
                 bad_rows=counts.bad)


aggregate_file.reads_rated = True  # billing hands it `rating` (`billing.run`)

__all__ = ["aggregate_file"]
