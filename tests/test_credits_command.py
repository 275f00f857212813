"""`ratecard credits`: each grant's history (granted, draw-downs, expiry, breakage) and progress."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest

from ratecard.billing import evaluate
from ratecard.report.credit_history import CreditLedger
from ratecard.progress import Progress
from ratecard.usage.reference import aggregate_usage

from billing_helpers import compile_text
from golden_check import assert_golden
from render_helpers import (
    CASES,
    case_args,
    needs_conformance,
    reference_engine,  # noqa: F401 - a fixture
    run_cli,
)

pytestmark = pytest.mark.usefixtures("reference_engine")

WITH_GRANTS = [c for c in CASES if any("credit" in p.read_text(encoding="utf-8")
                                       for p in c.glob("*.pricing"))
               or (c / "contracts.json").exists()]


@needs_conformance
@pytest.mark.parametrize("case", WITH_GRANTS, ids=[c.name for c in WITH_GRANTS])
def test_golden_credits_text(case, update_golden, monkeypatch, capsys):
    code, out, err = run_cli(case_args(case, "credits"), case, monkeypatch, capsys)
    assert code == 0, err
    assert "Traceback" not in err
    assert_golden(f"render/credits/{case.name}.txt", out, update_golden)
    for line in out.splitlines():
        assert len(line) <= 100 and line == line.rstrip(), line


@needs_conformance
@pytest.mark.parametrize("case", WITH_GRANTS, ids=[c.name for c in WITH_GRANTS])
def test_credits_json_balances(case, monkeypatch, capsys):
    code, out, _ = run_cli(case_args(case, "credits", fmt="json"), case, monkeypatch, capsys)
    assert code == 0
    ledger = CreditLedger.model_validate_json(out)
    _, run_out, _ = run_cli(case_args(case, "invoice"), case, monkeypatch, capsys)
    run = json.loads(run_out)
    applied: dict[str, Decimal] = {}
    for inv in run["invoices"]:
        for c in inv["credits"]:
            applied[c["grant"]] = applied.get(c["grant"], Decimal(0)) + Decimal(c["applied"])
    for g in ledger.grants:
        balance = g.amount
        for d in g.draws:
            balance -= d.amount
            assert d.balance == balance
        assert g.balance == balance and g.used == g.amount - g.balance
        assert applied.get(g.grant, Decimal(0)) == g.used, "the ledger and the invoices agree"
        if g.status == "closed":
            assert g.breakage == g.balance
            assert any(b["grant"] == g.grant and Decimal(b["amount"]) == g.breakage for b in run["breakage"])
        if g.price is not None:
            assert g.purchase_invoice in {i["number"] for i in run["invoices"] if i["kind"] == "credit_purchase"}


@needs_conformance
def test_breakage_is_shown(monkeypatch, capsys):
    case = next(c for c in CASES if c.name.startswith("03"))
    code, out, _ = run_cli(case_args(case, "credits"), case, monkeypatch, capsys)
    assert code == 0
    assert "expired" in out and "breakage" in out and "free grant" in out
    code, out, _ = run_cli(case_args(case, "credits", fmt="json"), case, monkeypatch, capsys)
    grant = json.loads(out)["grants"][0]
    assert grant["status"] == "closed" and Decimal(grant["breakage"]) > 0


@needs_conformance
def test_contract_filter(monkeypatch, capsys):
    case = next(c for c in CASES if c.name.startswith("06"))
    code, out, _ = run_cli(case_args(case, "credits", fmt="json") + ["--contract", "acme"], case,
                           monkeypatch, capsys)
    assert code == 0 and {g["contract"] for g in json.loads(out)["grants"]} == {"acme"}
    code, _, err = run_cli(case_args(case, "credits") + ["--contract", "acm"], case, monkeypatch, capsys)
    assert code == 2 and "did you mean `acme`" in err


def test_no_grants(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.pricing").write_text(
        'meter M { event "e" count rates per call { default : $1 } }\n'
        'plan p { charge M }\ncontract c { customer "x" plan p starts 2026-01-01 }\n', encoding="utf-8")
    (tmp_path / "u.jsonl").write_text("", encoding="utf-8")
    code, out, _ = run_cli(["credits", "p.pricing", "--usage", "u.jsonl", "--through", "2026-03-01"],
                           tmp_path, monkeypatch, capsys)
    assert code == 0 and "No credit grants." in out


# ----------------------------------------------------------------- progress on stderr


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_only_on_a_terminal_after_the_delay():
    tty = _Tty()
    with Progress("billing", stream=tty, delay=0) as progress:
        progress.start()
        progress(0, 3, "acme")
        progress(1, 3, "globex")
    text = tty.getvalue()
    assert "\rbilling: 1/3 globex" in text
    assert text.endswith("\r"), "the line is cleared when done"

    slow = _Tty()
    with Progress("billing", stream=slow, delay=60) as progress:
        progress.start()
        progress(0, 1, "acme")
    assert slow.getvalue() == "", "quick work shows nothing"

    pipe = io.StringIO()
    with Progress("billing", stream=pipe, delay=0) as progress:
        progress(0, 1, "acme")
    assert pipe.getvalue() == "", "nothing when stderr is not a terminal"


def test_evaluate_reports_progress_per_contract():
    plan = compile_text('meter M { event "e" count rates per call { default : $1 } }\n'
                        'plan p { charge M }\n'
                        'contract a { customer "a" plan p starts 2026-01-01 }\n'
                        'contract b { customer "b" plan p starts 2026-01-01 }\n')
    calls = []
    ev = evaluate(plan, [], dt.date(2026, 2, 1), aggregator=aggregate_usage,
                  progress=lambda done, total, label: calls.append((done, total, label)))
    assert ev.ok
    assert calls == [(0, 2, "a"), (1, 2, "b")]


# ----------------------------------------------------------------- one notion of a grant's status


GRANTS = """
meter CALLS { event "call"  count }
plan p { billing monthly  payment net 7  charge CALLS : $1 per call }
contract a {
  customer "ca"  plan p  starts 2026-01-01
  credit $500 { description "Q1 prepaid commitment"  expires 2026-03-15  price $400 }
}
contract b {
  customer "cb"  plan p  starts 2026-01-01  ends 2026-03-20
  credit $500 { description "launch"  expires 2026-03-31 }
}
"""


def _grants_project(tmp_path):
    (tmp_path / "p.pricing").write_text(GRANTS, encoding="utf-8")
    events = [{"id": f"{c}{d}{i}", "type": "call", "customer": c, "time": f"2026-0{d}-05T00:00:00Z",
               "properties": {}} for c in ("ca", "cb") for d in (1, 2, 3) for i in range(100)]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


def _credits(tmp_path, monkeypatch, capsys, through, fmt="text"):
    code, out, err = run_cli(["credits", "p.pricing", "--usage", "u.jsonl", "--through", through,
                              "--format", fmt], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    return out


def test_a_grant_past_its_expiry_is_not_active(tmp_path, monkeypatch, capsys):
    """Before: status `active` and "$300.00 left; expires at the end of Mar 15" on Mar 25."""
    _grants_project(tmp_path)
    ledger = json.loads(_credits(tmp_path, monkeypatch, capsys, "2026-03-25", "json"))
    status = {g["contract"]: g["status"] for g in ledger["grants"]}
    assert status == {"a": "expired", "b": "closed"}
    text = " ".join(_credits(tmp_path, monkeypatch, capsys, "2026-03-25").split())
    assert "expires at the end of Mar 15" not in text
    assert "$300.00 left; expired at the end of Mar 15, 2026, but it can still pay the period" in text
    before = json.loads(_credits(tmp_path, monkeypatch, capsys, "2026-03-01", "json"))
    assert {g["contract"]: g["status"] for g in before["grants"]} == {"a": "active", "b": "active"}


def test_the_closing_row_and_the_ending_tell_one_story(tmp_path, monkeypatch, capsys):
    """Before: "Mar 21, 2026  expired" next to "expired at the end of Mar 31, 2026"."""
    _grants_project(tmp_path)
    text = _credits(tmp_path, monkeypatch, capsys, "2026-04-01")
    flat = " ".join(text.split())
    # b ended with its contract (Mar 20), before its expiry: closed, not expired
    assert "Mar 21, 2026 closed -$200.00 $0.00 breakage: unused credit" in flat
    assert ("closed Mar 21, 2026 at the contract's end, before its expiry at the end of Mar 31, 2026, "
            "$200.00 unused (breakage)") in flat
    assert "Mar 21, 2026 expired" not in flat
    # a expired mid-period (end of Mar 15); its breakage is known once March is invoiced (Apr 1)
    assert "Apr 1, 2026 closed -$200.00 $0.00 breakage: unused credit" in flat
    assert ("expired at the end of Mar 15, 2026; closed Apr 1, 2026, once the last period it could pay "
            "was invoiced, $200.00 unused (breakage)") in flat
    # explain quotes the same expiry and status
    code, out, err = run_cli(["explain", "p.pricing", "--usage", "u.jsonl", "--through", "2026-04-01",
                              "--contract", "a"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert ("credit purchase: Q1 prepaid commitment: 500.00 of credit, expired at the end of 2026-03-15 "
            "= 400.00") in out
    assert "credit: credit:" not in out


PLAN_CHANGE = """
meter CALLS { event "call"  count }
plan pro {
  charge CALLS : $0.01 per call
  allowance $28 per month { description "Included calls"  applies to CALLS }
}
plan plus {
  charge CALLS : $0.005 per call
  allowance $56 per month { description "Plus calls"  applies to CALLS }
}
contract beta { customer "cb"  plan pro  plan plus from 2026-02-20  starts 2026-01-01 }
"""


def test_an_allowance_row_is_dated_by_the_invoice_that_used_it(tmp_path, monkeypatch, capsys):
    """A plan change on Feb 20 cuts February in two parts; Pro's allowance for Feb 1-19 was
    dated Feb 20 (its part's end), but the invoice that used it is February's, issued Mar 1.
    Each row now shows its invoice's date, as a grant's draws do; the JSON names the invoice."""
    (tmp_path / "p.pricing").write_text(PLAN_CHANGE, encoding="utf-8")
    events = [{"id": f"{d}{i}", "type": "call", "customer": "cb", "time": f"2026-02-{d}T00:00:00Z",
               "properties": {}} for d in ("05", "25") for i in range(300)]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    rows = [" ".join(line.split()) for line in _credits(tmp_path, monkeypatch, capsys, "2026-03-01").splitlines()]
    assert [r.split(" granted")[0] for r in rows if r.endswith("(not breakage)")] == [
        "Feb 1, 2026 Jan 1 – 31, 2026 $0.00 $28.00",
        "Mar 1, 2026 Feb 1 – 19, 2026 -$4.50 $14.50",
        "Mar 1, 2026 Feb 20 – 28, 2026 $0.00 $18.00"]
    ledger = json.loads(_credits(tmp_path, monkeypatch, capsys, "2026-03-01", "json"))
    assert [(a["period"]["start"], a["period"]["end"], a["invoice"], a["issued"]) for a in ledger["allowances"]] == [
        ("2026-01-01", "2026-02-01", "beta-20260101", "2026-02-01"),
        ("2026-02-01", "2026-02-20", "beta-20260201", "2026-03-01"),
        ("2026-02-20", "2026-03-01", "beta-20260201", "2026-03-01")]
    CreditLedger.model_validate(ledger)  # the document fits its model


def test_grant_status_is_billings():
    """The ledger's status is `GrantLedger.status`: the window pricing burns grants by."""
    plan = compile_text(GRANTS)
    for through, expected in (("2026-03-15", "active"), ("2026-03-16", "expired"), ("2026-04-01", "closed")):
        ev = evaluate(plan, [], dt.date.fromisoformat(through), aggregator=aggregate_usage, only="a")
        [ledger] = ev.ledgers
        assert ledger.status(ev.run.through) == expected, through
