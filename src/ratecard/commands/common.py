"""What every command shares: exit codes, printing diagnostics, compiling paths."""

from __future__ import annotations

import sys
from typing import Sequence

from ..compiler import Compiled, PathError, compile_paths
from ..diagnostics import Diagnostic, SourceMap, has_errors, render_json, render_text

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UsageError(Exception):
    """Bad command-line use: exit 2 with this message."""


def add_format_flag(parser, choices=("text", "json"), default="text", help_text=None) -> None:
    parser.add_argument("--format", choices=choices, default=default,
                        help=help_text or "how to print the result and diagnostics")


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: SourceMap | None,
                      fmt: str = "text", stream=None) -> None:
    """The one place diagnostics are printed."""
    stream = stream or sys.stderr
    if fmt == "json":
        stream.write(render_json(diagnostics))
    elif diagnostics:
        stream.write(render_text(diagnostics, sources))
    stream.flush()


def compile_or_fail(paths: Sequence[str], fmt: str = "text", strict: bool = False) -> Compiled | None:
    """Compile; print diagnostics; None when the project cannot be used."""
    try:
        compiled = compile_paths(paths)
    except PathError as exc:
        raise UsageError(str(exc)) from None
    failed = has_errors(compiled.diagnostics) or compiled.plan is None
    if strict and compiled.diagnostics:
        failed = True
    if compiled.diagnostics or (fmt == "json" and failed):
        print_diagnostics(compiled.diagnostics, compiled.sources, fmt if failed else "text")
    return None if failed else compiled
