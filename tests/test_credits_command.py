"""`ratecard credits`: each grant's history (granted, draw-downs, expiry, breakage) and progress."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest

from ratecard.billing import evaluate
from ratecard.credit_history import CreditLedger
from ratecard.progress import Progress
from ratecard.reference import aggregate_usage

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
