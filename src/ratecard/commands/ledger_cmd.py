"""`ratecard ledger list | show NUMBER | void NUMBER --reason TEXT | export -o DIR`.

What the ledger holds, read back exactly as issued (docs/ledger.md):

    list      every document: number, kind, contract, period, issued, total, status
    show      one document: its stored JSON, or rendered (text, markdown, html)
    void      withdraw a document: it keeps its number, its reversal is a credit note
    export    every document, one file each (json, text, markdown, html), or csv
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from ..diagnostics import error
from .common import EXIT_INPUT, EXIT_OK, Output, UsageError, parse_date, print_diagnostics
from .invoice import add_rendering_args, check_rendering_args
from .issue import add_ledger_arg, ledger_url, list_rows


def register(sub) -> None:
    p = sub.add_parser("ledger", help="list, show, void and export the ledger's issued documents",
                       description="Read the ledger `ratecard issue` writes: list its documents, show one "
                                   "exactly as issued, void one (it keeps its number; a credit note "
                                   "reverses it), or export them all (docs/ledger.md).")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    ls = actions.add_parser("list", help="every issued document",
                            description="Every document in the ledger, in number order.")
    add_ledger_arg(ls)
    ls.add_argument("--contract", metavar="NAME", help="only this contract's documents")
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(run=run_list)

    show = actions.add_parser("show", help="one document, as stored (json) or rendered",
                              description="One document: its stored JSON byte for byte, or rendered as text, "
                                          "Markdown or HTML.")
    show.add_argument("number", metavar="NUMBER")
    add_ledger_arg(show)
    show.add_argument("--format", choices=("text", "json", "markdown", "html"), default="text")
    add_rendering_args(show)
    show.set_defaults(run=run_show)

    void = actions.add_parser("void", help="void a document: it keeps its number; a credit note reverses it",
                              description="Void an issued document: it stays in the ledger under its number, "
                                          "marked void, and a credit note that reverses it is issued.")
    void.add_argument("number", metavar="NUMBER")
    void.add_argument("--reason", required=True, metavar="TEXT", help="why (printed on the credit note)")
    void.add_argument("--date", metavar="DATE", help="the credit note's date (default: today, UTC)")
    add_ledger_arg(void)
    void.add_argument("--format", choices=("text", "json"), default="text")
    void.set_defaults(run=run_void)

    export = actions.add_parser("export", help="every document, one file each, into a directory",
                                description="Every stored document, one file each, into DIR: all of them or "
                                            "none (a failed export leaves DIR as it was).")
    export.add_argument("-o", "--output", required=True, metavar="DIR")
    add_ledger_arg(export)
    export.add_argument("--contract", metavar="NAME", help="only this contract's documents")
    export.add_argument("--format", choices=("json", "text", "markdown", "html", "csv"), default="json")
    add_rendering_args(export)
    export.set_defaults(run=run_export, outputs=(Output("output", "-o", directory=True),))


def _guarded(body):
    """Run `body(ledger)` on the opened ledger; a ledger problem is one diagnostic (exit 1)."""

    def run(args) -> int:
        from sqlalchemy.exc import DBAPIError

        from ..ledger.store import LedgerError, driver_message, open_ledger
        from ..report.render import TemplateProblem

        fmt = "json" if args.format == "json" else "text"
        ledger = None
        try:
            ledger = open_ledger(ledger_url(args), create=False)
            return body(args, ledger)
        except LedgerError as exc:
            print_diagnostics([exc.diagnostic], None, fmt)
            return EXIT_INPUT
        except TemplateProblem as exc:
            print_diagnostics([exc.diagnostic], None)
            return EXIT_INPUT
        except DBAPIError as exc:
            shown = ledger.target.shown if ledger is not None else args.ledger
            print_diagnostics([error("E966", f"the ledger {shown} failed: {driver_message(exc)}")], None, fmt)
            return EXIT_INPUT
        finally:
            if ledger is not None:
                ledger.dispose()

    return run


@_guarded
def run_list(args, ledger) -> int:
    from ..ledger.records import listing
    from ..report.formatter import Formatter

    with ledger.reading() as conn:
        listed = listing(conn, args.contract)
    if args.format == "json":
        sys.stdout.write(json.dumps([json.loads(d.model_dump_json()) for d in listed], indent=2) + "\n")
        return EXIT_OK
    if not listed:
        print("the ledger holds no documents" + (f" of contract {args.contract}" if args.contract else ""))
        return EXIT_OK
    for row in list_rows(listed, Formatter(listed[0].currency), header=True):
        print(row)
    return EXIT_OK


@_guarded
def run_show(args, ledger) -> int:
    from ..ledger.export import render_one
    from ..ledger.records import one

    check_rendering_args(args)
    with ledger.reading() as conn:
        found = one(conn, args.number)
    sys.stdout.write(render_one(found, args.format, template_dir=args.template_dir, issuer=args.issuer,
                                locale=args.locale))
    return EXIT_OK


@_guarded
def run_void(args, ledger) -> int:
    from ..ledger.void import void
    from ..report.formatter import Formatter

    if not args.reason.strip():
        raise UsageError("--reason: say why the document is voided")
    on = parse_date(args.date, "--date") if args.date else dt.datetime.now(dt.timezone.utc).date()
    note = void(ledger, args.number, args.reason.strip(), on)
    if args.format == "json":
        sys.stdout.write(json.dumps({"voided": args.number, "credit_note": json.loads(note.model_dump_json())},
                                    indent=2) + "\n")
    else:
        fmt = Formatter(note.currency)
        print(f"voided {args.number}; reversed by credit note {note.number} for {fmt.money(note.total)}")
    return EXIT_OK


@_guarded
def run_export(args, ledger) -> int:
    from ..ledger.export import export
    from ..ledger.records import listing, stored

    if args.format != "csv":
        check_rendering_args(args)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {args.output}: not a directory")
    with ledger.reading() as conn:
        docs = stored(conn, args.contract)
        listed = listing(conn, args.contract)
    try:
        paths = export(docs, listed, out, args.format, template_dir=args.template_dir, issuer=args.issuer,
                       locale=args.locale)
    except OSError as exc:
        print_diagnostics([error("E001", f"cannot write {exc.filename or args.output}: {exc.strerror or exc}")],
                          None)
        return EXIT_INPUT
    for path in paths:
        print(path)
    return EXIT_OK
