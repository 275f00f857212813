"""`ratecard ledger export -o DIR`: every stored document, one file each.

    json                  the stored body, byte for byte (plus a final newline)
    text|markdown|html    rendered with the invoice templates (ledger/views.py)
    csv                   documents.csv (one row per document, the `list` fields)
                          and lines.csv (every line and adjustment line)

Files are named `<number>.<ext>` and reach DIR together, once all are written
(`io.StagedFiles`): an export that fails leaves DIR as it was.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..io import StagedFiles
from ..report.formatter import Formatter
from ..report.render import EXTENSIONS, file_names, render
from ..report.view_models import DocumentView
from .records import Listed, Stored
from .views import ledger_invoice_view

TEMPLATES = {"text": "invoice.txt.j2", "markdown": "invoice.md.j2", "html": "invoice.html.j2"}
FORMATS = ("json", "text", "markdown", "html", "csv")


def render_one(s: Stored, fmt: str, *, template_dir=None, issuer: str, locale: str) -> str:
    """One stored document in `fmt` (json: the stored body)."""
    if fmt == "json":
        return s.body + "\n"
    f = Formatter(s.doc.currency, locale)
    view = ledger_invoice_view(s.doc, f, issuer=issuer, status=s.status, voided_by=s.row.voided_by)
    doc = DocumentView(through=f.date(s.doc.issued), currency=s.doc.currency, lang=f.locale.replace("_", "-"),
                       invoices=[view])
    return render(TEMPLATES[fmt], template_dir, **doc.context())


def export(stored: list[Stored], listed: list[Listed], out_dir: Path, fmt: str, *, template_dir=None,
           issuer: str, locale: str) -> list[Path]:
    with StagedFiles(out_dir) as staged:
        if fmt == "csv":
            staged.write("documents.csv", _documents_csv(listed))
            staged.write("lines.csv", _lines_csv(stored))
            return staged.commit({"documents.csv": "documents.csv", "lines.csv": "lines.csv"})
        parts = []
        for i, s in enumerate(stored):
            staged.write(f"{i}.part", render_one(s, fmt, template_dir=template_dir, issuer=issuer, locale=locale))
            parts.append(f"{i}.part")
        return staged.commit(dict(zip(parts, file_names([s.doc.number for s in stored], EXTENSIONS[fmt]))))


def _csv(rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


def _documents_csv(listed: list[Listed]) -> str:
    rows = [["number", "kind", "contract", "customer", "period_start", "period_end", "issued", "due",
             "currency", "total", "status", "corrects", "voided_by"]]
    for d in listed:
        rows.append([d.number, d.kind, d.contract, d.customer, d.period.start, d.period.end, d.issued, d.due,
                     d.currency, d.total, d.status, d.corrects or "", d.voided_by or ""])
    return _csv(rows)


def _lines_csv(stored: list[Stored]) -> str:
    rows = [["number", "line", "kind", "charge", "description", "dimensions", "quantity", "unit_price",
             "amount", "corrects", "reason"]]
    for s in stored:
        n = 0
        for ln in s.doc.lines:
            n += 1
            rows.append([s.doc.number, n, ln.kind, ln.charge, ln.description,
                         json.dumps(ln.dimensions, sort_keys=True, ensure_ascii=False) if ln.dimensions else "",
                         ln.quantity, "" if ln.unit_price is None else ln.unit_price, ln.amount, "", ""])
        for c in s.doc.corrections:
            n += 1
            rows.append([s.doc.number, n, "adjustment", c.charge, c.description,
                         json.dumps(c.dimensions, sort_keys=True, ensure_ascii=False) if c.dimensions else "",
                         "" if c.quantity is None else c.quantity, "", c.amount, c.corrects, c.reason])
    return _csv(rows)
