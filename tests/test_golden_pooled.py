"""Golden invoices and explain for pooled tiers (tests/golden/pooled/).

Two contracts over two months: acme's `pooled graduated` pool of three buckets (a
fourth, `cold`, priced by an override, stays out of the pool), with a remainder tie;
initech's `pooled volume` pool whose total crosses a tier bound, with a minimum.
Every figure is worked out by hand below before the golden files are compared.
"""

from __future__ import annotations

import json
from decimal import Decimal

from ratecard.cli import main

from golden_check import GOLDEN, assert_golden

PROJECT = GOLDEN / "pooled"


def _run(monkeypatch, capsys, *args: str) -> str:
    monkeypatch.chdir(PROJECT)
    capsys.readouterr()
    code = main([args[0], "project.pricing", "--usage", "usage.jsonl", "--through", "2026-03-01", *args[1:]])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _amounts(inv: dict) -> list[tuple[str | None, str]]:
    return [(ln["dimensions"].get("bucket"), ln["amount"]) for ln in inv["lines"]]


def test_pooled_invoices(monkeypatch, capsys, update_golden):
    text_json = _run(monkeypatch, capsys, "invoice", "--format", "json")
    doc = json.loads(text_json)
    by = {i["number"]: i for i in doc["invoices"]}
    # acme January: pool backups 345 + 345 = 690, logs 690, media 602 = 1,982 (cold is the
    # override's, 5,000 x 0.004 = 20.00). 1,000 x 0.023 + 982 x 0.022 + $1 flat = 45.604 -> 45.60.
    # 4,560 cents x 690 / 1,982 = 1,587.487 (twice), x 602 / 1,982 = 1,385.025: floors 4,559,
    # one cent left, backups and logs tie at .487 -> backups, which comes first.
    jan = by["acme-20260101"]
    assert _amounts(jan) == [("backups", "15.88"), ("cold", "20.00"), ("logs", "15.87"), ("media", "13.85")]
    assert jan["lines"][0]["pool"] == {"quantity": "1982", "amount": "45.60", "lines": 3}
    assert "pool" not in jan["lines"][1] and jan["lines"][1]["unit_price"] == "0.004"
    assert jan["total"] == "65.60"
    # acme February: a pool of one line, 1,200: 23 + 200 x 0.022 + 1 = 28.40; cold 0.40
    assert _amounts(by["acme-20260201"]) == [("cold", "0.40"), ("logs", "28.40")]
    # initech January: 1,500 + 600 = 2,100 > 2,000: every unit at $0.01 = 21.00 -> 15.00 / 6.00
    # (alone, each bucket would be at $0.0125); the $25 minimum adds 4.00
    assert _amounts(by["initech-20260101"]) == [("a", "15.00"), ("b", "6.00"), (None, "4.00")]
    # initech February: 1,999.9 x 0.0125 = 24.99875 -> 25.00 (half up); 2,500 cents x 1,500 / 1,999.9
    # = 1,875.094, x 499.9 / 1,999.9 = 624.906: floors 2,499, the cent left to b's .906
    assert _amounts(by["initech-20260201"]) == [("a", "18.75"), ("b", "6.25")]
    for inv in doc["invoices"]:
        pooled = [ln for ln in inv["lines"] if "pool" in ln]
        assert sum(Decimal(ln["amount"]) for ln in pooled) == Decimal(pooled[0]["pool"]["amount"])
        assert Decimal(inv["subtotal"]) == sum(Decimal(ln["amount"]) for ln in inv["lines"])
    assert_golden("pooled/invoices.expected.json", text_json, update_golden)
    assert_golden("pooled/invoices.expected.txt", _run(monkeypatch, capsys, "invoice", "--format", "text"),
                  update_golden)


def test_pooled_explain(monkeypatch, capsys, update_golden):
    out = _run(monkeypatch, capsys, "explain", "--contract", "acme")
    assert "pool: 3 lines of STORAGE, 1982 units" in out
    assert "pool total 45.60 (exact 45.604, rounded once)" in out
    assert "share 45.60 x 690 / 1982 = " in out and "-> 15.88 (+0.01 by largest remainder" in out
    assert_golden("pooled/explain-acme.expected.txt", out, update_golden)
