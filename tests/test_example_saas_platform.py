"""examples/saas-platform (issue 15): a SaaS platform's price list -- fees in advance on
calendar months, a plan change mid-month, a launch discount and a welcome offer, a spend
cap, allowances and scoped, prioritised credits -- billed as an independent computation
says it should be.

`compute_expected.py` works every invoice out in plain Python (Decimal and Fraction, no
ratecard import) from the usage and the published prices; `expected.json` is what it wrote,
in the shape of a conformance case. Here ratecard's invoices must match it: every invoice
(the opening invoices of fees in advance included) with its dates and money, every line
(an advance fee line with the days it pays for and its plan; the lines of the period lumen's
upgrade splits, each for its plan part), every credit draw in burn order, and what the
allowances and discounts leave unused. The script must still write exactly that file.

Two shapes differ without money in them (the example's README says so): `expected.json`
gives every line a `plan` and a `service_period`, ratecard only advance fee lines and the
lines of a split period; its `prorated` is days (`"22/31 days"`), ratecard's the share.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from ratecard.billing import evaluate
from ratecard.cli import main
from ratecard.compiler import compile_sources
from ratecard.usage.reference import aggregate_usage

PROJECT = Path(__file__).resolve().parents[1] / "examples" / "saas-platform"
CASE = json.loads((PROJECT / "expected.json").read_text(encoding="utf-8"))
MONEY = ("subtotal", "credits_applied", "total")


def _key(invoice: dict) -> tuple:
    return invoice["contract"], invoice["kind"], invoice["period"]["start"]


def _billed(monkeypatch, capsys) -> dict:
    monkeypatch.chdir(PROJECT)
    capsys.readouterr()
    assert main(CASE["args"]) == 0
    return json.loads(capsys.readouterr().out)


def _for(line: dict) -> str | None:
    """The first day a line is for, where ratecard says it: an advance fee's service period,
    a plan part's segment."""
    return (line.get("service_period") or line.get("segment") or {}).get("start")


def _match(invoice: dict, want: dict) -> dict:
    """The line of `invoice` that `want` describes: same charge and dimensions and, where two
    plan parts (or the next period's parts) each have one, the part it is for."""
    same = [ln for ln in invoice["lines"] if ln["charge"] == want["charge"] and ln["dimensions"] == want["dimensions"]]
    if len(same) > 1:
        same = [ln for ln in same if _for(ln) == want["service_period"]["start"]]
    assert len(same) == 1, (_key(invoice), want["charge"], want["dimensions"], want.get("service_period"))
    return same[0]


def _is_allowance(drawn: dict) -> bool:
    """compute_expected.py names a period's allowance draw `allowance K` (K: the period)."""
    return drawn["grant"].startswith("allowance ")


def test_invoices_match_the_independent_computation(monkeypatch, capsys):
    got = {_key(i): i for i in _billed(monkeypatch, capsys)["invoices"]}
    want = CASE["expect"]["invoices"]
    assert set(got) == {_key(i) for i in want}  # exact_invoice_set
    for expected in want:
        invoice = got[_key(expected)]
        for field in ("period", "issued", "due"):
            assert invoice[field] == expected[field], (_key(expected), field)
        for field in MONEY:
            assert Decimal(invoice[field]) == Decimal(expected[field]), (_key(expected), field)
        if "lines" not in expected:  # a credit purchase: its money is all there is to it
            continue
        # every line, in invoice order (line kinds and charges, the old plan part's first)
        assert [(ln["kind"], ln["charge"], ln["dimensions"]) for ln in invoice["lines"]] == [
            (ln["kind"], ln["charge"], ln["dimensions"]) for ln in expected["lines"]], _key(expected)
        split = any(ln.get("segment") for ln in invoice["lines"])
        for line in expected["lines"]:
            mine = _match(invoice, line)
            for field in ("quantity", "amount"):
                if field in line:
                    assert Decimal(mine[field]) == Decimal(line[field]), (_key(expected), line["charge"], field)
            if line["kind"] == "fee":  # in advance: the days it pays for and the plan of that part
                assert mine["service_period"] == line["service_period"], (_key(expected), line["charge"])
                assert mine["plan"] == line["plan"], (_key(expected), line["charge"])
            elif line["kind"] == "usage" and split:  # a plan part's usage: its plan and its days
                assert mine["plan"] == line["plan"], (_key(expected), line["charge"])
                assert mine["segment"] == line["service_period"], (_key(expected), line["charge"])
            elif line["kind"] == "usage":  # one part: the invoice's plan, over its period
                assert "plan" not in mine and invoice["plan"] == line["plan"], (_key(expected), line["charge"])
                assert line["service_period"] == expected["period"], (_key(expected), line["charge"])


