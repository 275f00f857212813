"""The ledger (docs/ledger.md): issued documents, gapless numbers, corrections by new
documents, void, export, and the failure modes -- every test on SQLite and on
PostgreSQL (a throwaway server, tests/pg_helpers.py).

The invariant checked after each step: the ledger's documents (invoices minus
credit notes) add up to what the pricing says now of every invoice past the
grace, and each series' numbers run 1, 2, 3, ... without a gap.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from ledger_helpers import (
    PROJECT,
    base_usage,
    cli,
    events,
    issue,
    ledger_total,
    listed,
    numbers_are_gapless,
    pricing_total,
    write_project,
    write_usage,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path) -> str:
    """A new, empty ledger on each back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "pricing")


def _adds_up(capsys, project, usage, through, ledger) -> list[dict]:
    docs = listed(capsys, ledger)
    assert ledger_total(docs) == pricing_total(capsys, project, usage, through, ledger)
    numbers_are_gapless(docs)
    return docs


# ----------------------------------------------------------------- issuing


def test_issue_waits_for_the_grace_then_issues_once(capsys, tmp_path, project, ledger_url):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    code, out, err = issue(capsys, project, usage, "2026-02-02", ledger_url)
    assert code == 0, err
    assert out.startswith("nothing to issue: every invoice ended by 2026-01-31 (through 2026-02-02, grace 2 days)")
    code, out, err = issue(capsys, project, usage, "2026-02-03", ledger_url)
    assert code == 0, err
    assert "issued 2 documents" in out
    docs = listed(capsys, ledger_url)
    assert [(d["number"], d["kind"], d["contract"], d["total"], d["status"], d["corrects"]) for d in docs] == [
        ("INV-000001", "usage", "acme", "0.00", "issued", None),  # paid by the welcome credit
        ("INV-000002", "usage", "beta", "106.00", "issued", None),
    ]
    assert docs[1]["period"] == {"start": "2026-01-01", "end": "2026-02-01"}
    assert docs[1]["issued"] == "2026-02-01" and docs[1]["due"] == "2026-02-16"
    assert docs[1]["customer"] == "c_beta"
    code, out, _ = issue(capsys, project, usage, "2026-02-03", ledger_url)
    assert code == 0 and out.startswith("nothing to issue")
    assert listed(capsys, ledger_url) == docs
    _adds_up(capsys, project, usage, "2026-02-03", ledger_url)


def test_grace_on_the_command_line_wins(capsys, tmp_path, project, ledger_url):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    code, out, err = issue(capsys, project, usage, "2026-02-01", ledger_url, "--grace", "0")
    assert code == 0 and "issued 2 documents" in out, err
    code, _, err = issue(capsys, project, usage, "2026-02-01", ledger_url, "--grace", "-1")
    assert code == 2 and "negative" in err


def test_the_stored_document_is_the_invoice_ratecard_invoice_prints(capsys, tmp_path, project, ledger_url):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    code, out, _ = cli(capsys, "invoice", str(project), "--usage", usage, "--through", "2026-02-03")
    priced = {inv["number"]: inv for inv in json.loads(out)["invoices"]}
    code, out, err = cli(capsys, "ledger", "show", "INV-000002", "--ledger", ledger_url, "--format", "json")
    assert code == 0, err
    stored = json.loads(out)
    invoice = priced[stored["billed_as"]]
    assert stored["billed_as"] == "beta-20260101"
    for key, value in invoice.items():
        if key != "number":
            assert stored[key] == value, key
    assert stored["corrections"] == [] and stored["total"] == invoice["total"]


