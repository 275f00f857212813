"""`ratecard` command line: argument parsing, dispatch and how a run ends.

Each subcommand lives in `ratecard.commands.<name>` with a `register(subparsers)`
that adds its arguments and a `run(args) -> int`. Exit codes: 0 clean, 1 errors
in the input (or an output that cannot be written), 2 bad command-line use,
3 a bug of ours, 128 + N when signal N (SIGINT, SIGTERM, SIGHUP) stopped the
run. No Python traceback reaches the user. See docs/diagnostics.md.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import gc
import io
import os
import re
import signal
import stat
import sys
import threading
from pathlib import Path

from . import __version__
from .commands import COMMANDS
from .commands.common import EXIT_INPUT, EXIT_INTERNAL, EXIT_USAGE, UsageError, check_outputs, print_diagnostics
from .diagnostics import did_you_mean, error
from .io import OutputError, OutputRefused
from .money import exact_arithmetic


class Parser(argparse.ArgumentParser):
    """argparse, with errors that say what went wrong and how to fix it.

    - a mistyped command or choice gets "did you mean";
    - an option that takes several values (`--usage FILE...`) takes every
      word after it, the project's PATH too; when PATH is then missing, the
      message says which words the option took and how to write it instead.
    """

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.format_usage()}{self.prog}: error: {self._explain(message)}\n")

    def _explain(self, message: str) -> str:
        choice = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)$", message)
        if choice:
            word, choices = choice[1], re.findall(r"'(.*?)'", choice[2])
            guess = did_you_mean(word, choices)
            hint = f" (did you mean `{guess}`?)" if guess else ""
            if message.startswith("argument COMMAND"):
                return (f"unknown command `{word}`{hint}; the commands are "
                        + ", ".join(choices) + " (see `ratecard --help`)")
            return f"{message}{hint}"
        missing = re.search(r"the following arguments are required: (.*)$", message)
        took = getattr(self, "took", None)
        if missing and took and "PATH" in missing[1].split(", "):
            option, metavar, values = took
            suspects = [v for v in values if Path(v).is_dir() or v.endswith(".pricing")]  # what a PATH is
            if suspects:
                return (f"{message} (`{option}` took {' '.join(suspects)} as {metavar}: it takes every word "
                        f"up to the next option; put PATH first, `{self.prog} PATH... {option} {metavar}...`, "
                        f"or `{option}` last)")
        return message


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ratecard",
        description="Pricing as code: compile .pricing files and turn usage into invoices.",
        epilog="`ratecard COMMAND --help` describes a command. Exit codes: 0 ok, 1 errors in the input, "
               "2 bad command-line use, 3 a bug in ratecard, 130/143 interrupted (SIGINT/SIGTERM).",
    )
    parser.add_argument("--version", action="version", version=f"ratecard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


# ----------------------------------------------------------------- signals


class Interrupted(KeyboardInterrupt):
    """A signal asked the run to stop. It unwinds the run as Ctrl-C does, so every
    `finally` and `with` cleans up after it: the staging folder of `-o DIR`, the
    usage engine's spill folder, the cleaned copies of `--skip-bad-rows`."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOPPING = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


class Signals:
    """While a command runs: SIGINT, SIGTERM and SIGHUP raise `Interrupted`.

    Only the first signal raises; later ones are noted and otherwise ignored,
    so a second Ctrl-C (or `timeout`'s SIGTERM after Ctrl-C) does not cut the
    clean-up short (SIGKILL still does). A signal that was ignored when the
    program started (`nohup`, a background job's SIGINT) stays ignored.
    `received` is the first signal, also when the exception it raised was
    turned into another on the way (DuckDB answers one with "Query
    interrupted").
    """

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "Signals":
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may set handlers; a caller's thread keeps its own
        for signum in STOPPING:
            current = signal.getsignal(signum)
            if current in (signal.SIG_DFL, signal.default_int_handler):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
            raise Interrupted(signum)

    def __exit__(self, exc_type, exc, tb) -> bool:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        # a signal in the last instants of the run, after its outcome was known
        return isinstance(exc, Interrupted) and exc.signum == self.received


def _interrupted(signum: int) -> int:
    name = signal.Signals(signum).name
    print("interrupted" if signum == signal.SIGINT else f"interrupted ({name})", file=sys.stderr)
    return 128 + signum


# ----------------------------------------------------------------- running a command

DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int | None = None
    with Signals() as signals, _whole_writes():
        start = _stdout_start()
        try:
            try:
                check_outputs(args)
                with exact_arithmetic():  # no implicit rounding anywhere a command computes
                    code = args.run(args)
                sys.stdout.flush()  # a full disk under standard output shows here, not at exit
            except BaseException as exc:  # noqa: BLE001 - every way out is sorted in `_failure`
                if _unwritable(exc):
                    _cut_stdout(start)
                code = _failure(args, exc, signals.received)
        except KeyboardInterrupt:  # the signal came while a failure was being reported
            code = None
        _settle_stdout()
    stopped_by = signals.received or (signal.SIGINT if code is None else None)
    if stopped_by is not None:  # whatever the run made of the signal, it was stopped
        return _interrupted(stopped_by)
    return code


_UNWRITABLE: list = []