def test_credits_burn_as_the_independent_computation_says(monkeypatch, capsys):
    doc = _billed(monkeypatch, capsys)
    got = {_key(i): i for i in doc["invoices"]}
    for drawn in CASE["notes"]["credits_drawn"]:
        invoice = got[(drawn["contract"], drawn["kind"], drawn["period"])]
        # in burn order: the allowances (old plan part first), then the grants by priority
        assert [(c["description"], Decimal(c["applied"])) for c in invoice["credits"]] == [
            (c.get("description", c["grant"]), Decimal(c["applied"])) for c in drawn["credits"]], _key(invoice)
        for mine, theirs in zip(invoice["credits"], drawn["credits"]):
            assert mine.get("kind", "grant") == ("allowance" if _is_allowance(theirs) else "grant")
            if "remaining" in theirs:
                assert Decimal(mine["remaining"]) == Decimal(theirs["remaining"]), _key(invoice)
    # every grant's balance at --through is its last draw's remaining
    last = {}
    for invoice in sorted(doc["invoices"], key=lambda i: (i["issued"], i["kind"] != "advance")):
        for c in invoice["credits"]:
            last[(invoice["contract"], c["description"])] = Decimal(c["remaining"])
    for balance in CASE["notes"]["grant_balances_at_through"]:
        assert last[(balance["contract"], balance["grant"])] == Decimal(balance["remaining"]), balance


def test_what_allowances_and_discounts_leave_unused_is_what_the_computation_leaves(monkeypatch, capsys):
    doc = _billed(monkeypatch, capsys)
    lost = CASE["notes"]["unused_allowances_and_discounts"]
    # every period's allowance, each plan part's (lumen's March: Pro's 4.52 and Team's 5.48) and
    # every discount's leftover: reported when positive, never as breakage
    assert sorted((u["contract"], Decimal(u["granted"]), Decimal(u["unused"])) for u in lost
                  if "allowance" in u and Decimal(u["unused"]) > 0) == sorted(
        (u["contract"], Decimal(u["granted"]), Decimal(u["unused"])) for u in doc.get("unused_allowances") or [])
    assert sorted((u["contract"], Decimal(u["unused"])) for u in lost if "discount" in u) == sorted(
        (u["contract"], Decimal(u["unused"])) for u in doc.get("unused_discounts") or [])
    assert not doc.get("breakage")


def _evaluate(plans: str):
    sources = [(name, (PROJECT / name).read_text(encoding="utf-8")) for name in ("meters.pricing", "contracts.pricing")]
    compiled = compile_sources([*sources, ("plans.pricing", plans)])
    assert compiled.ok, compiled.diagnostics
    return evaluate(compiled.plan, [str(PROJECT / "usage.jsonl")], dt.date(2026, 4, 1), aggregator=aggregate_usage)


def test_every_event_is_billed_without_a_diagnostic():
    ev = _evaluate((PROJECT / "plans.pricing").read_text(encoding="utf-8"))
    assert ev.ok and not ev.diagnostics, ev.diagnostics
    assert ev.run.events.balanced and ev.run.events.billed == ev.run.events.read == 479


def test_the_allowances_change_only_credits():
    # without the plans' allowances, every invoice has the same lines and subtotal (what the
    # allowances pay is a credit, after the subtotal); only credits and totals move
    plans = re.sub(r"  allowance \$10 per month \{.*?\n  \}\n", "", (PROJECT / "plans.pricing").read_text(
        encoding="utf-8"), flags=re.S)
    assert "allowance" not in plans
    doc = json.loads(_evaluate(plans).run.model_dump_json())
    got = {_key(i): i for i in doc["invoices"]}
    for expected in CASE["expect"]["invoices"]:
        invoice = got[_key(expected)]
        assert (invoice["issued"], invoice["due"]) == (expected["issued"], expected["due"])
        assert Decimal(invoice["subtotal"]) == Decimal(expected["subtotal"]), _key(expected)
        for line in expected.get("lines", []):
            assert Decimal(_match(invoice, line)["amount"]) == Decimal(line["amount"]), (_key(expected), line)
        assert all(c.get("kind") != "allowance" for c in invoice.get("credits", []))


def test_the_expected_figures_are_what_the_independent_script_computes(tmp_path):
    copy = tmp_path / "saas-platform"
    shutil.copytree(PROJECT, copy)
    (copy / "expected.json").unlink()
    subprocess.run([sys.executable, "compute_expected.py"], cwd=copy, check=True)
    assert (copy / "expected.json").read_bytes() == (PROJECT / "expected.json").read_bytes()


def test_the_project_checks_clean_and_its_test_blocks_pass(capsys):
    capsys.readouterr()
    assert main(["check", str(PROJECT)]) == 0
    out, err = capsys.readouterr()
    assert out + err == "", out + err
    assert main(["test", str(PROJECT)]) == 0
    assert "test result: ok. 7 passed; 0 failed; 0 errors" in capsys.readouterr().out


def test_the_usage_generator_is_deterministic(tmp_path, monkeypatch):
    script = PROJECT / "generate_usage.py"
    spec = importlib.util.spec_from_file_location("gen_saas_platform", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path / "usage.jsonl")
    module.main()
    assert (tmp_path / "usage.jsonl").read_bytes() == (PROJECT / "usage.jsonl").read_bytes()