def test_documents_show_the_plan_title_the_invoice_shows(capsys, tmp_path):
    """`ratecard invoice` shows a contract's plan by its title; the ledger's documents and
    their copies show the same, stored when issued (not the plan's id, as they did)."""
    from ratecard.ledger.documents import LedgerDocument, body_of
    from ratecard.ledger.views import ledger_invoice_view
    from ratecard.report.formatter import Formatter

    ledger = f"sqlite:///{tmp_path / 'l.db'}"
    project = write_project(tmp_path / "pricing", PROJECT.replace("plan pro {\n", 'plan pro {\n  title "Pro Plan"\n'))
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger)[0] == 0
    code, out, _ = cli(capsys, "invoice", str(project), "--usage", usage, "--through", "2026-02-03",
                       "--contract", "beta", "--format", "text")
    assert "contract beta · Pro Plan\n" in out
    for fmt, shown in (("text", "contract beta · Pro Plan\n"), ("markdown", "contract beta · Pro Plan |"),
                       ("html", "Contract beta · Pro Plan</p>")):
        code, out, err = cli(capsys, "ledger", "show", "INV-000002", "--ledger", ledger, "--format", fmt)
        assert code == 0 and shown in out, err
    code, out, _ = cli(capsys, "ledger", "show", "INV-000002", "--ledger", ledger, "--format", "json")
    stored = json.loads(out)
    assert (stored["plan"], stored["plan_title"]) == ("pro", "Pro Plan")
    assert cli(capsys, "ledger", "void", "INV-000002", "--reason", "x", "--date", "2026-02-05",
               "--ledger", ledger)[0] == 0
    code, out, _ = cli(capsys, "ledger", "show", "CN-000001", "--ledger", ledger)
    assert "contract beta · Pro Plan\n" in out
    # a document stored before the title was: its JSON stays as it was, its views show the id
    del stored["plan_title"]
    old = LedgerDocument.model_validate(stored)
    assert "plan_title" not in body_of(old)
    assert ledger_invoice_view(old, Formatter("USD", "en_US")).plan_title == "pro"


PRORATED = """
meter CALLS { event "api.call"  count }
plan pro {
  billing monthly on day 1
  fee "Seat" : $21.45 per month
  fee "Support" : $90 per quarter
  charge CALLS : $0.01 per call
}
contract short { customer "c_short"  plan pro  starts 2026-04-24 }
"""


def test_an_issued_prorated_fee_shows_the_fraction_it_was_billed_at(capsys, tmp_path):
    """A fee billed for 7 of 30 days is shown as `7/30` by `invoice`, and was shown as
    `0.2333333333` by `ledger show` and `export` (the stored JSON's 10 places): a reader
    multiplying 0.2333333333 x $21.45 gets $5.00 where $5.01 was billed (docs/invoices.md,
    "Figures"). The document shows what `invoice` showed."""
    ledger = f"sqlite:///{tmp_path / 'l.db'}"
    project = write_project(tmp_path / "pricing", PRORATED)
    usage = write_usage(tmp_path / "u.jsonl", [])
    assert issue(capsys, project, usage, "2026-05-01", ledger)[0] == 0
    code, priced, _ = cli(capsys, "invoice", str(project), "--usage", usage, "--through", "2026-05-01",
                          "--format", "text")
    assert code == 0 and "7/30" in priced and "7/90" in priced
    for fmt in ("text", "markdown", "html"):
        code, out, err = cli(capsys, "ledger", "show", "INV-000001", "--ledger", ledger, "--format", fmt)
        assert code == 0, err
        assert "7/30" in out and "7/90" in out and "0.2333" not in out and "0.0777" not in out, fmt
    code, out, _ = cli(capsys, "ledger", "show", "INV-000001", "--ledger", ledger, "--format", "json")
    seat = next(ln for ln in json.loads(out)["lines"] if ln["charge"] == "Seat")
    assert (seat["quantity"], seat["amount"]) == ("0.2333333333", "5.01")  # the stored JSON is unchanged


def test_late_usage_becomes_adjustment_lines_on_the_next_invoice(capsys, tmp_path, project, ledger_url):
    rows = base_usage()
    usage = write_usage(tmp_path / "u.jsonl", rows)
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    late = write_usage(tmp_path / "late.jsonl", rows + events("c_beta", dt.date(2026, 1, 25), 5, "late"))
    code, out, err = issue(capsys, project, late, "2026-02-10", ledger_url)
    assert code == 0, err
    assert out.startswith("nothing to issue")
    assert "pending: $0.50 more for INV-000002 (beta: 5 events late)" in out
    assert len(listed(capsys, ledger_url)) == 2  # nothing issued, nothing rewritten
    code, out, err = issue(capsys, project, late, "2026-03-03", ledger_url)
    assert code == 0, err
    docs = _adds_up(capsys, project, late, "2026-03-03", ledger_url)
    beta_feb = next(d for d in docs if d["contract"] == "beta" and d["period"]["start"] == "2026-02-01")
    code, out, _ = cli(capsys, "ledger", "show", beta_feb["number"], "--ledger", ledger_url, "--format", "json")
    body = json.loads(out)
    assert body["subtotal"] == "103.00" and body["corrections_total"] == "0.50" and body["total"] == "103.50"
    [line] = body["corrections"]
    assert line["corrects"] == "INV-000002" and line["reason"] == "5 events late"
    assert line["quantity"] == "5" and line["amount"] == "0.50" and line["dimensions"] == {"region": "eu"}
    code, out, _ = cli(capsys, "ledger", "show", beta_feb["number"], "--ledger", ledger_url)
    assert "Adjustments to earlier invoices" in out and "corrects INV-000002 (Jan 1 – 31, 2026): 5 events late" in out
    # the issued January invoice is as it was
    code, out, _ = cli(capsys, "ledger", "show", "INV-000002", "--ledger", ledger_url, "--format", "json")
    assert json.loads(out)["total"] == "106.00"


