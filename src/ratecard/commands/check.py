"""`ratecard check PATH... [--contracts FILE.json]`: compile and lint, print diagnostics.

With `--contracts`, JSON contracts are checked as part of the project, by the
same passes as `contract` blocks (what `invoice --contracts` would refuse,
`check --contracts` reports first)."""

from __future__ import annotations

import sys

from ..diagnostics import has_errors
from .common import EXIT_INPUT, EXIT_OK, add_format_flag, compile_project, print_diagnostics


def register(sub) -> None:
    p = sub.add_parser("check", help="compile and lint .pricing files",
                       description="Compile and lint .pricing files and print every diagnostic at once "
                                   "(file:line:col, the source line, a caret, a hint). Exit 1 on errors "
                                   "(with --strict, on warnings too).")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".pricing files or directories")
    p.add_argument("--contracts", action="append", default=[], metavar="FILE.json",
                   help="JSON contracts (the contract API's shape) to check with the project")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    add_format_flag(p)
    p.set_defaults(run=run)


def run(args) -> int:
    compiled = compile_project(args.paths, args.contracts)
    diags = compiled.diagnostics
    if args.format == "json":
        print_diagnostics(diags, compiled.sources, "json", stream=sys.stdout)
    else:
        print_diagnostics(diags, compiled.sources, "text")
    failed = has_errors(diags) or compiled.plan is None or (args.strict and bool(diags))
    return EXIT_INPUT if failed else EXIT_OK
