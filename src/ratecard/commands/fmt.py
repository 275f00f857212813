"""`ratecard fmt PATH... [--check] [--diff] [--stdout]`: canonical formatting.

Rewrites files in place (atomically) and names the files it changed. With
`--check` (or `--diff`) nothing is written: the files that would change are
named (with `--diff`, shown as a unified diff) and the exit code is 1 if any
would. `-` formats standard input to standard output. A file that does not
parse is reported and left untouched.
"""

from __future__ import annotations

import difflib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from ..compiler import PathError, pricing_files
from ..diagnostics import Diagnostic, SourceMap, error
from ..io import write_atomic
from .common import EXIT_INPUT, EXIT_OK, UsageError, print_diagnostics

STDIN = "-"


def register(sub) -> None:
    p = sub.add_parser("fmt", help="rewrite .pricing files in the canonical layout",
                       description="Rewrite .pricing files in the canonical layout, keeping comments.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".pricing files or directories; `-` reads standard input and prints the result")
    p.add_argument("--check", action="store_true",
                   help="write nothing; name the files that would change and exit 1 if any would")
    p.add_argument("--diff", action="store_true",
                   help="write nothing; print a unified diff of what would change (implies --check)")
    p.add_argument("--stdout", action="store_true",
                   help="print the formatted text instead of rewriting the file (one file only)")
    p.set_defaults(run=run)


@dataclass
class _Outcome:
    """One file's result: its old and new text, or the diagnostics that stopped it."""

    path: str
    old: str | None
    new: str | None
    diagnostics: list[Diagnostic]

    @property
    def changed(self) -> bool:
        return self.new is not None and self.new != self.old


def run(args) -> int:
    check = args.check or args.diff
    if STDIN in args.paths:
        if len(args.paths) > 1:
            raise UsageError("`-` (standard input) cannot be combined with other paths")
        return _run_stdin(check, args.diff)
    try:
        files = [str(p) for p in pricing_files(args.paths)]
    except PathError as exc:
        raise UsageError(str(exc)) from None
    if args.stdout and len(files) != 1:
        raise UsageError(f"--stdout takes exactly one file ({len(files)} given)")
    if args.stdout and check:
        raise UsageError("--stdout cannot be combined with --check or --diff")
    failed = False
    for path in files:
        outcome = _format_file(path)
        failed |= _report(outcome, check=check, diff=args.diff, stdout=args.stdout)
    return EXIT_INPUT if failed else EXIT_OK


def _format_file(path: str) -> _Outcome:
    from ..syntax.fmt import format_source  # (here: other commands need not import the formatter)

    """Read and format one file; reading problems become diagnostics like the compiler's."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return _Outcome(path, None, None,
                        [error("E001", f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})")])
    except OSError as exc:
        return _Outcome(path, None, None, [error("E001", f"cannot read {path}: {exc.strerror}")])
    new, diags = format_source(text, path)
    return _Outcome(path, text, new, diags)


def _report(o: _Outcome, *, check: bool, diff: bool, stdout: bool) -> bool:
    """Act on one file's outcome; True when it counts as a failure (exit 1)."""
    if o.new is None:
        sources = SourceMap()
        if o.old is not None:
            sources.add(o.path, o.old)
        print_diagnostics(o.diagnostics, sources)
        return True
    if stdout:
        sys.stdout.write(o.new)
        return False
    if not o.changed:
        return False
    if diff:
        sys.stdout.writelines(_unified(o.path, o.old, o.new))
    elif check:
        print(f"would reformat {o.path}")
    if check:
        return True
    try:
        _rewrite(o.path, o.new)
    except OSError as exc:
        print_diagnostics([error("E001", f"cannot write {o.path}: {exc.strerror}")], None)
        return True
    print(f"reformatted {o.path}")
    return False


def _rewrite(path: str, text: str) -> None:
    """Replace the file atomically, through a symlink, keeping its permission bits.

    `write_atomic` renames a fresh temp file (mode 0600) over the target: without
    this, formatting would make shared files private and turn symlinks into copies.
    """
    target = Path(path).resolve()
    mode = stat.S_IMODE(target.stat().st_mode)
    write_atomic(target, text)
    os.chmod(target, mode)


def _unified(path: str, old: str, new: str) -> list[str]:
    """A unified diff whose every line ends with a newline (even if the old file's last did not)."""
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile=path, tofile=f"{path} (formatted)")
    return [x if x.endswith("\n") else x + "\n" for x in lines]


def _run_stdin(check: bool, diff: bool) -> int:
    """`ratecard fmt -`: standard input to standard output (with --check, just the exit code)."""
    path = "<stdin>"
    try:
        text = sys.stdin.read()
    except UnicodeDecodeError as exc:
        print_diagnostics([error("E001", f"standard input is not UTF-8 text ({exc.reason})")], None)
        return EXIT_INPUT
    from ..syntax.fmt import format_source

    new, diags = format_source(text, path)
    outcome = _Outcome(path, text, new, diags)
    if new is None:
        _report(outcome, check=True, diff=False, stdout=False)  # prints the diagnostics
        return EXIT_INPUT
    if check:
        if diff:
            sys.stdout.writelines(_unified(path, text, new))
        elif outcome.changed:
            print(f"would reformat {path}")
        return EXIT_INPUT if outcome.changed else EXIT_OK
    sys.stdout.write(new)
    return EXIT_OK