def test_a_pooled_line_whose_share_moved_says_so_not_price_change(capsys, tmp_path):
    """Late usage in one region of a pooled charge moves the other region's share of the
    pool: its quantity and price are as they were. The correction said "price change:
    project.pricing:N", in an issued document, where no price changed."""
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    pooled = PROJECT.replace("  charge CALLS\n", "  charge CALLS : pooled graduated per call {\n"
                                                  "    up to 50 : $0.10\n    above : $0.05\n  }\n")
    project = write_project(tmp_path / "pooled", pooled)
    rows = base_usage() + events("c_beta", dt.date(2026, 1, 6), 30, "us", region="us")
    usage = write_usage(tmp_path / "u.jsonl", rows)
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    late = write_usage(tmp_path / "late.jsonl", rows + events("c_beta", dt.date(2026, 1, 25), 20, "late"))
    code, out, err = issue(capsys, project, late, "2026-03-03", ledger_url)
    assert code == 0, err
    docs = _adds_up(capsys, project, late, "2026-03-03", ledger_url)
    beta_feb = next(d for d in docs if d["contract"] == "beta" and d["period"]["start"] == "2026-02-01")
    code, out, _ = cli(capsys, "ledger", "show", beta_feb["number"], "--ledger", ledger_url, "--format", "json")
    # January: eu 60 and us 30 pooled (50 x 0.10 + 40 x 0.05 = 7.00: eu 4.67, us 2.33); 20 late
    # in eu: 110 (5 + 3 = 8.00: eu 5.82, us 2.18)
    reasons = {line["dimensions"]["region"]: (line["amount"], line["reason"])
               for line in json.loads(out)["corrections"]}
    assert reasons == {"eu": ("1.15", "20 events late"),
                       "us": ("-0.15", "share of the pool changed: the pool's quantity 90 -> 110")}


def test_a_price_decrease_is_a_credit_note_naming_the_rule(capsys, tmp_path, project, ledger_url):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-03-03", ledger_url)[0] == 0
    cheaper = write_project(tmp_path / "cheaper", PROJECT.replace("default : $0.10", "default : $0.08"))
    code, out, err = issue(capsys, cheaper, usage, "2026-03-03", ledger_url)
    assert code == 0, err
    docs = _adds_up(capsys, cheaper, usage, "2026-03-03", ledger_url)
    notes = [d for d in docs if d["kind"] == "credit_note"]
    assert [(d["number"], d["contract"], d["corrects"], d["total"]) for d in notes] == [
        ("CN-000001", "acme", "INV-000001", "1.20"),
        ("CN-000002", "acme", "INV-000003", "0.60"),
        ("CN-000003", "beta", "INV-000002", "1.20"),
        ("CN-000004", "beta", "INV-000004", "0.60"),
    ]
    code, out, _ = cli(capsys, "ledger", "show", "CN-000003", "--ledger", ledger_url, "--format", "json")
    body = json.loads(out)
    assert body["kind"] == "credit_note" and body["issued"] == "2026-03-03"
    [line] = body["corrections"]
    assert line["amount"] == "-1.20" and line["reason"].startswith("price change: ")
    assert "project.pricing:11" in line["reason"] and "(0.1 -> 0.08 per unit)" in line["reason"]
    code, out, _ = cli(capsys, "ledger", "show", "CN-000003", "--ledger", ledger_url)
    assert out.startswith("CREDIT NOTE  CN-000003") and "Corrects        INV-000002" in out
    assert "Total credited (USD)" in out
    code, out, _ = issue(capsys, cheaper, usage, "2026-03-03", ledger_url)
    assert out.startswith("nothing to issue")


