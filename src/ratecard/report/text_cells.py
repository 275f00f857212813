"""The rows of the 100-column text layout, laid out in Python.

`invoice.txt.j2` prints a header field, a table row or a totals row per call
of a `TextLayout` method (`w.field(...)`, `w.row(...)`, `w.line_rows(...)`,
`w.total_row(...)`), each the text one of its Jinja macros used to produce,
byte for byte. Jinja's macro calls, filters and `.ljust()`/`.rjust()` calls
each go through the template runtime, and an invoice made a few hundred of
them: a 20,000-invoice run spent most of its rendering there (issue 17). A
row is the same text for the same cells and widths, so header fields and
totals rows, which repeat across invoices, are remembered.

`wrap_lines` is the `wrap` filter of the templates (`render`).
"""

from __future__ import annotations

import textwrap

_KEPT = 50_000  # rows remembered, of each kind, before starting over


def wrap_lines(value, width: int, indent: str = "", hang: str = "") -> list[str]:
    """A value split into lines of at most `width` characters, each starting with
    `indent`, continuation lines with `indent` + `hang` (never an empty list)."""
    text = " ".join(str(value).split())
    width = max(int(width), len(indent + hang) + 1)
    if text and len(indent) + len(text) <= width:
        return [indent + text]  # what textwrap gives a text that fits, without its cost (most cells)
    lines = textwrap.wrap(text, width=width, initial_indent=indent,
                          subsequent_indent=indent + hang, break_long_words=True,
                          break_on_hyphens=False)
    return lines or [indent.rstrip()]


_fields: dict[tuple, str] = {}
_totals: dict[tuple, str] = {}


def field_rows(label: int, value_width: int, name, value) -> str:
    """A header field: `name` in a `label`-wide key column, the value wrapped to `value_width`."""
    if not (type(name) is str and type(value) is str):  # noqa: E721 - only plain texts are remembered
        return _field_rows(label, value_width, name, value)
    key = (label, value_width, name, value)
    found = _fields.get(key)
    if found is None:
        found = _field_rows(label, value_width, name, value)
        if len(_fields) >= _KEPT:
            _fields.clear()
        _fields[key] = found
    return found


def _field_rows(label: int, value_width: int, name, value) -> str:
    name = str(name)
    return "".join(f"{(name if i == 0 else '').ljust(label)}{part}\n"
                   for i, part in enumerate(wrap_lines(value, value_width)))


def table_row(w, text, indent: str, quantity: str, unit_price: str, unit: str, amount: str) -> str:
    """A row of the lines table: the description wrapped (continuation lines alone), the
    other four columns on its first line."""
    description = w.description
    parts = wrap_lines(text, description, indent, "  ")
    first = (f"{parts[0].ljust(description)}  {quantity.rjust(w.quantity)}  {unit_price.rjust(w.unit_price)}"
             f"  {unit.ljust(w.unit)}  {amount.rjust(w.amount)}\n")
    if len(parts) == 1:
        return first
    return first + "".join(f"{part}\n" for part in parts[1:])


def line_rows(w, line, indent: str) -> str:
    """An invoice line's rows: the line, its notes below the description, its tiers."""
    out = [table_row(w, line.label, indent, line.quantity, line.unit_price,
                     line.unit if line.unit_price else "", line.amount)]
    if line.notes:
        note_indent = indent + "    "
        for note in line.notes:
            out.extend(f"{part}\n" for part in wrap_lines(note, w.description, note_indent, "  "))
    if line.tiers:
        tier_indent = indent + "    "
        for tier in line.tiers:
            out.append(table_row(w, tier.range + (" " + tier.flat if tier.flat else ""), tier_indent,
                                 tier.quantity, tier.unit_price, tier.unit, tier.amount))
    return "".join(out)


def total_row(totals_label: int, amount_width: int, label, amount: str) -> str:
    """A totals row: the label right-aligned where the amount column starts (wrapped
    lines above it), then the amount."""
    if not (type(label) is str and type(amount) is str):  # noqa: E721 - only plain texts are remembered
        return _total_row(totals_label, amount_width, label, amount)
    key = (totals_label, amount_width, label, amount)
    found = _totals.get(key)
    if found is None:
        found = _total_row(totals_label, amount_width, label, amount)
        if len(_totals) >= _KEPT:
            _totals.clear()
        _totals[key] = found
    return found


def _total_row(totals_label: int, amount_width: int, label, amount: str) -> str:
    parts = wrap_lines(label, totals_label)
    return ("".join(f"{part.rjust(totals_label)}\n" for part in parts[:-1])
            + f"{parts[-1].rjust(totals_label)}  {amount.rjust(amount_width)}\n")
