"""examples/object-storage (issue 15): an object-storage price list -- time-weighted GB-months
(`weighted gigabytes per month`), pooled tiers, credits ordered by priority and scope -- billed as
an independent computation says it should be.

`compute_expected.py` works every invoice out in plain Python (Fraction for the time integral,
Decimal for money, no ratecard import) from the usage and the published prices; `expected.json`
is what it wrote, in the shape of a conformance case. Here ratecard's invoices must match it line
by line, and the script must still write exactly that file (so the figures cannot drift from the
script that justifies them). As tests/test_example_llm_api.py does for examples/llm-api.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from ratecard.cli import main

PROJECT = Path(__file__).resolve().parents[1] / "examples" / "object-storage"
CASE = json.loads((PROJECT / "expected.json").read_text(encoding="utf-8"))
MONEY = ("subtotal", "credits_applied", "total")


def _key(invoice: dict) -> tuple:
    return invoice["contract"], invoice["kind"], invoice["period"]["start"]


def _invoices(monkeypatch, capsys) -> dict:
    monkeypatch.chdir(PROJECT)
    capsys.readouterr()
    assert main(CASE["args"]) == 0
    return json.loads(capsys.readouterr().out)


def test_invoices_match_the_independent_computation(monkeypatch, capsys):
    run = _invoices(monkeypatch, capsys)
    got = {_key(i): i for i in run["invoices"]}
    want = CASE["expect"]["invoices"]
    assert set(got) == {_key(i) for i in want}  # exact_invoice_set
    for expected in want:
        invoice = got[_key(expected)]
        for field in MONEY:
            assert Decimal(invoice[field]) == Decimal(expected[field]), (_key(expected), field)
        for field in ("issued", "due"):
            assert invoice[field] == expected[field], (_key(expected), field)
        lines = {(ln["charge"], json.dumps(ln.get("dimensions") or {}, sort_keys=True)): ln
                 for ln in invoice["lines"]}
        assert len(lines) == len(invoice["lines"]) == len(expected["lines"]), _key(expected)
        for line in expected["lines"]:
            mine = lines[(line["charge"], json.dumps(line.get("dimensions") or {}, sort_keys=True))]
            for field in ("quantity", "unit_price", "amount"):
                if field in line:
                    assert Decimal(mine[field]) == Decimal(line[field]), (_key(expected), line["charge"], field)
    breakage = {}
    for b in run["breakage"]:
        breakage[b["contract"]] = breakage.get(b["contract"], Decimal(0)) + Decimal(b["amount"])
    assert breakage == {b["contract"]: Decimal(b["amount"]) for b in CASE["expect"]["breakage"]}


def test_the_storage_lines_show_their_nine_places_and_the_pools_add_up(monkeypatch, capsys):
    run = _invoices(monkeypatch, capsys)
    pools = {(p["contract"], p["period"]): p for p in CASE["notes"]["pools"]}
    for invoice in run["invoices"]:
        storage = [ln for ln in invoice["lines"] if ln["charge"] == "STORAGE"]
        assert all(len(ln["quantity"].partition(".")[2]) == 9 for ln in storage)
        pool = pools[(invoice["contract"], invoice["period"]["start"])]
        assert sum(Decimal(ln["quantity"]) for ln in storage) == Decimal(pool["pool_quantity"])
        assert sum(Decimal(ln["amount"]) for ln in storage) == Decimal(pool["pool_total"])


def test_the_expected_figures_are_what_the_independent_script_computes(tmp_path):
    copy = tmp_path / "object-storage"
    shutil.copytree(PROJECT, copy)
    (copy / "expected.json").unlink()
    subprocess.run([sys.executable, "compute_expected.py"], cwd=copy, check=True)
    assert (copy / "expected.json").read_bytes() == (PROJECT / "expected.json").read_bytes()


def test_the_examples_own_tests_pass(capsys):
    capsys.readouterr()
    assert main(["test", str(PROJECT)]) == 0, capsys.readouterr()
