"""The usage stage's flow, once for every engine (DuckDB, Spark).

    start the engine -> describe each usage file (a file with no rows is
    skipped) -> run the query -> no bad rows: the report
    bad rows (or a read the engine refused) -> name them (`find_bad_rows`)
      -> without --skip-bad-rows: an E500 per bad row
      -> with it: the bad rows written aside, the aggregates without them

An engine is anything with the methods of `UsageEngine`. What differs between
engines stays in them: DuckDB reads a file it refused again exactly and runs
the query again on copies without the bad rows; Spark keeps bad rows out of
every aggregate in the one run and subtracts them from the counts.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, Sequence

from ..diagnostics import Diagnostic, Span, error
from ..model import RatingPlan
from .records import (
    REJECTION_REASONS,
    BadRow,
    ContractTerm,
    UsageReport,
    Window,
    bad_row_diagnostics,
    fill_report,
    write_bad_rows,
)
from .result import QueryResult
from .rows import BadHeader, UnreadableFile
from .sources import Source


class EngineFailure(Exception):
    """The engine refused a query or a file (its message is the engine's first
    line): bad rows may explain it, so the files are read row by row."""


class EngineStopped(Exception):
    """The run cannot go on (the engine cannot start, a table cannot be read, the
    query failed where no bad row can explain it): `diagnostic` says why."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class FoundBadRows(NamedTuple):
    """The bad rows an engine named, their lines by file, and the diagnostic that
    ends the run instead (the rows cannot be named, or not all of them)."""

    rows: list[BadRow]
    lines: dict[str, set[int]]
    problem: Diagnostic | None = None


class UsageEngine(Protocol):
    """What the flow needs of an engine. Every method may raise `EngineStopped`."""

    def start(self) -> None:
        """Before the files are looked at (DuckDB connects here)."""

    def describe(self, path: str) -> Source | None:
        """How a usage file is laid out; None for a file with no rows. Raises
        `UnreadableFile` or `OSError` for a file that cannot be read."""

    def more_sources(self) -> list[Source]:
        """Sources besides the files (Spark: the `--usage-table` tables)."""

    def run(self, plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window],
            sources: list[Source]) -> QueryResult:
        """Run the aggregation and read its result. Raises `EngineFailure` when the
        engine refused to read the sources."""

    def find_bad_rows(self, plan: RatingPlan, files: Sequence[str], sources: list[Source], result: QueryResult | None,
                      failure: EngineFailure | None, skipping: bool) -> FoundBadRows:
        """After the query counted bad rows (`result`) or failed (`failure`): name them."""

    def without_bad_rows(self, plan: RatingPlan, result: QueryResult | None, found: FoundBadRows,
                         ) -> tuple[QueryResult, int]:
        """With --skip-bad-rows: the result without the bad rows, and how many were set aside."""

    def close(self) -> None:
        """Release what the run used (connections, temporary files)."""


def aggregate(engine: UsageEngine, plan: RatingPlan, terms: Sequence[ContractTerm], windows: Sequence[Window],
              files: Sequence[str], skip_bad_rows: str | None) -> UsageReport:
    """Usage files -> aggregates per (window, meter, dimension values), with every
    event accounted for (see `records`), on `engine`."""
    report = UsageReport(rejected={r: 0 for r in REJECTION_REASONS})
    try:
        engine.start()
        return _aggregate(engine, plan, terms, windows, files, skip_bad_rows, report)
    except EngineStopped as exc:
        report.diagnostics.append(exc.diagnostic)
        return report
    finally:
        engine.close()


def _aggregate(engine: UsageEngine, plan, terms, windows, files, skip_bad_rows, report: UsageReport) -> UsageReport:
    sources: list[Source] = []
    for path in files:
        try:
            source = engine.describe(path)
        except BadHeader as exc:  # said at the header's line, as a bad row is at its own
            report.diagnostics.append(error("E501", f"cannot read usage file `{path}`: {exc}",
                                            Span(path, 1, 1, 1, 2),
                                            hints=["a usage CSV's header names the columns `id`, `type`, "
                                                   "`customer`, `time` and one per property, each once"]))
            continue
        except (UnreadableFile, OSError) as exc:
            report.diagnostics.append(error("E501", f"cannot read usage file `{path}`: {exc}"))
            continue
        if source is not None:
            sources.append(source)
    sources += engine.more_sources()
    if report.diagnostics or not sources:
        return report

    result: QueryResult | None = None
    failure: EngineFailure | None = None
    try:
        result = engine.run(plan, terms, windows, sources)
    except EngineFailure as exc:
        failure = exc
    if result is not None and result.counts.bad == 0:
        return fill_report(report, *result, bad_rows=0)

    found = engine.find_bad_rows(plan, files, sources, result, failure, skip_bad_rows is not None)
    report.bad_rows = found.rows
    if found.problem is not None:
        report.diagnostics.append(found.problem)
        return report
    if skip_bad_rows is None:
        report.diagnostics.extend(bad_row_diagnostics(found.rows))
        return report
    write_bad_rows(skip_bad_rows, found.rows)
    kept, set_aside = engine.without_bad_rows(plan, result, found)
    return fill_report(report, *kept, bad_rows=set_aside)