def test_an_ended_contract_gets_a_standalone_adjustment_invoice(capsys, tmp_path, project, ledger_url):
    rows = base_usage()
    usage = write_usage(tmp_path / "u.jsonl", rows)
    assert issue(capsys, project, usage, "2026-03-03", ledger_url)[0] == 0
    late = write_usage(tmp_path / "late.jsonl", rows + events("c_beta", dt.date(2026, 2, 20), 10, "late")
                       + events("c_acme", dt.date(2026, 2, 20), 10, "late"))
    code, out, err = issue(capsys, project, late, "2026-03-10", ledger_url)
    assert code == 0, err
    docs = listed(capsys, ledger_url)
    adjustment = [d for d in docs if d["kind"] == "adjustment"]
    assert [(d["contract"], d["corrects"], d["total"], d["issued"], d["due"]) for d in adjustment] == [
        ("beta", "INV-000004", "1.00", "2026-03-10", "2026-03-25")]
    assert "pending: $1.00 more for INV-000003 (acme: 10 events late)" in out  # acme goes on
    code, out, _ = cli(capsys, "ledger", "show", adjustment[0]["number"], "--ledger", ledger_url)
    assert out.startswith("ADJUSTMENT INVOICE  INV-000005") and "Total due (USD)" in out


def test_void_keeps_the_number_reverses_it_and_the_period_is_issued_again(capsys, tmp_path, project,
                                                                           ledger_url):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    code, out, err = cli(capsys, "ledger", "void", "INV-000002", "--reason", "wrong billing address",
                         "--date", "2026-02-05", "--ledger", ledger_url)
    assert code == 0, err
    assert out == "voided INV-000002; reversed by credit note CN-000001 for $106.00\n"
    docs = listed(capsys, ledger_url)
    assert [(d["number"], d["status"], d["corrects"], d["total"]) for d in docs] == [
        ("INV-000001", "issued", None, "0.00"), ("INV-000002", "void", None, "106.00"),
        ("CN-000001", "issued", "INV-000002", "106.00")]
    assert docs[1]["voided_by"] == "CN-000001"
    code, out, _ = cli(capsys, "ledger", "show", "CN-000001", "--ledger", ledger_url, "--format", "json")
    assert json.loads(out)["reason"] == "void: wrong billing address"
    code, out, _ = cli(capsys, "ledger", "show", "INV-000002", "--ledger", ledger_url)
    assert "Void: reversed by credit note CN-000001" in out
    for number, word in (("INV-000002", "void already"), ("CN-000001", "cannot be voided")):
        code, _, err = cli(capsys, "ledger", "void", number, "--reason", "x", "--ledger", ledger_url)
        assert code == 1 and "error[E964]" in err and word in err
    code, _, err = cli(capsys, "ledger", "void", "INV-999", "--reason", "x", "--ledger", ledger_url)
    assert code == 1 and "error[E963]" in err
    code, out, err = issue(capsys, project, usage, "2026-02-03", ledger_url)
    assert code == 0 and "INV-000003" in out and "beta" in out, err
    _adds_up(capsys, project, usage, "2026-02-03", ledger_url)


def test_a_void_is_never_dated_before_the_document_it_voids(capsys, tmp_path, project, ledger_url):
    """A credit note dated before its invoice would credit a period the invoice was not yet in."""
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    before = listed(capsys, ledger_url)
    issued = before[1]["issued"]
    code, out, err = cli(capsys, "ledger", "void", "INV-000002", "--reason", "r", "--date", "2020-01-01",
                         "--ledger", ledger_url)
    assert code == 1 and out == "" and "error[E964]" in err, err
    assert f"cannot be voided on 2020-01-01: it was issued on {issued}" in err and f"--date {issued}" in err
    assert listed(capsys, ledger_url) == before
    code, _, err = cli(capsys, "ledger", "void", "INV-000002", "--reason", "r", "--date", "2026-13-01",
                       "--ledger", ledger_url)
    assert code == 2 and "--date `2026-13-01` is not a date" in err
    code, out, err = cli(capsys, "ledger", "void", "INV-000002", "--reason", "r", "--date", issued,
                         "--ledger", ledger_url)
    assert code == 0, err


