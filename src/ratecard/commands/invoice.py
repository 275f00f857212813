"""`ratecard invoice PATH... --usage FILE... --through DATE`: usage -> invoices.

    --format json (default)        the InvoiceRun document (what the conformance suite reads)
    --format text|markdown|html    invoices people read, from Jinja templates (ratecard.report)
    -o DIR                         one file per invoice, `<invoice number>.<ext>`, all moved into DIR
                                   once every one is written (rendered as contracts are priced)

Without `-o`, text and markdown print every invoice and then a summary table
per contract; html prints one document holding them all. Each invoice is
rendered in the process that priced it (`report.pages`), unless a
`--template-dir` is given: then the document is rendered whole, here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..progress import Progress
from ..report.defaults import DEFAULT_ISSUER, DEFAULT_LOCALE
from .common import (
    EXIT_INPUT,
    EXIT_OK,
    SKIP_BAD_ROWS,
    Output,
    UsageError,
    add_evaluation_args,
    evaluate_from_args,
    parse_date,
    print_diagnostics,
    reconciliation_note,
    usable_cpus,
)

if TYPE_CHECKING:
    from ..billing.documents import Invoice
    from ..report.files import InvoiceFiles
    from ..report.invoice_views import DocumentViews
    from ..report.pages import InvoicePages

# Billing, the views and Jinja are imported where a run needs them, not with the
# module: every command (`ratecard check` too) imports this one to register it.

FORMATS = ("json", "text", "markdown", "html")
TEMPLATES = {"text": "invoice.txt.j2", "markdown": "invoice.md.j2", "html": "invoice.html.j2"}


def register(sub) -> None:
    p = sub.add_parser("invoice", help="evaluate usage into invoices",
                       description="Bill usage: price every contract's usage events for each billing period "
                                   "that has ended by --through, and print the invoices (the JSON run by "
                                   "default; text, Markdown or HTML to read), or write one file per invoice "
                                   "into a directory with -o.")
    add_evaluation_args(p)
    p.add_argument("--format", choices=FORMATS, default="json",
                   help="json (default, the machine-readable run), text, markdown or html")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="write one file per invoice into DIR, named <invoice number>.<ext>; the files arrive "
                        "together or not at all, and one run at a time writes into DIR")
    add_rendering_args(p)
    p.set_defaults(run=run, outputs=(Output("output", "-o", directory=True), SKIP_BAD_ROWS))


def add_rendering_args(p, issuer: bool = True) -> None:
    p.add_argument("--template-dir", metavar="DIR",
                   help="templates that replace the shipped ones (searched first)")
    if issuer:
        p.add_argument("--issuer", default=DEFAULT_ISSUER, metavar="NAME",
                       help=f"who issues the invoices, shown as `From` (default: {DEFAULT_ISSUER})")
    p.add_argument("--locale", default=DEFAULT_LOCALE, metavar="LOCALE",
                   help=f"how money, numbers and dates are written (default: {DEFAULT_LOCALE})")


def check_rendering_args(args) -> None:
    """Bad `--locale` / `--template-dir` are command-line mistakes (exit 2), caught before billing."""
    from ..report.formatter import parse_locale

    try:
        args.locale = parse_locale(args.locale)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.template_dir and not Path(args.template_dir).is_dir():
        raise UsageError(f"no such template directory: {args.template_dir}")


def run(args) -> int:
    check_rendering_args(args)
    out_dir = Path(args.output) if args.output else None
    if args.format == "json" and out_dir is None:
        return _stream_json(args)  # (renders nothing: Jinja is not imported)
    from ..report.heap import frozen
    from ..report.render import TemplateProblem

    if out_dir is not None:  # a file that cannot be written is `io.OutputError`: E001 (cli.main)
        try:
            return _stream_files(args, out_dir)
        except TemplateProblem as exc:
            print_diagnostics([exc.diagnostic], None)
            return EXIT_INPUT
    if not args.template_dir:
        return _stream_document(args)
    with Progress("billing") as progress:
        result = evaluate_from_args(args, args.format, progress=progress)
    if result is None:
        return EXIT_INPUT
    evaluation, plan = result
    run_doc = evaluation.run  # with --contract, that contract's invoices only (billing prices it alone)
    try:
        with frozen():  # the run lives until exit: collections while rendering need not walk it
            sys.stdout.write(_document(args, run_doc, plan, evaluation))
    except TemplateProblem as exc:
        print_diagnostics([exc.diagnostic], None)
        return EXIT_INPUT
    print(reconciliation_note(run_doc), file=sys.stderr)
    return EXIT_OK


def _stream_json(args) -> int:
    """The JSON run on standard output, written as contracts are priced.

    Invoices are spooled to a temporary file as each contract is done, so
    memory holds one contract's invoices at a time; nothing reaches standard
    output unless the whole run succeeds.
    """
    from ..billing.documents import RunWriter

    writer = RunWriter()  # a spool in $TMPDIR; closed (and gone) however the run ends
    try:
        with Progress("billing") as progress:
            # contracts priced on every core (billing.parallel); with --contract, that one alone
            result = evaluate_from_args(args, args.format, progress=progress, sink=writer,
                                        workers=usable_cpus())
        if result is None:
            return EXIT_INPUT
        run_doc = result[0].run
        writer.finish(run_doc, sys.stdout)
    finally:
        writer.close()  # with the spools of ranges priced in other processes
    sys.stdout.flush()
    print(reconciliation_note(run_doc), file=sys.stderr)
    return EXIT_OK


def _stream_document(args) -> int:
    """Text, Markdown or HTML on standard output, each invoice rendered as it is priced.

    Contracts are priced on every core (`billing.parallel`), and each invoice's part
    of the document (the shipped template's `invoice` block) is rendered in the
    process that priced it, into a spool (`report.pages.InvoicePages`); the document
    around them (the HTML head, the separators, the summary) is rendered here once
    every invoice is, and written whole: byte-identical to `_document`'s. Nothing
    reaches standard output unless the whole run succeeds.
    """
    from ..report.heap import frozen
    from ..report.invoice_views import DocumentViews
    from ..report.pages import InvoicePages, document, page_renderer
    from ..report.render import TemplateProblem

    sink: InvoicePages | None = None
    views: DocumentViews | None = None

    def sink_for(plan) -> InvoicePages:  # the views need the compiled plan
        nonlocal sink, views
        heap.again()  # the plan lives until exit: collections while billing need not walk it
        views = DocumentViews(parse_date(args.through), plan.currency, issuer=args.issuer, locale=args.locale,
                              plan=plan)
        sink = InvoicePages(page_renderer(views, TEMPLATES[args.format]))
        return sink

    try:
        with frozen() as heap:
            with Progress("billing") as progress:  # with --contract, that contract alone
                result = evaluate_from_args(args, args.format, progress=progress, sink_for=sink_for,
                                            workers=usable_cpus())
            if result is None or sink is None or views is None:
                return EXIT_INPUT
            text = document(views, TEMPLATES[args.format], sink.finish())
    except TemplateProblem as exc:
        print_diagnostics([exc.diagnostic], None)
        return EXIT_INPUT
    finally:
        if sink is not None:
            sink.close()  # with the spools of ranges priced in other processes
    sys.stdout.write(text)
    print(reconciliation_note(result[0].run), file=sys.stderr)
    return EXIT_OK


def _document(args, run_doc, plan, evaluation) -> str:
    """Text, Markdown or HTML on standard output: every invoice, then a summary (a
    `--template-dir`'s document, rendered whole)."""
    from ..report.invoice_views import document_view
    from ..report.render import render

    view = document_view(run_doc, issuer=args.issuer, locale=args.locale, plan=plan,
                         evaluation=evaluation, summary=bool(run_doc.invoices))
    return render(TEMPLATES[args.format], args.template_dir, **view.context())


def _stream_files(args, out_dir: Path) -> int:
    """One file per invoice in `out_dir`, rendered and written as contracts are priced.

    Rendering a file costs far more than pricing its lines, so both run in
    every pricing process (`billing.parallel`), from fewer lines than a
    JSON run splits at. The files go to a staging folder and are moved into
    `out_dir` only once the whole run is written: a template that fails on
    the last invoice leaves nothing behind (`io.StagedFiles`).
    """
    from ..io import StagedFiles
    from ..report.files import InvoiceFiles
    from ..report.heap import frozen
    from ..report.render import EXTENSIONS

    with StagedFiles(out_dir, getattr(args, "protected", None)) as staged:
        sink: InvoiceFiles | None = None

        def sink_for(plan) -> InvoiceFiles:  # the views need the compiled plan
            nonlocal sink
            heap.again()  # the plan lives until exit: collections while billing need not walk it
            sink = InvoiceFiles(staged, _texts(args, plan), EXTENSIONS[args.format],
                                wants_priced=args.format != "json")
            return sink

        with Progress("billing") as progress, frozen() as heap:
            result = evaluate_from_args(args, args.format, progress=progress, sink_for=sink_for,
                                        workers=usable_cpus())
        if result is None or sink is None:
            return EXIT_INPUT
        paths = sink.finish()
    for path in paths:
        print(path)
    print(reconciliation_note(result[0].run), file=sys.stderr)
    return EXIT_OK


def _texts(args, plan) -> Callable[[list[Invoice], list], list[str]]:
    """(a contract's invoices, their priced lines) -> each invoice's file content."""
    if args.format == "json":
        return lambda invoices, _priced: [inv.model_dump_json(indent=2) + "\n" for inv in invoices]
    from ..report.invoice_views import DocumentViews
    from ..report.render import render

    views = DocumentViews(parse_date(args.through), plan.currency, issuer=args.issuer, locale=args.locale,
                          plan=plan)
    template = TEMPLATES[args.format]

    def texts(invoices: list[Invoice], priced: list) -> list[str]:
        views.priced(priced)
        return [render(template, args.template_dir, **views.document([inv]).context()) for inv in invoices]

    return texts
