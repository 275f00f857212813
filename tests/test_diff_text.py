"""What `ratecard diff` writes: the invoices' money formatter in every currency, exact
percentages, and sentences that read (no "this line was bills")."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ratecard.commands.diff as diff_command
from ratecard.cli import main
from ratecard.workflows.diff_view import money_text, percent
from ratecard.reference import aggregate_usage

from billing_helpers import write_events


@pytest.fixture(autouse=True)
def reference_aggregator(monkeypatch):
    monkeypatch.setattr(diff_command, "AGGREGATOR", aggregate_usage)


EURO = """
currency EUR
meter MINUTES {{ event "call"  sum minutes  dimensions country }}
plan voice {{
  billing monthly
  fee "Numbers" : {fee} EUR per month
  charge MINUTES : {rate} EUR per minute
}}
contract berlin {{ customer "cust_berlin"  plan voice  starts 2026-01-01 }}
"""


def _events(tmp_path):
    return write_events(tmp_path / "usage.jsonl", [
        {"id": f"e{i}", "type": "call", "customer": "cust_berlin", "time": f"2026-01-{i + 2:02d}T10:00:00Z",
         "properties": {"minutes": "41.499999987", "country": "de"}} for i in range(3)])


def _run(tmp_path, monkeypatch, capsys, old, new, fmt="text"):
    (tmp_path / "old.pricing").write_text(old, encoding="utf-8")
    (tmp_path / "new.pricing").write_text(new, encoding="utf-8")
    _events(tmp_path)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(["diff", "old.pricing", "new.pricing", "--usage", "usage.jsonl", "--through", "2026-02-01",
                 "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_a_euro_project_is_written_in_euros(tmp_path, monkeypatch, capsys):
    """Before: `fee changed: $50 → $60`, and `1,234.50 EUR` columns beside `$` for USD."""
    out = _run(tmp_path, monkeypatch, capsys, EURO.format(fee=50, rate="0.012"), EURO.format(fee=60, rate="0.015"))
    assert "$" not in out
    assert "fee changed: €50.00 → €60.00 per month" in out
    assert "rule changed: 0.012 EUR per minute → 0.015 EUR per minute" in out  # a rule, as written
    assert "€50.00 → €60.00 (+€10.00)" in out
    assert "quantity 124.499999961" in out  # every digit billed, never rounded for display
    md = _run(tmp_path, monkeypatch, capsys, EURO.format(fee=50, rate="0.012"), EURO.format(fee=60, rate="0.015"),
              "markdown")
    assert "$" not in md.replace("ratecard diff", "") and "€" in md


def test_money_text_is_the_invoices_formatter():
    assert money_text(Decimal("1234.50"), "USD") == "$1,234.50"
    assert money_text(Decimal("-3.00"), "USD", sign=True) == "-$3.00"
    assert money_text(Decimal("3.00"), "USD", sign=True) == "+$3.00"
    assert money_text(Decimal("1234.50"), "EUR") == "€1,234.50"
    assert money_text(Decimal("1235"), "JPY") == "¥1,235"


SPLIT = """
meter M {{ event "call"  sum minutes }}
plan p {{
  billing monthly
  charge M : $1 per minute
  {dated}
}}
contract c {{ customer "cust_berlin"  plan p  starts 2026-01-01 }}
"""


def test_a_split_period_reads(tmp_path, monkeypatch, capsys):
    """Before: "this line was bills the whole period"."""
    old = SPLIT.format(dated="")
    new = SPLIT.format(dated="charge M : $2 per minute from 2026-01-03")
    out = json.loads(_run(tmp_path, monkeypatch, capsys, old, new, "json"))
    reasons = [r["text"] for ln in out["lines"] for r in ln["reasons"]]
    assert any(r.endswith("this line billed the whole period") for r in reasons), reasons
    assert any(r.endswith("this line now bills segment 2026-01-03 to 2026-02-01") for r in reasons), reasons
    assert not any("was bills" in r or "now bills bills" in r for r in reasons)


def _half_up_tenth(value: Fraction) -> Fraction:
    scaled = abs(value) * 10
    whole = int(scaled + Fraction(1, 2))  # floor(x + 1/2): ties away from zero
    return (whole if value >= 0 else -whole) / Fraction(10)


amounts = st.decimals(min_value=Decimal("-1e26"), max_value=Decimal("1e26"), places=2,
                      allow_nan=False, allow_infinity=False)


@given(amounts, amounts)
def test_percentages_are_computed_exactly(old, new):
    """Before: the default 28-digit context rounded, or raised InvalidOperation on large amounts."""
    got = percent(old, new)
    if old == 0:
        assert got == (Decimal("0.0") if new == 0 else None)
        return
    expected = _half_up_tenth((Fraction(new) - Fraction(old)) * 100 / Fraction(old))
    assert Fraction(got) == expected


def test_a_percentage_the_default_context_got_wrong():
    assert percent(Decimal("1.00"), Decimal("12345678901234567890123457.78")) == \
        Decimal("1234567890123456789012345678.0")
    assert percent(Decimal("3.00"), Decimal("3.01")) == Decimal("0.3")