def test_void_of_an_invoice_carrying_adjustments_corrects_again(capsys, tmp_path, project, ledger_url):
    rows = base_usage()
    late_rows = rows + events("c_acme", dt.date(2026, 1, 25), 5, "late")
    usage = write_usage(tmp_path / "u.jsonl", rows)
    late = write_usage(tmp_path / "late.jsonl", late_rows)
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    assert issue(capsys, project, late, "2026-03-03", ledger_url)[0] == 0  # acme Feb carries January's +0.50
    docs = listed(capsys, ledger_url)
    acme_feb = next(d for d in docs if d["contract"] == "acme" and d["period"]["start"] == "2026-02-01")
    assert acme_feb["total"] == "59.50"  # 103.00 - 44.00 of credit + 0.50
    assert cli(capsys, "ledger", "void", acme_feb["number"], "--reason", "r", "--date", "2026-03-04",
               "--ledger", ledger_url)[0] == 0
    code, out, err = issue(capsys, project, late, "2026-03-04", ledger_url)
    assert code == 0, err
    docs = _adds_up(capsys, project, late, "2026-03-04", ledger_url)
    again = docs[-1]
    assert again["contract"] == "acme" and again["total"] == "59.50" and again["number"] == "INV-000005"


def test_credit_draws_are_final_and_breakage_is_recognised_once(capsys, tmp_path, project, ledger_url):
    rows = base_usage()
    usage = write_usage(tmp_path / "u.jsonl", rows)
    code, out, err = issue(capsys, project, usage, "2026-04-03", ledger_url, "--format", "json")
    assert code == 0, err
    first = json.loads(out)
    # the grant (usable through Mar 1) could pay March too: it closes with March's invoice, fully used
    assert first["breakage"] == [{"contract": "acme", "grant": "contract:acme/credit/0", "amount": "0.00",
                                  "closed_on": "2026-04-01", "invoice": "INV-000005"}]
    # much more January usage: the January draw stays 106.00; the increase is billed in full
    late = write_usage(tmp_path / "late.jsonl", rows + events("c_acme", dt.date(2026, 1, 25), 100, "late"))
    code, out, err = issue(capsys, project, late, "2026-05-03", ledger_url, "--format", "json")
    assert code == 0, err
    second = json.loads(out)
    assert second["breakage"] == [] and [d["contract"] for d in second["issued"]] == ["acme"]
    docs = _adds_up(capsys, project, late, "2026-05-03", ledger_url)
    acme_apr = next(d for d in docs if d["contract"] == "acme" and d["period"]["start"] == "2026-04-01")
    code, out, _ = cli(capsys, "ledger", "show", acme_apr["number"], "--ledger", ledger_url, "--format", "json")
    body = json.loads(out)
    assert body["credits_applied"] == "0.00"  # the grant is spent: Jan 106 + Feb 44
    assert body["corrections_total"] == "10.00" and body["corrections"][0]["corrects"] == "INV-000001"
    assert body["corrections"][0]["reason"] == "100 events late"


def test_numbering_formats_from_the_pricing(capsys, tmp_path, ledger_url):
    project = write_project(tmp_path / "p", PROJECT.replace(
        "grace 2 days", 'grace 2 days\nnumbering invoices "ACME/{n:04}"\nnumbering credit_notes "CR{n}"'))
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    code, out, _ = cli(capsys, "ledger", "void", "ACME/0002", "--reason", "r", "--date", "2026-02-04",
                       "--ledger", ledger_url)
    assert code == 0 and "CR1" in out
    assert [d["number"] for d in listed(capsys, ledger_url)] == ["ACME/0001", "ACME/0002", "CR1"]


def test_a_changed_format_that_would_reuse_a_number_is_refused_at_the_format(capsys, tmp_path, ledger_url):
    """Invoices issued as INV-000001..., then credit notes given the invoices' old text: the
    next credit note would be INV-000001 again. E967 at the `numbering` statement, nothing
    issued (the database's unique key stopped it before, as E966 in the database's words)."""
    project = write_project(tmp_path / "p")
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    before = listed(capsys, ledger_url)
    swapped = write_project(tmp_path / "p", PROJECT.replace(
        "grace 2 days", 'grace 2 days\nnumbering invoices "B-{n}"\nnumbering credit_notes "INV-{n:06}"'))
    cheaper = write_usage(tmp_path / "less.jsonl", [r for r in base_usage() if r["customer"] != "c_acme"])
    code, out, err = issue(capsys, swapped, cheaper, "2026-02-03", ledger_url)
    assert code == 1 and out == "" and err.count("error[") == 1, err
    assert "project.pricing:5:24: error[E967]: the next number of the credit notes series is INV-000001" in err
    assert '5 | numbering credit_notes "INV-{n:06}"' in err and "^^^" in err
    assert listed(capsys, ledger_url) == before


