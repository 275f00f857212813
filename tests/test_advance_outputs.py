"""Fees `in advance` through every command that prices: `invoice` (JSON, text, Markdown,
HTML), `explain`, `credits`, `diff`, `test` blocks and `issue` (an opening invoice issued,
then the period invoices, then corrections; the opening invoice's credit draws kept apart
from the first period's, which starts the same day).

Figures by hand: Pro bills $25 a month in advance, calendar months (`on day 1`), calls
at $0.10; beta starts Jan 10 (22 of January's 31 days: $25 x 22/31 = 17.74 on the opening
invoice), with a $30 welcome credit bought that day (for $27).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from ledger_helpers import issue, ledger_total, listed, pricing_total, write_usage
from ratecard.cli import main

PROJECT = """
meter CALLS {
  event "api.call"
  count
}

plan pro {
  billing monthly on day 1
  payment net 15
  fee "Pro plan" : $25 per month in advance
  charge CALLS : $0.10 per call
}

contract beta {
  customer "cus_beta"
  plan pro
  starts 2026-01-10
  credit $30 {
    description "Welcome credit"
    price $27
  }
}
"""


def calls(day: str, n: int, prefix: str = "c") -> list[dict]:
    return [{"id": f"{prefix}-{day}-{i}", "type": "api.call", "customer": "cus_beta",
             "time": f"{day}T12:00:00Z", "properties": {}} for i in range(n)]


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    (tmp_path / "p.pricing").write_text(PROJECT, encoding="utf-8")
    write_usage(tmp_path / "u.jsonl", calls("2026-01-20", 10) + calls("2026-02-10", 20))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys, *args: str) -> str:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def invoice(capsys, fmt: str, through: str = "2026-03-01", project: str = "p.pricing") -> str:
    return cli(capsys, "invoice", project, "--usage", "u.jsonl", "--through", through, "--format", fmt)


# ----------------------------------------------------------------- renderings


def test_the_json_run_lists_the_opening_invoice_between_the_purchases_and_the_periods(folder, capsys):
    doc = json.loads(invoice(capsys, "json"))
    assert [(i["number"], i["kind"]) for i in doc["invoices"]] == [
        ("beta-20260110-C1", "credit_purchase"), ("beta-20260110-A", "advance"), ("beta-20260110", "usage"),
        ("beta-20260201", "usage")]
    opening = doc["invoices"][1]
    # the welcome credit (granted on `starts`) pays the opening invoice's 17.74 ...
    assert (opening["subtotal"], opening["credits_applied"], opening["total"]) == ("17.74", "17.74", "0.00")
    # ... and its other 12.26 the first period's invoice: February's fee 25 + 10 calls 1.00
    first = doc["invoices"][2]
    assert (first["subtotal"], first["credits_applied"], first["total"]) == ("26.00", "12.26", "13.74")


def test_text_markdown_and_html_show_the_opening_invoice_and_what_each_fee_pays_for(folder, capsys):
    text = invoice(capsys, "text")
    opening = text[text.index("INVOICE  beta-20260110-A"):text.index("INVOICE  beta-20260110\n")]
    assert "Service period  Jan 10 – 31, 2026" in opening and "Issued          Jan 10, 2026" in opening
    assert "in advance for Jan 10 – 31, 2026" in opening and "prorated: 22 of 31 days" in opening
    assert "$17.74" in opening
    assert "in advance for Feb 1 – 28, 2026" in text[text.index("INVOICE  beta-20260110\n"):]
    markdown = invoice(capsys, "markdown")
    assert "# Invoice beta-20260110-A" in markdown
    assert "| **Pro plan**<br>_in advance for Jan 10 – 31, 2026_<br>_prorated: 22 of 31 days_ |" in markdown
    html = invoice(capsys, "html")
    assert '<article class="invoice advance" id="beta-20260110-A">' in html
    assert "in advance for Mar 1\u2009–\u200931, 2026" in html  # (HTML sets ranges with thin spaces)


def test_unused_time_is_rendered_after_the_minimum_true_up(folder, capsys):
    text = PROJECT.replace("  starts 2026-01-10\n", "  starts 2026-01-10\n  ends 2026-03-19\n  minimum $30\n")
    (folder / "ends.pricing").write_text(text, encoding="utf-8")
    out = invoice(capsys, "text", "2026-04-01", "ends.pricing")
    last = out[out.index("INVOICE  beta-20260301"):]
    # Mar 1-20: the minimum $30 x 19/31 = 18.39; March's spend is its fee paid in advance (25.00)
    # less the unused time (25 - 25 x 19/31 = 25 - 15.32 = 9.68): 15.32, so the true-up is 3.07
    assert last.index("Minimum commitment true-up") < last.index("Pro plan: unused time after the contract's end")
    assert "brings this period up to the $18.39 minimum" in last and "$3.07" in last and "-$9.68" in last
    assert "paid in advance, unused: Mar 20 – 31, 2026" in last
    md = invoice(capsys, "markdown", "2026-04-01", "ends.pricing")
    assert "| Pro plan: unused time after the contract's end<br>_paid in advance, unused: Mar 20 – 31, 2026" in md


# ----------------------------------------------------------------- explain, credits


def test_explain_says_what_an_advance_fee_pays_for_and_how_unused_time_comes_back(folder, capsys):
    text = PROJECT.replace("  starts 2026-01-10\n", "  starts 2026-01-10\n  ends 2026-03-19\n")
    (folder / "ends.pricing").write_text(text, encoding="utf-8")
    out = cli(capsys, "explain", "ends.pricing", "--usage", "u.jsonl", "--through", "2026-04-01",
              "--contract", "beta")
    assert "== beta-20260110-A (advance) 2026-01-10 to 2026-01-10, issued 2026-01-10, due 2026-01-25" in out
    assert ("fee: Pro plan: 25 per month x 22/31 (in advance for 2026-01-10 to 2026-02-01: 22 of 31 days, "
            "plan pro) = 17.74") in out
    assert "unused time: Pro plan: 12 days paid in advance and not used, 2026-03-20 to 2026-04-01 = -9.68" in out
    assert "the 19 days used are worth 25 x 19/31 = 475/31, what the fee bills for them in arrears" in out
    assert "25.00 - 15.32 = 9.68 comes back" in out


def test_credits_lists_the_opening_invoices_draw(folder, capsys):
    out = cli(capsys, "credits", "p.pricing", "--usage", "u.jsonl", "--through", "2026-03-01")
    assert "beta-20260110-A  -$17.74   $12.26  opening invoice: fees in advance" in out
    assert "beta-20260110    -$12.26    $0.00  period Jan 10 – 31, 2026" in out
    doc = json.loads(cli(capsys, "credits", "p.pricing", "--usage", "u.jsonl", "--through", "2026-03-01",
                         "--format", "json"))
    draws = [(d["invoice"], d["period_start"], d["period_end"], d["amount"]) for d in doc["grants"][0]["draws"]]
    assert draws == [("beta-20260110-A", "2026-01-10", "2026-01-10", "17.74"),
                     ("beta-20260110", "2026-01-10", "2026-02-01", "12.26")]


# ----------------------------------------------------------------- diff, test blocks


def test_diff_compares_the_opening_invoice_and_each_advance_fee(folder, capsys):
    (folder / "new.pricing").write_text(PROJECT.replace("$25 per month", "$31 per month"), encoding="utf-8")
    doc = json.loads(cli(capsys, "diff", "p.pricing", "new.pricing", "--usage", "u.jsonl", "--through",
                         "2026-03-01", "--format", "json"))
    # $31 x 22/31 = 22.00 (was 17.74) on the opening invoice; February's and March's fees 31 (was 25):
    # 4.26 + 6 + 6 = 16.26 more
    assert doc["contracts"][0]["change"] == "16.26"
    moved = [(ln["period"]["start"], ln["period"]["end"], ln["change"]) for ln in doc["lines"]]
    assert moved == [("2026-01-10", "2026-01-10", "4.26"), ("2026-01-10", "2026-02-01", "6.00"),
                     ("2026-02-01", "2026-03-01", "6.00")]
    text = cli(capsys, "diff", "p.pricing", "new.pricing", "--usage", "u.jsonl", "--through", "2026-03-01")
    assert "in advance for 2026-02-01 to 2026-03-01" in text


def test_test_blocks_add_up_the_opening_invoice_and_pick_periods_by_their_closing_invoice(tmp_path, capsys):
    tests = PROJECT + """
