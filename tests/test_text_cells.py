"""`TextLayout`'s rows (report/text_cells) are the text the `invoice.txt.j2` macros they
replaced printed, byte for byte: the macros are kept here, and both render the same
cells, wrapped or not (long labels, notes, tiers with a flat fee, long totals labels)."""

from __future__ import annotations

import itertools

import jinja2
import pytest

from ratecard.report.render import wrap_lines
from ratecard.report.text_layout import text_layout
from ratecard.report.view_models import LineView, TierView

# the macros of invoice.txt.j2 before issue 17's rendering work, verbatim
MACROS = '''{% macro field(w, name, value) %}
{% for part in value | wrap(w.value) %}
{{ (name if loop.first else "").ljust(w.label) }}{{ part }}
{% endfor %}
{% endmacro %}
{% macro row(w, text, indent, quantity, unit_price, unit, amount) %}
{% set parts = text | wrap(w.description, indent, "  ") %}
{{ parts[0].ljust(w.description) }}  {{ quantity.rjust(w.quantity) }}  {{ unit_price.rjust(w.unit_price) }}  {{ unit.ljust(w.unit) }}  {{ amount.rjust(w.amount) }}
{% for part in parts[1:] %}
{{ part }}
{% endfor %}
{% endmacro %}
{% macro line_rows(w, line, indent) %}
{{ row(w, line.label, indent, line.quantity, line.unit_price, line.unit if line.unit_price else "", line.amount) -}}
{% for note in line.notes %}
{% for part in note | wrap(w.description, indent ~ "    ", "  ") %}
{{ part }}
{% endfor %}
{% endfor %}
{% for tier in line.tiers %}
{{ row(w, tier.range ~ (" " ~ tier.flat if tier.flat else ""), indent ~ "    ", tier.quantity, tier.unit_price, tier.unit, tier.amount) -}}
{% endfor %}
{% endmacro %}
{% macro total_row(w, label, amount) %}
{% set parts = label | wrap(w.totals_label) %}
{% for part in parts[:-1] %}
{{ part.rjust(w.totals_label) }}
{% endfor %}
{{ parts[-1].rjust(w.totals_label) }}  {{ amount.rjust(w.amount) }}
{% endmacro %}
'''

ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                         lstrip_blocks=True)
ENV.filters["wrap"] = wrap_lines
OLD = ENV.from_string(MACROS).module

LONG = ("model: gpt-4o-2024-08-06-with-a-very-long-deployment-name, region: europe-west-4-frankfurt, "
        "tier: enterprise-committed-use")
LABELS = ["", "Platform fee", "model: gpt-4o", LONG, "x" * 130, "a " * 60]
NOTES = [[], ["includes 20% off"], ["prorated: 15 of 31 days", "in advance for Jan 1 – 31, 2026, plan pro " * 3]]
TIERS = [[], [TierView("up to 100", "100", "free", "GB", "", "$0.00"),
              TierView("over 100 up to 1,000", "900", "$0.10", "GB", "+ $5.00 flat", "$95.00"),
              TierView("over 1,000 " + "and then some " * 8, "1,234,567.891", "$0.0225", "1K tokens", "",
                       "$27,777.78")]]


def _line(label, notes, tiers, unit_price="$0.0225") -> LineView:
    return LineView(kind="usage", charge="tokens", label=label, dimensions=[], dimensions_text="",
                    quantity="12,345,678.5", unit_price="" if tiers else unit_price, unit="1K tokens",
                    amount="$277.78", notes=notes, tiers=tiers)


CASES = [_line(label, notes, tiers) for label, notes, tiers in itertools.product(LABELS, NOTES, TIERS)]


@pytest.mark.parametrize("n", range(len(CASES)))
def test_line_rows_are_the_macros(n):
    line = CASES[n]
    w = text_layout([line], ["$1,234,567.89", "-$200.00"])
    for indent in ("", "  "):
        assert w.line_rows(line, indent) == str(OLD.line_rows(w, line, indent))
    assert w.row(line.label, "", line.quantity, line.unit_price, line.unit, line.amount) == str(
        OLD.row(w, line.label, "", line.quantity, line.unit_price, line.unit, line.amount))


@pytest.mark.parametrize("value", LABELS + ["customer " + LONG, "contract c1 · " + "Pro plan " * 12])
@pytest.mark.parametrize("name", ["From", "", "Credit note number", "A name longer than the key column"])
def test_fields_and_totals_are_the_macros(name, value):
    w = text_layout(CASES[:3], ["$1.00"])
    assert w.field(name, value) == str(OLD.field(w, name, value))
    assert w.fields((name, value), ("Due", value)) == str(OLD.field(w, name, value)) + str(OLD.field(w, "Due", value))
    label = name + ": " + value
    assert w.total_row(label, "-$200.00") == str(OLD.total_row(w, label, "-$200.00"))
    # remembered rows are the same the second time
    assert w.field(name, value) == str(OLD.field(w, name, value))
    assert w.total_row(label, "-$200.00") == str(OLD.total_row(w, label, "-$200.00"))


def test_frozen_gives_the_heap_back():
    """`report.heap.frozen` keeps what exists out of the collector's walks for its block
    only, also when the block fails (callers of `cli.main` live on: tests, services)."""
    import gc

    from ratecard.report.heap import frozen

    assert gc.get_freeze_count() == 0
    with frozen() as heap:
        assert gc.get_freeze_count() > 0
        kept = [object() for _ in range(10)]
        counted = gc.get_freeze_count()
        heap.again()
        assert gc.get_freeze_count() >= counted
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), frozen():
        raise RuntimeError("a command that fails")
    assert gc.get_freeze_count() == 0 and kept