def test_list_text_and_export(capsys, tmp_path, project, ledger_url):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-03-03", ledger_url)[0] == 0
    assert cli(capsys, "ledger", "void", "INV-000004", "--reason", "r", "--date", "2026-03-04",
               "--ledger", ledger_url)[0] == 0
    code, out, _ = cli(capsys, "ledger", "list", "--ledger", ledger_url)
    lines = out.splitlines()
    assert lines[0].split() == ["Number", "Kind", "Contract", "Period", "Issued", "Total", "Status", "Corrects"]
    assert "void (CN-000001)" in lines[4] and lines[5].endswith("INV-000004")
    out_dir = tmp_path / "export"
    code, out, err = cli(capsys, "ledger", "export", "-o", str(out_dir), "--ledger", ledger_url)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "CN-000001.json", "INV-000001.json", "INV-000002.json", "INV-000003.json", "INV-000004.json"]
    code, shown, _ = cli(capsys, "ledger", "show", "INV-000004", "--ledger", ledger_url, "--format", "json")
    assert (out_dir / "INV-000004.json").read_text(encoding="utf-8") == shown  # the stored body, exactly
    for fmt, ext in (("text", "txt"), ("markdown", "md"), ("html", "html")):
        code, _, err = cli(capsys, "ledger", "export", "-o", str(tmp_path / fmt), "--format", fmt,
                           "--ledger", ledger_url)
        assert code == 0, err
        assert len(list((tmp_path / fmt).glob(f"*.{ext}"))) == 5
    assert "Credit note no." in (tmp_path / "text" / "CN-000001.txt").read_text(encoding="utf-8")
    code, _, err = cli(capsys, "ledger", "export", "-o", str(tmp_path / "csv"), "--format", "csv",
                       "--ledger", ledger_url)
    assert code == 0, err
    documents = (tmp_path / "csv" / "documents.csv").read_text(encoding="utf-8").splitlines()
    assert documents[0].startswith("number,kind,contract") and len(documents) == 6
    assert "lines.csv" in os.listdir(tmp_path / "csv")


# ----------------------------------------------------------------- the whole sequence, and races


