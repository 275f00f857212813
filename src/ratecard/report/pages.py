"""Text, Markdown and HTML invoices on standard output, rendered where they are priced.

`invoice --format text|markdown|html` prints one document: every invoice,
then a summary table (HTML: one page holding them all). Rendering the
invoices is most of the work, and pricing is done in a process per range of
contracts (`billing.parallel`), so each invoice is rendered in the process
that priced it: the shipped templates hold an invoice as their block
`invoice`, which reads that invoice's view alone, so `InvoicePages` renders
the block for each invoice as its contract is priced (`render_block`) into a
spool of its own, and keeps an `Outline` of it: what the document around the
invoices reads (the HTML head: how many, the first one's title and number,
ledger corrections; the summary's figures). `document` then renders the
template around the pages, in run order, with the block printing each
invoice's rendered text: byte for byte the document rendered in one go
(tests/test_views_golden.py; tests/test_invoice_pages.py splits the runs).

A `--template-dir` is not rendered this way: a user's template need not have
the block, and its document may read any field of any invoice.
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Callable

from ..billing.documents import Invoice
from ..billing.sinks import PricedLinesSink, SplittableSink
from ..io import spool_error
from .invoice_views import DocumentViews
from .render import render_around, render_block
from .summary import summary_view
from .view_models import InvoiceView

# Text, Markdown and HTML are priced and rendered in a process per core from this many usage
# lines on (`-o DIR` too): a line costs ~75 µs to render and write (HTML, 1M benchmark), so
# ~0.75 s of work, where pricing alone is worth splitting from 50,000 (`parallel.MIN_LINES`).
RENDER_MIN_LINES = 10_000

BLOCK = "invoice"  # the shipped invoice templates' block for one invoice


@dataclass(frozen=True)
class Outline:
    """An invoice as the document around the rendered invoices reads it: the fields the
    shipped templates read outside their `invoice` block, the summary's figures (as
    `summary.summary_view` reads an `Invoice`), and the rendered block (`page`)."""

    kind: str
    title: str
    number: str
    contract: str
    customer: str
    subtotal: Decimal
    credits_applied: Decimal
    total: Decimal
    corrections: bool
    status_note: str
    page: str = ""


Pages = Callable[[list[Invoice], list], list[tuple[Outline, str]]]


def page_renderer(views: DocumentViews, template: str) -> Pages:
    """(a contract's invoices, their priced lines) -> each invoice's outline and rendered block."""

    def pages(invoices: list[Invoice], priced: list) -> list[tuple[Outline, str]]:
        views.priced(priced)  # package notes: the views need the contract's priced lines
        doc = views.document(invoices)
        return [(_outline(inv, view),
                 render_block(template, BLOCK, inv=view, through=doc.through, currency=doc.currency,
                              lang=doc.lang))
                for inv, view in zip(invoices, doc.invoices)]

    return pages


def _outline(inv: Invoice, view: InvoiceView) -> Outline:
    return Outline(kind=view.kind, title=view.title, number=view.number, contract=inv.contract,
                   customer=inv.customer, subtotal=inv.subtotal, credits_applied=inv.credits_applied,
                   total=inv.total, corrections=bool(view.corrections), status_note=view.status_note)


def document(views: DocumentViews, template: str, outlines: list[Outline]) -> str:
    """The whole document: the template around the invoices' pages (`outlines`, in run
    order), with a summary table when there are invoices, as `invoice` prints it."""
    doc = views.document([])
    summary = summary_view(views.through, views.currency, outlines, views.fmt) if outlines else None
    return render_around(template, BLOCK, "inv.page", through=doc.through, currency=doc.currency, lang=doc.lang,
                         invoices=outlines, summary=summary)


class InvoicePages(PricedLinesSink, SplittableSink):
    """A `billing.evaluate` sink for text, Markdown or HTML on standard output: each invoice's
    block rendered as soon as it is priced, into `spool` (UTF-8), its outline kept.

    Like `RunWriter`, it splits into parts for ranges of contracts priced in other
    processes (`part`, `restart`, `flush`, `absorb`): a part's spool and its outlines
    (pickled into a file of its own by `flush`) are temporary files made before the
    process is forked, so the parent reads what the child wrote. `finish` gives every
    outline with its page, in run order; `close` removes the files.
    """

    min_lines = RENDER_MIN_LINES  # split from this many usage lines (billing.parallel)
    wants_priced = True  # views show whole packages, known from the priced lines

    def __init__(self, pages: Pages):
        self.pages = pages
        self.spool = tempfile.TemporaryFile()
        self.kept = tempfile.TemporaryFile()  # the outlines and page sizes, for the parent
        self.outlines: list[Outline] = []
        self.sizes: list[int] = []
        self.parts: list[InvoicePages] = []

    def __call__(self, invoices: list[Invoice], priced: list) -> None:
        for outline, text in self.pages(invoices, priced):
            data = text.encode("utf-8")
            self._write(self.spool, data)
            self.outlines.append(outline)
            self.sizes.append(len(data))

    def part(self) -> "InvoicePages":
        """Pages, on files of their own, for a later range of the run's invoices."""
        return InvoicePages(self.pages)

    def restart(self) -> None:
        """Forget what was written: the range is priced again after its process failed."""
        for file in (self.spool, self.kept):
            file.seek(0)
            file.truncate()
        self.outlines, self.sizes = [], []

    def flush(self) -> None:
        self.kept.seek(0)
        self.kept.truncate()
        self._write(self.kept, pickle.dumps((self.outlines, self.sizes), protocol=pickle.HIGHEST_PROTOCOL))
        for file in (self.spool, self.kept):
            try:
                file.flush()
            except OSError as exc:
                raise spool_error(exc) from None

    def absorb(self, part: "InvoicePages", count: int) -> None:
        """Take `part`'s pages (written by another process) as following ours."""
        part.kept.seek(0)
        part.outlines, part.sizes = pickle.load(part.kept)
        if len(part.outlines) != count:  # the part's record and its process's report disagree
            raise RuntimeError(f"a range rendered {len(part.outlines)} invoices, not {count}")
        self.parts.append(part)

    def finish(self) -> list[Outline]:
        """Every invoice's outline with its page, in run order."""
        out: list[Outline] = []
        for pages in (self, *self.parts):
            pages.spool.flush()
            pages.spool.seek(0)
            data, start = pages.spool.read(), 0
            for outline, size in zip(pages.outlines, pages.sizes):
                out.append(replace(outline, page=data[start:start + size].decode("utf-8")))
                start += size
        return out

    def close(self) -> None:
        for pages in (self, *self.parts):
            for file in (pages.spool, pages.kept):
                try:
                    file.close()
                except OSError:  # what it could not write is not needed any more
                    pass
        self.parts = []

    @staticmethod
    def _write(file, data: bytes) -> None:
        try:
            file.write(data)
        except OSError as exc:
            raise spool_error(exc) from None
