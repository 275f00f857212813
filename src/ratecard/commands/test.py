"""`ratecard test PATH...`: run the `test` blocks of a project.

Every `.pricing` file under the paths (`*.test.pricing` included) compiles as
one project; each `test` block is then checked, billed on its synthetic usage
and compared with its `expect` lines. Prints `ok`/`FAIL`/`error` per test, then
each failure with its file:line:col, the expected and actual figures and the
`explain` of the line or invoice involved, then a summary. Exit 1 when any
test fails or cannot run (or when there are no tests), 0 otherwise.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
from typing import TYPE_CHECKING

from ..diagnostics import SourceMap, Span, has_errors
from .common import EXIT_INPUT, EXIT_OK, add_format_flag, compile_project, print_diagnostics

if TYPE_CHECKING:
    from ..workflows.testrun import TestResult

# Billing, Jinja and the workflows are imported where a test run needs them: every
# command's module is imported for `--help` and argument parsing, and another command
# (`explain`, `check`) need not pay for them.


def register(sub) -> None:
    p = sub.add_parser("test", help="run the `test` blocks of .pricing files",
                       description="Run the `test` blocks of a project: bill each test's synthetic usage "
                                   "and compare with its `expect` lines; print ok/FAIL per test and, for "
                                   "a failure, the expected and actual figures and how the line was priced.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".pricing files or directories (*.test.pricing files included)")
    p.add_argument("-k", "--filter", metavar="TEXT",
                   help="only tests whose name contains TEXT (case-insensitive)")
    add_format_flag(p, help_text="text (default) or json for CI")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..billing.unsupported import unsupported
    from ..report.render import TemplateProblem

    compiled = compile_project(args.paths)
    if not compiled.ok:
        print_diagnostics(compiled.diagnostics, compiled.sources, args.format,
                          stream=sys.stdout if args.format == "json" else None)
        return EXIT_INPUT
    refused = unsupported(compiled.plan, compiled.spans)  # once for the project, not once per test
    if refused:
        print_diagnostics(refused, compiled.sources, args.format, stream=sys.stdout if args.format == "json" else None)
        return EXIT_INPUT
    from ..workflows.testcases import compile_tests
    from ..workflows.testrun import run_tests

    cases = compile_tests(compiled)
    if args.filter:
        cases = [c for c in cases if args.filter.lower() in c.name.lower()]
    if not cases:
        what = f"no test matches `{args.filter}`" if args.filter else "no `test` blocks found"
        if args.format == "json":
            sys.stdout.write(json.dumps({"tests": [], "passed": 0, "failed": 0, "errors": 0,
                                         "message": what}, indent=2) + "\n")
        else:
            print(f"ratecard test: {what} in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_INPUT
    with tempfile.TemporaryDirectory(prefix="ratecard-test-") as workdir:
        results = run_tests(cases, workdir)
    try:
        if args.format == "json":
            sys.stdout.write(json.dumps(report_json(results, compiled.diagnostics), indent=2) + "\n")
        else:
            diagnostics = list(compiled.diagnostics) + [d for r in results for d in r.diagnostics]
            print_diagnostics(diagnostics, compiled.sources, "text")
            sys.stdout.write(report_text(results, compiled.sources))
    except TemplateProblem as exc:
        print_diagnostics([exc.diagnostic], None)
        return EXIT_INPUT
    return EXIT_OK if all(r.status == "ok" for r in results) else EXIT_INPUT


# ----------------------------------------------------------------- reports


def _where(span: Span) -> str:
    return f"{span.file}:{span.line}:{span.col}"


def _quote(span: Span, sources: SourceMap) -> list[str]:
    text = sources.line(span.file, span.line)
    if text is None:
        return []
    text = text.expandtabs(1)
    end = span.end_col if span.end_line == span.line else len(text) + 1
    gutter = len(str(span.line)) + 3
    return [f"{span.line:>{gutter}} | {text}",
            f"{'':>{gutter}} | {' ' * (span.col - 1)}{'^' * max(1, end - span.col)}"]


def _summary(results: list[TestResult]) -> tuple[int, int, int]:
    passed = sum(r.status == "ok" for r in results)
    failed = sum(r.status == "fail" for r in results)
    return passed, failed, len(results) - passed - failed


def report_text(results: list[TestResult], sources: SourceMap) -> str:
    from ..workflows.testrun import explain_check, invoice_list

    out = [f"running {len(results)} test{'s' if len(results) != 1 else ''}"]
    for r in results:
        out.append(f'test "{r.case.name}" ... {"ok" if r.status == "ok" else r.status.upper()}')
    failed = [r for r in results if r.status == "fail"]
    if failed:
        out += ["", "failures:"]
    for r in failed:
        out += ["", f'---- test "{r.case.name}" ({_where(r.case.span)})']
        shown: set[str] = set()
        for check in r.failures:
            exp = check.expectation
            period = f" for the period containing {exp.period}" if exp.period else ""
            out.append(f"{_where(exp.span)}: {exp.label}{period}: expected {check.expected}, "
                       f"actual {check.actual}")
            out += _quote(exp.span, sources)
            if check.note:
                out.append(f"    = note: {check.note}")
            if exp.what == "invoices":
                listed = invoice_list(r)
                out.append("    = invoices billed:" + ("" if listed else " none"))
                out += [f"        {x}" for x in listed]
            explained = explain_check(r, check)
            what = "the line" if exp.what == "line" and check.lines else "the invoice"
            if explained and explained in shown:
                out.append(f"    = how {what} was priced: see above")
            elif explained:
                shown.add(explained)
                out.append(f"    = how {what} was priced:")
                out.append(textwrap.indent(explained.rstrip("\n"), "      "))
    errored = [r for r in results if r.status == "error"]
    if errored:
        out += ["", "errors (see the diagnostics above):"]
        out += [f'    test "{r.case.name}" ({_where(r.case.span)})' for r in errored]
    passed, failed_n, errors = _summary(results)
    verdict = "ok" if passed == len(results) else "FAILED"
    out += ["", f"test result: {verdict}. {passed} passed; {failed_n} failed; "
                f"{errors} error{'s' if errors != 1 else ''}"]
    return "\n".join(out) + "\n"


def _span_json(span: Span) -> dict:
    return {"file": span.file, "line": span.line, "col": span.col}


def report_json(results: list[TestResult], project_diagnostics) -> dict:
    tests = []
    for r in results:
        tests.append({
            "name": r.case.name,
            **_span_json(r.case.span),
            "status": r.status,
            "contract": r.case.contract,
            "checks": [{
                "expectation": c.expectation.label,
                **_span_json(c.expectation.span),
                "period": c.expectation.period.isoformat() if c.expectation.period else None,
                "passed": c.passed,
                "expected": c.expected,
                "actual": c.actual,
                "invoices": c.invoices,
                **({"note": c.note} if c.note else {}),
            } for c in r.checks],
            "diagnostics": [d.to_json() for d in r.diagnostics],
        })
    passed, failed, errors = _summary(results)
    return {
        "tests": tests,
        "passed": passed,
        "failed": failed,
        "errors": errors,
        "diagnostics": [d.to_json() for d in project_diagnostics],
        "ok": passed == len(results) and not has_errors(project_diagnostics),
    }
