"""`TextLayout.lines_rows`: the rows of a list of lines in one call, as `line_rows` of each in turn
(what invoice.txt.j2 printed with a loop of `line_rows` calls)."""

from __future__ import annotations

import jinja2

from ratecard.report.text_layout import text_layout
from test_text_cells import CASES


def test_lines_rows_are_line_rows_of_each():
    w = text_layout(CASES, ["$1,234,567.89"])
    for indent in ("", "  "):
        assert w.lines_rows(CASES, indent) == "".join(w.line_rows(line, indent) for line in CASES)
    assert w.lines_rows([]) == ""


def test_the_loop_it_replaces_prints_the_same():
    env = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    loop = env.from_string('{% for line in lines %}\n{{ w.line_rows(line, "  ") -}}\n{% endfor %}\nend\n')
    once = env.from_string('{{ w.lines_rows(lines, "  ") -}}\nend\n')
    w = text_layout(CASES, ["$1.00"])
    for lines in (CASES, CASES[:1], []):
        assert once.render(w=w, lines=lines) == loop.render(w=w, lines=lines)