@contextlib.contextmanager
def _whole_writes():
    """Standard output that writes everything it is given, or raises.

    Under `python -u` (PYTHONUNBUFFERED, common in containers and CI) the
    binary layer of standard output is a raw file: when the disk fills up,
    its `write` writes part of the text and says so only in what it returns,
    which the text layer ignores, so the rest would be lost without an
    error. A buffered writer (in write-through mode, flushed by `main`)
    writes all of it or raises.
    """
    out = sys.stdout
    if not (isinstance(out, io.TextIOWrapper) and isinstance(out.buffer, io.FileIO)):
        yield
        return
    whole = io.TextIOWrapper(io.BufferedWriter(out.buffer), encoding=out.encoding, errors=out.errors,
                             line_buffering=out.line_buffering, write_through=True)
    sys.stdout = whole
    try:
        yield
    finally:
        sys.stdout = out
        try:  # the raw file stays open: it is the program's standard output
            whole.detach().detach()
        except (OSError, ValueError):  # unwritable to the end: never closed either
            _UNWRITABLE.append(whole)


def _stdout_start() -> int | None:
    """Where this run's standard output begins, when it is a regular file of its own
    (not also standard error: `> log 2>&1` keeps every line)."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
        if not stat.S_ISREG(out.st_mode) or (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino):
            return None
        sys.stdout.flush()
        return os.lseek(sys.stdout.fileno(), 0, os.SEEK_CUR)
    except (OSError, ValueError, AttributeError):
        return None


def _unwritable(exc: BaseException) -> bool:
    """An output could not be written: a full disk, a file size limit."""
    return isinstance(exc, OutputError) or (isinstance(exc, OSError) and exc.errno in DISK_FULL)


def _cut_stdout(start: int | None) -> None:
    """A run that could not write all its output leaves none of it: a regular file
    under standard output is cut back to where the run began writing, and what
    is still buffered goes nowhere (see `_settle_stdout`)."""
    if start is None:
        return
    try:
        os.ftruncate(sys.stdout.fileno(), start)
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def _settle_stdout() -> None:
    """Standard output flushed now, or, when it cannot take what is left (a full
    disk), pointed at /dev/null: Python would try again at exit and print a
    traceback-like complaint, after the run was already reported."""
    try:
        sys.stdout.flush()
    except OSError:
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, sys.stdout.fileno())
            os.close(fd)
            sys.stdout.flush()
        except (OSError, ValueError, AttributeError):
            pass
    except (ValueError, AttributeError):  # closed or replaced
        pass


def _failure(args, exc: BaseException, signum: int | None) -> int | None:
    """What a run that raised prints and exits with; None when it was interrupted
    (by a signal, whatever exception the signal became on the way)."""
    if isinstance(exc, KeyboardInterrupt) or signum is not None:
        return None
    if isinstance(exc, (UsageError, OutputRefused)):
        print(f"ratecard {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, OutputError):
        print_diagnostics([error("E001", str(exc))], None)
        return EXIT_INPUT
    if isinstance(exc, BrokenPipeError):
        return 0
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        # the outputs we name say so themselves (`OutputError`): this is standard output
        # or a temporary file (the usage engine's, a cleaned copy of --skip-bad-rows)
        where = exc.filename or "standard output or a temporary file"
        print_diagnostics([error("E001", f"cannot write {where}: {exc.strerror}",
                                 hints=["free some space (temporary files go to $TMPDIR)"])], None)
        return EXIT_INPUT
    if isinstance(exc, FileNotFoundError) and "No usable temporary directory" in str(exc):
        print_diagnostics([error("E001", "cannot write a temporary file: no usable temporary directory",
                                 hints=["set TMPDIR to a directory with free space that you can write to"])],
                          None)
        return EXIT_INPUT
    if isinstance(exc, (SystemExit, GeneratorExit)):
        raise exc
    # a bug of ours: say so plainly, without a traceback
    print(f"ratecard: internal error: {type(exc).__name__}: {exc}\n"
          "this is a bug in ratecard; please report it with the command you ran "
          "(set RATECARD_DEBUG=1 to see details)", file=sys.stderr)
    if os.environ.get("RATECARD_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    return EXIT_INTERNAL


def entry() -> int:
    """The `ratecard` program: `main`, in a process of its own.

    A command builds large, mostly acyclic data (plans, priced lines, views,
    diffs), writes its output and exits. Reference counting frees that data;
    the cyclic collector would only walk it again and again, so it is off for
    the process. `billing` pauses it while pricing; that only put the work
    off, since each pause ended with everything priced in the young
    generation. Measured at 1M events, with the same peak RSS and output:
    text invoices 36.5 -> 26.2 s, `diff` 42.3 -> 28.1 s. `main` itself
    leaves the collector alone, for callers that live on (tests, services).

    The interpreter's finalization still runs one full collection at exit,
    collector off or not, over everything the command built: at exit (an
    `atexit` hook, which runs before it) the process's objects are frozen
    (`gc.freeze`), so that last walk skips them (`explain --contract` at 1M
    events: 0.10 -> 0.03 s of exit). A caller of `entry` that lives on (a
    test) is frozen only when it exits too.
    """
    gc.disable()
    atexit.register(gc.freeze)
    return main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