def _run_issue(project: Path, usage: str, through: str, ledger: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ratecard.cli", "issue", str(project), "--usage", usage,
                             "--through", through, "--ledger", ledger, "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _race(project: Path, usage: str, through: str, ledger: str, runs: int = 2) -> list[dict]:
    procs = [_run_issue(project, usage, through, ledger) for _ in range(runs)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def test_racing_runs_never_issue_a_period_twice_or_skip_a_number(capsys, tmp_path, project, ledger_url):
    rows = base_usage()
    usage = write_usage(tmp_path / "u.jsonl", rows)
    reports = _race(project, usage, "2026-02-03", ledger_url)
    assert sorted(len(r["issued"]) for r in reports) == [0, 2]
    late = write_usage(tmp_path / "late.jsonl", rows + events("c_acme", dt.date(2026, 2, 2), 7, "late"))
    reports = _race(project, late, "2026-04-03", ledger_url, runs=3)
    assert sorted(len(r["issued"]) for r in reports) == [0, 0, 3]  # acme Feb and Mar, beta Feb (it ended)
    docs = _adds_up(capsys, project, late, "2026-04-03", ledger_url)
    periods = [(d["contract"], d["period"]["start"]) for d in docs if d["kind"] == "usage"]
    assert len(periods) == len(set(periods)) == 5


def test_a_sequence_of_runs_adds_up_to_the_pricing(capsys, tmp_path, project, ledger_url):
    """Late usage, a price correction, a void and two racing runs: the documents add up, gapless."""
    rows = base_usage()
    usage = write_usage(tmp_path / "u.jsonl", rows)
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    rows += events("c_acme", dt.date(2026, 1, 28), 12, "late") + events("c_beta", dt.date(2026, 1, 29), 3, "late")
    late = write_usage(tmp_path / "late.jsonl", rows)
    assert issue(capsys, project, late, "2026-03-03", ledger_url)[0] == 0
    _adds_up(capsys, project, late, "2026-03-03", ledger_url)
    dearer = write_project(tmp_path / "dearer", PROJECT.replace("default : $0.10", "default : $0.12"))
    assert issue(capsys, dearer, late, "2026-03-03", ledger_url)[0] == 0  # increases, pending or carried
    cheaper = write_project(tmp_path / "cheaper", PROJECT.replace("default : $0.10", "default : $0.09"))
    assert issue(capsys, cheaper, late, "2026-03-03", ledger_url)[0] == 0  # decreases: credit notes
    assert cli(capsys, "ledger", "void", "INV-000003", "--reason", "duplicate sent", "--date", "2026-03-04",
               "--ledger", ledger_url)[0] == 0
    rows += events("c_acme", dt.date(2026, 3, 5), 4, "late")
    later = write_usage(tmp_path / "later.jsonl", rows)
    _race(cheaper, later, "2026-04-03", ledger_url)
    docs = _adds_up(capsys, cheaper, later, "2026-04-03", ledger_url)
    kinds = {d["kind"] for d in docs}
    assert {"usage", "credit_note"} <= kinds and any(d["status"] == "void" for d in docs)
    for contract in ("acme", "beta"):
        assert ledger_total(docs, contract) == pricing_total(capsys, cheaper, later, "2026-04-03", ledger_url,
                                                             contract=contract)


# ----------------------------------------------------------------- failures


def _snapshot(capsys, ledger: str) -> list[dict]:
    return listed(capsys, ledger)


def test_ctrl_c_mid_issue_leaves_the_ledger_as_it_was(capsys, tmp_path, project, ledger_url, monkeypatch):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    before = _snapshot(capsys, ledger_url)
    import ratecard.ledger.issue as issuing

    def interrupted(conn, proposal):  # the documents are written; Ctrl-C before the rest
        raise KeyboardInterrupt

    monkeypatch.setattr(issuing, "insert_entries", interrupted)
    code, _, err = issue(capsys, project, usage, "2026-03-03", ledger_url)
    assert code == 130 and "interrupted" in err
    monkeypatch.undo()
    assert _snapshot(capsys, ledger_url) == before
    code, out, _ = issue(capsys, project, usage, "2026-03-03", ledger_url)
    assert code == 0 and "INV-000003" in out
    numbers_are_gapless(listed(capsys, ledger_url))


CRASHING = """
import sys, time
import ratecard.ledger.issue as issuing
written = issuing.insert_entries
def stall(conn, proposal):
    written(conn, proposal)
    open(sys.argv[1], "w").write("inside the transaction")
    time.sleep(600)
issuing.insert_entries = stall
from ratecard.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_crash_mid_issue_leaves_the_ledger_as_it_was(capsys, tmp_path, project, ledger_url):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    before = _snapshot(capsys, ledger_url)
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", CRASHING, str(marker), "issue", str(project), "--usage", usage,
                             "--through", "2026-03-03", "--ledger", ledger_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert _snapshot(capsys, ledger_url) == before
    code, out, _ = issue(capsys, project, usage, "2026-03-03", ledger_url)
    assert code == 0 and "INV-000003" in out and "INV-000004" in out
    numbers_are_gapless(listed(capsys, ledger_url))


def test_a_ledger_written_by_a_newer_schema_is_refused(capsys, tmp_path, project, ledger_url):
    import sqlalchemy as sa

    from ratecard.ledger.store import parse_url

    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    engine = sa.create_engine(parse_url(ledger_url).url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9001_from_the_future'"))
    engine.dispose()
    for args in (["ledger", "list", "--ledger", ledger_url],
                 ["issue", str(project), "--usage", usage, "--through", "2026-03-03", "--ledger", ledger_url]):
        code, out, err = cli(capsys, *args)
        assert code == 1 and out == ""
        assert err.startswith("error[E961]: ledger ") and "was written by a newer ratecard (schema " \
            "`9001_from_the_future`; this ratecard knows up to `0001_ledger`)" in err
        assert "Traceback" not in err


def test_a_pricing_in_another_currency_is_refused(capsys, tmp_path, project, ledger_url):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    import re

    euros = write_project(tmp_path / "eur", re.sub(r"\$([0-9.]+)", r"\1 EUR", PROJECT.replace("USD", "EUR")))
    before = listed(capsys, ledger_url)
    code, out, err = issue(capsys, euros, usage, "2026-03-03", ledger_url)
    assert code == 1 and out == ""
    assert "error[E962]: the pricing bills in EUR, but ledger" in err and "holds USD documents" in err
    assert listed(capsys, ledger_url) == before


@pytest.mark.parametrize("url, words", [
    ("postgresql://postgres@127.0.0.1:1/ledger", "cannot open ledger postgresql://postgres@127.0.0.1:1/ledger"),
    ("sqlite:////no/such/directory/ledger.db", "no such directory"),
    ("mysql://user@host/db", "`mysql` is not a ledger database"),
    ("sqlite://", "in-memory"),
])
def test_a_ledger_that_cannot_be_reached_is_one_diagnostic(capsys, tmp_path, project, url, words):
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    code, out, err = issue(capsys, project, usage, "2026-02-03", url)
    assert code == 1 and out == ""
    assert err.count("error[") == 1 and "error[E960]" in err and words in err, err
    assert "Traceback" not in err and "internal error" not in err


def test_issue_never_adds_a_ledger_to_another_programs_sqlite_file(capsys, tmp_path, project):
    """A SQLite ledger is a file of its own: `--ledger app.db` naming a database that holds
    other tables is refused, and the file keeps exactly what it held."""
    import sqlite3

    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id TEXT)")
    before = other.read_bytes()
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    code, out, err = issue(capsys, project, usage, "2026-02-03", str(other))
    assert code == 1 and out == ""
    assert "error[E960]" in err and "is not a ratecard ledger (it holds other tables: customers)" in err, err
    assert other.read_bytes() == before
    code, _, err = cli(capsys, "ledger", "list", "--ledger", str(other))
    assert code == 1 and "is not a ratecard ledger" in err
    # an empty file is a new ledger, as a missing one is
    (tmp_path / "empty.db").touch()
    assert issue(capsys, project, usage, "2026-02-03", str(tmp_path / "empty.db"))[0] == 0


def test_a_sqlite_ledger_is_the_file_named(capsys, tmp_path, project):
    """Query parameters would make SQLite open another file than the one checked
    (`ledger.db?mode=ro`, created on the spot): refused. A plain path is a name, `?` and all."""
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    code, out, err = issue(capsys, project, usage, "2026-02-03", f"sqlite:///{tmp_path / 'l.db'}?mode=ro&uri=true")
    assert code == 1 and out == "" and err.count("error[") == 1
    assert "error[E960]" in err and "takes no query parameters" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pricing", "u.jsonl"]
    odd = tmp_path / "l?mode=ro#1.db"
    assert issue(capsys, project, usage, "2026-02-03", str(odd))[0] == 0
    assert odd.is_file() and not (tmp_path / "l").exists()
    assert [d["number"] for d in listed(capsys, str(odd))]


def test_reading_a_ledger_that_does_not_exist(capsys, tmp_path):
    code, out, err = cli(capsys, "ledger", "list", "--ledger", str(tmp_path / "missing.db"))
    assert code == 1 and "error[E960]: no ledger at" in err
    assert not (tmp_path / "missing.db").exists()


def test_a_document_changed_outside_ratecard_is_reported(capsys, tmp_path, project):
    import sqlalchemy as sa

    ledger = f"sqlite:///{tmp_path / 'l.db'}"
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger)[0] == 0
    engine = sa.create_engine(ledger)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE documents SET body = replace(body, '106.00', '1.06')"))
    engine.dispose()
    code, _, err = cli(capsys, "ledger", "show", "INV-000002", "--ledger", ledger)
    assert code == 1 and "error[E965]: document INV-000002 does not match its content hash" in err


def test_the_ledger_url_is_required(capsys, tmp_path, project, monkeypatch):
    monkeypatch.delenv("RATECARD_LEDGER", raising=False)
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    code, _, err = cli(capsys, "issue", str(project), "--usage", usage, "--through", "2026-02-03")
    assert code == 2 and "--ledger" in err


def test_migrations_ship_with_the_package():
    from ratecard.ledger.store import schema_heads

    assert schema_heads() == ["0001_ledger"]
    import ratecard.ledger

    versions = Path(ratecard.ledger.__file__).parent / "migrations" / "versions"
    assert (versions / "0001_ledger.py").is_file() and (versions.parent / "env.py").is_file()


def test_the_migration_creates_what_the_schema_module_describes(tmp_path):
    import sqlalchemy as sa

    from ratecard.ledger.schema import metadata
    from ratecard.ledger.store import open_ledger

    ledger = open_ledger(str(tmp_path / "l.db"), create=True)
    try:
        inspector = sa.inspect(ledger.engine)
        for table in metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
    finally:
        ledger.dispose()


def test_decimal_money_survives_the_round_trip(capsys, tmp_path, ledger_url):
    project = write_project(tmp_path / "p", PROJECT.replace("default : $0.10", "default : $0.0001"))
    usage = write_usage(tmp_path / "u.jsonl", base_usage())
    assert issue(capsys, project, usage, "2026-02-03", ledger_url)[0] == 0
    docs = listed(capsys, ledger_url)
    assert Decimal(docs[1]["total"]) == Decimal("100.01")  # 60 calls x $0.0001 = $0.006 -> $0.01
