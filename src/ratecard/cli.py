"""`ratecard` command line: argument parsing and dispatch, nothing else.

Each subcommand lives in `ratecard.commands.<name>` with a `register(subparsers)`
that adds its arguments and a `run(args) -> int`. Exit codes: 0 clean, 1 errors
in the input, 2 bad command-line use. No Python traceback reaches the user.
"""

from __future__ import annotations

import argparse
import gc
import sys

from . import __version__
from .commands import COMMANDS
from .commands.common import EXIT_INTERNAL, EXIT_USAGE, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ratecard",
        description="Pricing as code: compile .pricing files and turn usage into invoices.",
    )
    parser.add_argument("--version", action="version", version=f"ratecard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"ratecard {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: say so plainly, without a traceback
        print(f"ratecard: internal error: {type(exc).__name__}: {exc}\n"
              "this is a bug in ratecard; please report it with the command you ran "
              "(set RATECARD_DEBUG=1 to see details)", file=sys.stderr)
        import os

        if os.environ.get("RATECARD_DEBUG"):
            import traceback

            traceback.print_exc()
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
    """
    gc.disable()
    return main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
