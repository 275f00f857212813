"""The largest amounts the language and the usage reader accept are billed exactly.

A quantity near DECIMAL(38, 18)'s limit times a price near the compiler's bound
(and a 1000% surcharge) makes a line of 36 integer digits. Python's default
decimal context has 28 significant digits: a subtotal summed in it was rounded
silently (`1.099999999999988999989000000E+33` beside a line of
`1099999999999988999989000000000000.11`), and Babel's formatting of it failed
as an internal error. Every command and `evaluate` compute in `money.EXACT`.
"""

from __future__ import annotations

import decimal
import json

from ratecard.cli import main

from billing_helpers import D, compile_text, event, run, write_events

PROJECT = """
meter T { event "t"  sum tokens  rates { default : $999_999_999_999.99 } }
plan p { billing monthly  charge T }
contract c { customer "c"  plan p  starts 2026-01-01  override T : 1000% up }
"""
AMOUNT = "1099999999999988999989000000000000.11"  # 99999999999999999999 x 999999999999.99 x 11


def _usage(tmp_path):
    return write_events(tmp_path / "u.jsonl", [event(1, "c", "2026-01-05T00:00:00Z", type_="t",
                                                     tokens="99999999999999999999")])


def test_a_library_caller_in_the_default_context_gets_exact_totals(tmp_path):
    assert decimal.getcontext().prec == 28  # what a caller of `evaluate` has unless it says otherwise
    ev = run(compile_text(PROJECT), [_usage(tmp_path)], "2026-02-01")
    (inv,) = [i for i in ev.run.invoices if i.kind == "usage"]
    assert [ln.amount for ln in inv.lines] == [D(AMOUNT)]
    assert inv.subtotal == inv.total == D(AMOUNT)


def test_every_format_prints_the_exact_amount(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.pricing").write_text(PROJECT, encoding="utf-8")
    _usage(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01"]
    assert main(args) == 0
    (inv,) = json.loads(capsys.readouterr().out)["invoices"]
    assert inv["lines"][0]["amount"] == inv["subtotal"] == inv["total"] == AMOUNT
    grouped = "$1,099,999,999,999,988,999,989,000,000,000,000.11"
    for fmt in ("text", "markdown", "html"):
        assert main(args + ["--format", fmt]) == 0, fmt
        out, err = capsys.readouterr()
        assert "internal error" not in err
        assert out.count(grouped) >= 3, fmt  # the line, the subtotal and the total
