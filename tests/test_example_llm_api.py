"""examples/llm-api (issue 15): the price list of an LLM API, billed as an independent
computation says it should be.

`compute_expected.py` works every invoice out in plain Python (Decimal, no ratecard import)
from the usage and the published prices; `expected.json` is what it wrote, in the shape of a
conformance case. Here ratecard's invoices must match it line by line, and the script must
still write exactly that file (so the figures cannot drift from the script that justifies them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from ratecard.cli import main

PROJECT = Path(__file__).resolve().parents[1] / "examples" / "llm-api"
CASE = json.loads((PROJECT / "expected.json").read_text(encoding="utf-8"))
MONEY = ("subtotal", "credits_applied", "total")


def _key(invoice: dict) -> tuple:
    return invoice["contract"], invoice["kind"], invoice["period"]["start"]


def test_invoices_match_the_independent_computation(monkeypatch, capsys):
    monkeypatch.chdir(PROJECT)
    capsys.readouterr()
    assert main(CASE["args"]) == 0
    got = {_key(i): i for i in json.loads(capsys.readouterr().out)["invoices"]}
    want = CASE["expect"]["invoices"]
    assert set(got) == {_key(i) for i in want}  # exact_invoice_set
    for expected in want:
        invoice = got[_key(expected)]
        for field in MONEY:
            assert Decimal(invoice[field]) == Decimal(expected[field]), (_key(expected), field)
        lines = {(ln["charge"], json.dumps(ln.get("dimensions") or {}, sort_keys=True)): ln
                 for ln in invoice["lines"]}
        for line in expected["lines"]:
            mine = lines[(line["charge"], json.dumps(line.get("dimensions") or {}, sort_keys=True))]
            for field in ("quantity", "unit_price", "amount"):
                if field in line:
                    assert Decimal(mine[field]) == Decimal(line[field]), (_key(expected), line["charge"], field)


def test_the_expected_figures_are_what_the_independent_script_computes(tmp_path):
    copy = tmp_path / "llm-api"
    shutil.copytree(PROJECT, copy)
    (copy / "expected.json").unlink()
    subprocess.run([sys.executable, "compute_expected.py"], cwd=copy, check=True)
    assert (copy / "expected.json").read_bytes() == (PROJECT / "expected.json").read_bytes()