test "beta's first two periods" {
  contract beta
  usage CALLS 10 on 2026-01-20
  through 2026-03-01
  expect invoices 4                      # the credit purchase, the opening invoice, two periods
  expect subtotal $26.00 period 2026-01-20  # February's fee in advance + 10 calls
  expect total $25.00 period 2026-02-15  # March's fee in advance, no February usage
}

test "without period: every invoice but the purchase" {
  contract beta
  usage CALLS 10 on 2026-01-20
  through 2026-03-01
  expect subtotal $68.74                 # 17.74 + 26.00 + 25.00
  expect total $38.74                    # less the $30 welcome credit
  expect due 2026-03-16                  # the last invoice's, net 15
}
"""
    (tmp_path / "t.pricing").write_text(tests, encoding="utf-8")
    capsys.readouterr()
    code = main(["test", str(tmp_path / "t.pricing")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 passed; 0 failed" in out


# ----------------------------------------------------------------- issue: the ledger


def test_issue_the_opening_invoice_then_the_periods_then_a_correction(folder, capsys):
    ledger = f"sqlite:///{folder / 'l.db'}"
    usage = "u.jsonl"
    # on `starts`: the purchase of the welcome credit and the opening invoice (no grace to wait for)
    code, out, err = issue(capsys, folder / "p.pricing", usage, "2026-01-10", ledger)
    assert code == 0, err
    docs = listed(capsys, ledger)
    assert [(d["number"], d["kind"], d["total"]) for d in docs] == [("INV-000001", "credit_purchase", "27.00"),
                                                                     ("INV-000002", "advance", "0.00")]
    assert "INV-000002  opening invoice" in out
    # the two periods: the first draws what the opening invoice left of the credit (12.26), not
    # the opening invoice's draw again (both start on Jan 10; the kind tells them apart)
    code, out, err = issue(capsys, folder / "p.pricing", usage, "2026-03-01", ledger)
    assert code == 0, err
    docs = listed(capsys, ledger)
    assert [(d["number"], d["kind"], d["total"]) for d in docs][2:] == [("INV-000003", "usage", "13.74"),
                                                                        ("INV-000004", "usage", "27.00")]
    assert ledger_total(docs) == pricing_total(capsys, folder / "p.pricing", usage, "2026-03-01", ledger, grace=0)
    code, out, _ = issue(capsys, folder / "p.pricing", usage, "2026-03-01", ledger)
    assert out.startswith("nothing to issue")
    # a late event of January: carried on the next invoice (closing March), as adjustment lines
    late = write_usage(folder / "late.jsonl", calls("2026-01-20", 10) + calls("2026-02-10", 20)
                       + calls("2026-01-25", 1, "late"))
    code, out, err = issue(capsys, folder / "p.pricing", late, "2026-04-01", ledger)
    assert code == 0, err
    doc = json.loads(cli(capsys, "ledger", "show", "INV-000005", "--ledger", ledger, "--format", "json"))
    assert [(c["corrects"], c["charge"], c["amount"], c["reason"]) for c in doc["corrections"]] == [
        ("INV-000003", "CALLS", "0.10", "1 event late")]
    # April's fee in advance, 25.00, and the 0.10 carried
    assert (doc["subtotal"], doc["total"]) == ("25.00", "25.10")
    docs = listed(capsys, ledger)
    assert ledger_total(docs) == pricing_total(capsys, folder / "p.pricing", late, "2026-04-01", ledger, grace=0)
    shown = cli(capsys, "ledger", "show", "INV-000002", "--ledger", ledger)
    assert "in advance for Jan 10 – 31, 2026" in shown and "Prepaid credit: Welcome credit  -$17.74" in shown


def test_an_end_written_after_the_fee_was_issued_comes_back_on_the_last_invoice_without_a_credit_note(
        folder, capsys):
    ledger = f"sqlite:///{folder / 'l.db'}"
    assert issue(capsys, folder / "p.pricing", "u.jsonl", "2026-03-01", ledger)[0] == 0
    before = {d["number"]: d["total"] for d in listed(capsys, ledger)}
    # the contract ends Mar 19, written after March's fee was issued (on the invoice of Mar 1)
    (folder / "ends.pricing").write_text(PROJECT.replace("  starts 2026-01-10\n",
                                                         "  starts 2026-01-10\n  ends 2026-03-19\n"),
                                         encoding="utf-8")
    code, out, err = issue(capsys, folder / "ends.pricing", "u.jsonl", "2026-03-20", ledger)
    assert code == 0, err
    docs = listed(capsys, ledger)
    # nothing issued is corrected: the last invoice gives the 12 unused days back (-9.68)
    assert {d["number"]: d["total"] for d in docs if d["number"] in before} == before
    assert [(d["number"], d["kind"], d["total"]) for d in docs if d["number"] not in before] == [
        ("INV-000005", "usage", "-9.68")]
    body = json.loads(cli(capsys, "ledger", "show", "INV-000005", "--ledger", ledger, "--format", "json"))
    assert [(ln["kind"], ln["amount"]) for ln in body["lines"]] == [("unused_time", "-9.68")]
    assert ledger_total(docs) == pricing_total(capsys, folder / "ends.pricing", "u.jsonl", "2026-03-20", ledger,
                                               grace=0)
    assert Decimal(body["total"]) < 0
