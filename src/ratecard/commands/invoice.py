"""`ratecard invoice PATH... --usage FILE... --through DATE`: usage -> invoices.

    --format json (default)        the InvoiceRun document (what the conformance suite reads)
    --format text|markdown|html    invoices people read, from Jinja templates (ratecard.views)
    -o DIR                         one file per invoice, `<invoice number>.<ext>`, written atomically

Without `-o`, text and markdown print every invoice and then a summary table
per contract; html prints one document holding them all.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from ..billing import parallel
from ..billing.documents import RunWriter
from ..diagnostics import error
from ..io import StagedFiles
from ..progress import Progress
from ..render import TemplateProblem, render
from ..views import DEFAULT_ISSUER, DEFAULT_LOCALE, DocumentViews, document_view, parse_locale
from .common import (
    EXIT_INPUT,
    EXIT_OK,
    UsageError,
    add_evaluation_args,
    evaluate_from_args,
    print_diagnostics,
    reconciliation_note,
    usable_cpus,
)

FORMATS = ("json", "text", "markdown", "html")
TEMPLATES = {"text": "invoice.txt.j2", "markdown": "invoice.md.j2", "html": "invoice.html.j2"}
EXTENSIONS = {"json": "json", "text": "txt", "markdown": "md", "html": "html"}
# `-o DIR` renders in a process per core from this many invoice lines on: a line
# costs ~75 µs to render and write (HTML, 1M benchmark), so ~0.75 s of work.
RENDER_MIN_LINES = 10_000


def register(sub) -> None:
    p = sub.add_parser("invoice", help="evaluate usage into invoices")
    add_evaluation_args(p)
    p.add_argument("--format", choices=FORMATS, default="json",
                   help="json (default, the machine-readable run), text, markdown or html")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="write one file per invoice into DIR, named <invoice number>.<ext>")
    add_rendering_args(p)
    p.set_defaults(run=run)


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
    try:
        args.locale = parse_locale(args.locale)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.template_dir and not Path(args.template_dir).is_dir():
        raise UsageError(f"no such template directory: {args.template_dir}")


def run(args) -> int:
    check_rendering_args(args)
    out_dir = Path(args.output) if args.output else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {args.output}: not a directory")
    if args.format == "json" and out_dir is None:
        return _stream_json(args)
    with Progress("billing") as progress:
        result = evaluate_from_args(args, args.format, progress=progress)
    if result is None:
        return EXIT_INPUT
    evaluation, plan = result
    run_doc = evaluation.run
    if args.contract:
        run_doc = run_doc.model_copy(update={
            "invoices": [i for i in run_doc.invoices if i.contract == args.contract],
            "breakage": [b for b in run_doc.breakage if b.contract == args.contract],
        })
    try:
        if out_dir is None:
            sys.stdout.write(_document(args, run_doc, plan, evaluation))
        else:
            for path in _write_files(args, run_doc, plan, evaluation, out_dir):
                print(path)
    except TemplateProblem as exc:
        print_diagnostics([exc.diagnostic], None)
        return EXIT_INPUT
    except OSError as exc:
        where = exc.filename or args.output
        print_diagnostics([error("E001", f"cannot write {where}: {exc.strerror or exc}")], None)
        return EXIT_INPUT
    print(reconciliation_note(run_doc), file=sys.stderr)
    return EXIT_OK


def _stream_json(args) -> int:
    """The JSON run on standard output, written as contracts are priced.

    Invoices are spooled to a temporary file as each contract is done, so
    memory holds one contract's invoices at a time; nothing reaches standard
    output unless the whole run succeeds.
    """
    with tempfile.TemporaryFile() as spool:
        writer = RunWriter(spool)
        if args.contract:
            def sink(docs):
                writer.add([d for d in docs if d.contract == args.contract])
            workers = 1
        else:
            sink, workers = writer, usable_cpus()  # contracts priced on every core (billing.parallel)
        with Progress("billing") as progress:
            result = evaluate_from_args(args, args.format, progress=progress, sink=sink, workers=workers)
        if result is None:
            return EXIT_INPUT
        run_doc = result[0].run
        if args.contract:
            run_doc = run_doc.model_copy(update={
                "breakage": [b for b in run_doc.breakage if b.contract == args.contract]})
        try:
            writer.finish(run_doc, sys.stdout)
        finally:
            writer.close()  # the spools of ranges priced in other processes
    sys.stdout.flush()
    print(reconciliation_note(run_doc), file=sys.stderr)
    return EXIT_OK


def _document(args, run_doc, plan, evaluation) -> str:
    """Everything on standard output: the JSON run, or all invoices and a summary."""
    if args.format == "json":
        return run_doc.model_dump_json(indent=2) + "\n"
    view = document_view(run_doc, issuer=args.issuer, locale=args.locale, plan=plan,
                         evaluation=evaluation, summary=bool(run_doc.invoices))
    return render(TEMPLATES[args.format], args.template_dir, **view.context())


def _write_files(args, run_doc, plan, evaluation, out_dir: Path) -> list[Path]:
    """One file per invoice in `out_dir`; their paths, in invoice order.

    Rendering and writing a file costs far more than pricing its lines, so a
    large run renders its invoices in contiguous ranges on every core
    (`billing.parallel`). Every process writes into one staging folder, and
    the files are moved into `out_dir` only once all of them are written:
    a template that fails on the last invoice leaves nothing behind.
    """
    ext = EXTENSIONS[args.format]
    invoices = run_doc.invoices
    names = file_names([inv.number for inv in invoices], ext)
    views = None if args.format == "json" else DocumentViews(
        run_doc, issuer=args.issuer, locale=args.locale, plan=plan, evaluation=evaluation)

    def text_of(inv) -> str:
        if views is None:
            return inv.model_dump_json(indent=2) + "\n"
        return render(TEMPLATES[args.format], args.template_dir, **views.document([inv]).context())

    weights = [len(inv.lines) + 1 for inv in invoices]
    parts = parallel.ranges(list(zip(invoices, names)), usable_cpus(), sum(weights), weights,
                            minimum=RENDER_MIN_LINES)
    with StagedFiles(out_dir) as staged:
        def work(_index: int, part) -> int:
            for inv, name in part:
                staged.write(name, text_of(inv))
            return len(part)

        parallel.run_in_parts(parts, work)
        return staged.commit(names)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_names(numbers: list[str], ext: str) -> list[str]:
    """`<invoice number>.<ext>`, made safe as a file name and unique (deterministically).

    Numbers are `<contract>-<date>[-C<n>]`; contract names from JSON contracts may
    hold any character, so anything but letters, digits, `.`, `_` and `-` becomes
    `_`, a leading dot is dropped, and a clash gets `-2`, `-3`, ... in invoice order.
    """
    seen: set[str] = set()
    names = []
    for number in numbers:
        stem = _UNSAFE.sub("_", number).lstrip(".")[:200] or "invoice"
        name, n = f"{stem}.{ext}", 1
        while name.lower() in seen:
            n += 1
            name = f"{stem}-{n}.{ext}"
        seen.add(name.lower())
        names.append(name)
    return names
