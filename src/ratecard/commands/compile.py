"""`ratecard compile PATH... [-o FILE]`: the rating plan as JSON (stable key order)."""

from __future__ import annotations

import sys

from ..io import write_atomic
from .common import EXIT_INPUT, EXIT_OK, Output, add_format_flag, compile_or_fail


def register(sub) -> None:
    p = sub.add_parser("compile", help="print the compiled rating plan as JSON",
                       description="Compile .pricing files into the rating plan, as JSON with a stable key "
                                   "order (its schema: `ratecard schema`). Diagnostics go to standard error.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".pricing files or directories")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the plan to FILE (atomically; not an input) instead of standard output")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    add_format_flag(p, help_text="how to print diagnostics")
    p.set_defaults(run=run, outputs=(Output("output", "-o"),))


def run(args) -> int:
    compiled = compile_or_fail(args.paths, args.format, args.strict)
    if compiled is None:
        return EXIT_INPUT
    text = compiled.plan.model_dump_json(indent=2) + "\n"
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
