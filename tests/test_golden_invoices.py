"""Golden invoices: one small, hand-written project per charge model and credit situation.

    tests/golden/invoices/<scenario>/project.pricing        the pricing
    tests/golden/invoices/<scenario>/usage.jsonl            3-30 hand-written events
    tests/golden/invoices/<scenario>/invoices.expected.json `ratecard invoice ... --format json`
    tests/golden/invoices/<scenario>/invoices.expected.txt  `ratecard invoice ... --format text`

Each test runs the real command line (`ratecard.cli.main`, in process, with the
default usage engine) with the scenario folder as the working directory, so the
paths in the output (`rule`: `project.pricing:13`) are relative and stable.

A golden file only records what the code printed, so every test first checks a
few figures worked out by hand (the arithmetic is in the comments), plus the
invariants every invoice run must keep, and only then compares with (or, under
`pytest --update-golden`, rewrites) the golden files: a wrong figure fails the
test before it can be written into a golden file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from ratecard.cli import main

from golden_check import GOLDEN, assert_golden

SCENARIOS = GOLDEN / "invoices"
MONEY = re.compile(r"^-?\d+\.\d{2}$")  # USD: money strings always carry two decimals


@dataclass
class Outcome:
    scenario: str
    json_text: str
    text: str

    @property
    def doc(self) -> dict:
        return json.loads(self.json_text)

    def invoice(self, number: str) -> dict:
        (found,) = [i for i in self.doc["invoices"] if i["number"] == number]
        return found

    def numbers(self) -> list[str]:
        return [i["number"] for i in self.doc["invoices"]]


@pytest.fixture
def bill(monkeypatch, capsys):
    """Run `ratecard invoice PATHS --usage usage.jsonl --through DATE` in the scenario folder,
    once with `--format json` and once with `--format text`."""

    def run(scenario: str, through: str, *extra: str, paths=("project.pricing",)) -> Outcome:
        monkeypatch.chdir(SCENARIOS / scenario)
        outputs = {}
        for fmt in ("json", "text"):
            capsys.readouterr()
            code = main(["invoice", *paths, "--usage", "usage.jsonl", "--through", through,
                         *extra, "--format", fmt])
            out, err = capsys.readouterr()
            assert code == 0, err
            assert "error" not in err, err
            outputs[fmt] = out
        return Outcome(scenario, outputs["json"], outputs["text"])

    return run


def lines(invoice: dict, charge: str | None = None, **dims: str) -> list[dict]:
    return [ln for ln in invoice["lines"]
            if (charge is None or ln["charge"] == charge)
            and all(ln["dimensions"].get(k) == v for k, v in dims.items())]


def line(invoice: dict, charge: str, **dims: str) -> dict:
    (found,) = lines(invoice, charge, **dims)
    return found


def figures(invoice: dict) -> tuple[str, str, str]:
    return invoice["subtotal"], invoice["credits_applied"], invoice["total"]


def finish(outcome: Outcome, update: bool) -> None:
    """The invariants of every run, then the golden files."""
    doc = outcome.doc
    for inv in doc["invoices"]:
        money = [inv["subtotal"], inv["credits_applied"], inv["total"]]
        money += [ln["amount"] for ln in inv["lines"]]
        money += [c[k] for c in inv["credits"] for k in ("applied", "remaining")]
        for value in money:
            assert MONEY.match(value), f"{inv['number']}: money {value!r} is not written with 2 decimals"
        subtotal, credits, total = (Decimal(x) for x in figures(inv))
        assert subtotal == sum(Decimal(ln["amount"]) for ln in inv["lines"]), inv["number"]
        assert credits == sum((Decimal(c["applied"]) for c in inv["credits"]), Decimal(0)), inv["number"]
        assert total == subtotal - credits and total >= 0, inv["number"]
    for b in doc["breakage"]:
        for key in ("granted", "used", "amount"):
            assert MONEY.match(b[key]), f"breakage of {b['grant']}: {key} {b[key]!r} is not written with 2 decimals"
        assert Decimal(b["used"]) + Decimal(b["amount"]) == Decimal(b["granted"])
    assert doc["events"]["read"] == doc["events"]["billed"] + doc["events"]["rejected"]
    assert_golden(f"invoices/{outcome.scenario}/invoices.expected.json", outcome.json_text, update)
    assert_golden(f"invoices/{outcome.scenario}/invoices.expected.txt", outcome.text, update)


# ----------------------------------------------------------------- charge models


def test_unit_price(bill, update_golden):
    out = bill("unit-price", "2026-05-01")
    assert out.numbers() == ["northwind-20260301", "northwind-20260401"]
    march = out.invoice("northwind-20260301")
    # job_7f3a03 is sent twice: counted once. 120 + 245.5 + 300 + 180.5 + 265 = 1,111 minutes
    # 1,111 x $0.015 = $16.665 exactly, rounded once half_up -> $16.67
    ln = line(march, "COMPUTE_MINUTES")
    assert (ln["quantity"], ln["amount"]) == ("1111", "16.67")
    assert figures(march) == ("16.67", "0.00", "16.67")
    # issued on the period's end, due net 15
    assert (march["issued"], march["due"]) == ("2026-04-01", "2026-04-16")
    april = out.invoice("northwind-20260401")
    # 2026-04-01T00:00:00Z opens April: 400 + 250 = 650 minutes x $0.015 = $9.75
    assert figures(april) == ("9.75", "0.00", "9.75")
    assert out.doc["rejected"]["duplicate"] == 1
    finish(out, update_golden)


def test_per_1k_tokens(bill, update_golden):
    out = bill("per-1k-tokens", "2026-03-01")
    jan, feb = (out.invoice(n) for n in ("acme-20260101", "acme-20260201"))
    # 1,200,000 + 800,000 + 450,000 + 50,000 = 2,500,000 tokens / 1K x $0.03 = $75.00
    assert line(jan, "LLM_TOKENS")["quantity"] == "2500000"
    assert figures(jan) == ("75.00", "0.00", "75.00")
    # 1,000,000 + 234,567 = 1,234,567 tokens / 1K x $0.03 = $37.03701 -> $37.04
    assert line(feb, "LLM_TOKENS")["amount"] == "37.04"
    assert figures(feb) == ("37.04", "0.00", "37.04")
    finish(out, update_golden)


def test_graduated_tiers_with_flat_amounts(bill, update_golden):
    out = bill("graduated-flat", "2026-04-01")
    jan, feb, mar = (out.invoice(f"initrode-2026{m}01") for m in ("01", "02", "03"))
    # peak 1,500 GB: tier 1 100 x $0 + $10; tier 2 900 x $0.10 + $5 = $95; tier 3 500 x $0.08 + $2 = $42
    # $10 + $95 + $42 = $147.00
    ln = line(jan, "STORAGE_GB")
    assert (ln["quantity"], ln["amount"]) == ("1500", "147.00")
    assert [(Decimal(t["quantity"]), Decimal(t["flat"]), Decimal(t["amount"])) for t in ln["tiers"]] == [
        (100, 10, 10), (900, 5, 95), (500, 2, 42)]
    assert figures(jan) == ("147.00", "0.00", "147.00")
    # peak 80 GB stays in tier 1: 80 x $0 + its flat $10 = $10.00
    assert figures(feb) == ("10.00", "0.00", "10.00")
    # peak exactly 1,000 GB (bounds are inclusive): $10 + 900 x $0.10 + $5 = $105.00; tier 3 is not
    # reached, so its $2 is not added
    assert line(mar, "STORAGE_GB")["amount"] == "105.00"
    finish(out, update_golden)


def test_volume_tiers_with_a_flat_amount(bill, update_golden):
    out = bill("volume-flat", "2026-04-01")
    jan, feb, mar = (out.invoice(f"dunder-2026{m}01") for m in ("01", "02", "03"))
    # `latest seats`: January reports 8, 14, then 12 on Jan 31 -> 12 seats (not the peak 14)
    # 12 falls in `up to 50`: 12 x $10 + $25 = $145.00
    ln = line(jan, "SEATS")
    assert (ln["quantity"], ln["amount"]) == ("12", "145.00")
    assert figures(jan) == ("145.00", "0.00", "145.00")
    # 55 seats: every seat at the `above` tier, 55 x $8 + $50 = $490.00
    assert figures(feb) == ("490.00", "0.00", "490.00")
    # 9 seats: 9 x $12, no flat amount in the first tier = $108.00
    assert figures(mar) == ("108.00", "0.00", "108.00")
    finish(out, update_golden)


def test_package_pricing(bill, update_golden):
    out = bill("package", "2026-04-01")
    jan, feb, mar = (out.invoice(f"vandelay-2026{m}01") for m in ("01", "02", "03"))
    # 1,200 + 800 + 450 = 2,450 emails -> ceil(2.45) = 3 packages x $5 = $15.00
    ln = line(jan, "EMAILS")
    assert (ln["quantity"], ln["amount"]) == ("2450", "15.00")
    # exactly 2,000 emails -> 2 packages = $10.00
    assert figures(feb) == ("10.00", "0.00", "10.00")
    # a single email still opens a package: 1 x $5 = $5.00
    assert figures(mar) == ("5.00", "0.00", "5.00")
    finish(out, update_golden)


def test_rate_card_overrides_and_negotiated_prices(bill, update_golden):
    out = bill("rate-card-overrides", "2026-02-01")
    assert out.numbers() == ["globex-20260101", "initech-20260101", "list_price-20260101"]

    list_price = out.invoice("list_price-20260101")
    # the card as written: gpt-4/us 400 x $0.03 = $12.00; gpt-4/eu takes the more specific rule,
    # 250 x $0.033 = $8.25; gpt-3.5 3,000 x $0.002 = $6.00; llama-3 falls to `default`,
    # 125 x $0.01 = $1.25. Subtotal 12 + 8.25 + 6 + 1.25 = $27.50
    assert line(list_price, "LLM_TOKENS", model="gpt-4", region="eu")["amount"] == "8.25"
    assert line(list_price, "LLM_TOKENS", model="llama-3")["rule"] == "project.pricing:18"
    assert figures(list_price) == ("27.50", "0.00", "27.50")

    globex = out.invoice("globex-20260101")
    # negotiated gpt-4 $0.02 is final: the card's enterprise 10% off does not touch it, and the
    # contract layer wins over the card's more specific eu rule ($0.033):
    # us 1,500 x $0.02 = $30.00, eu 500 x $0.02 = $10.00
    for region, amount in (("us", "30.00"), ("eu", "10.00")):
        ln = line(globex, "LLM_TOKENS", model="gpt-4", region=region)
        assert (ln["unit_price"], ln["amount"], ln["modifiers"]) == ("0.02", amount, [])
        assert ln["rule"] == "project.pricing:42"
    # gpt-3.5: card price $0.002 with the contract's rule `20% off` and the card's 10% off:
    # 5,000 x $0.002 x 0.8 x 0.9 = 5,000 x $0.00144 = $7.20
    ln = line(globex, "LLM_TOKENS", model="gpt-3.5")
    assert (ln["unit_price"], ln["amount"]) == ("0.00144", "7.20")
    assert len(ln["modifiers"]) == 2
    # llama-3: default $0.01 with 10% off: 2,000 x $0.009 = $18.00
    assert line(globex, "LLM_TOKENS", model="llama-3")["amount"] == "18.00"
    # 30 + 10 + 7.20 + 18 = $65.20
    assert figures(globex) == ("65.20", "0.00", "65.20")

    initech = out.invoice("initech-20260101")
    # `override LLM_TOKENS : 20% off`: gpt-4/us 1,000 x $0.03 x 0.8 = $24.00;
    # gpt-4/eu 333.333 x $0.033 x 0.8 = $8.7999912 -> $8.80; 24 + 8.80 = $32.80
    assert line(initech, "LLM_TOKENS", model="gpt-4", region="eu")["amount"] == "8.80"
    assert figures(initech) == ("32.80", "0.00", "32.80")
    finish(out, update_golden)


# ----------------------------------------------------------------- fees, minimums, contract dates


def test_quarterly_fees_and_minimum_true_up(bill, update_golden):
    out = bill("quarterly-fees-minimum", "2026-07-01")
    q1, q2 = (out.invoice(n) for n in ("umbrella-20260101", "umbrella-20260401"))
    amounts = {ln["charge"]: ln["amount"] for ln in q1["lines"]}
    # fees scaled to a quarter: $500 per month x 3 = $1,500; $2,400 per year / 4 = $600;
    # the bare fee once per period = $150. GPU: 60 + 40 + 80 + 60.5 = 240.5 h x $2.50 = $601.25
    # 1,500 + 600 + 150 + 601.25 = $2,851.25; the contract's $3,000 minimum (per quarter, it
    # replaces the plan's $1,000) adds a true-up of 3,000 - 2,851.25 = $148.75
    assert amounts == {"Platform fee": "1500.00", "Premium support": "600.00", "Account review": "150.00",
                       "GPU_HOURS": "601.25", "minimum": "148.75"}
    assert figures(q1) == ("3000.00", "0.00", "3000.00")
    # quarterly invoices, net 45 and autopay from the contract
    assert (q1["issued"], q1["due"], q1["autopay"]) == ("2026-04-01", "2026-05-16", True)
    # Q2: 2,250 of fees + 500 h x $2.50 = $1,250 -> $3,500, above the minimum: no true-up line
    assert [ln["kind"] for ln in q2["lines"]].count("minimum") == 0
    assert figures(q2) == ("3500.00", "0.00", "3500.00")
    finish(out, update_golden)


def test_contract_ending_mid_period(bill, update_golden):
    out = bill("contract-ends-mid-period", "2026-07-31")
    assert out.numbers() == ["hooli-20260515", "hooli-20260615"]
    first = out.invoice("hooli-20260515")
    # a whole period: $500 + $21.45 + 600 h x $2.50 = $2,021.45, above the $1,000 minimum
    assert figures(first) == ("2021.45", "0.00", "2021.45")
    last = out.invoice("hooli-20260615")
    # `ends 2026-06-21` is inclusive: the period is [Jun 15, Jun 22), 7 of the 30 days of
    # [Jun 15, Jul 15); issued on its (cut) end, due net 30
    assert last["period"] == {"start": "2026-06-15", "end": "2026-06-22"}
    assert (last["issued"], last["due"]) == ("2026-06-22", "2026-07-22")
    # Platform fee: $500 x 7/30 = $116.666... -> $116.67
    assert line(last, "Platform fee")["amount"] == "116.67"
    # Dedicated IP: $21.45 x 7/30 = $150.15/30 = $5.005 exactly -> half_up $5.01
    # (7/30 must not be rounded before the multiplication: 21.45 x 0.2333...3 = 5.00499... -> 5.00)
    assert line(last, "Dedicated IP")["amount"] == "5.01"
    # usage as recorded: 25 + 15 = 40 h x $2.50 = $100.00 (the event at Jun 22 00:00 is outside)
    assert line(last, "GPU_HOURS")["amount"] == "100.00"
    # minimum $1,000 x 7/30 = $233.333... -> $233.33; true-up 233.33 - (116.67 + 5.01 + 100) = $11.65
    assert line(last, "minimum")["amount"] == "11.65"
    assert figures(last) == ("233.33", "0.00", "233.33")
    assert out.doc["rejected"]["outside_contract"] == 1
    finish(out, update_golden)


# ----------------------------------------------------------------- credits


def test_free_grant_fully_used(bill, update_golden):
    out = bill("credit-free-grant", "2026-04-01")
    # a free grant: no credit-purchase invoice
    assert out.numbers() == ["pied_piper-20260101", "pied_piper-20260201", "pied_piper-20260301"]
    jan, feb, mar = (out.invoice(n) for n in out.numbers())
    # Jan: 800 images x $0.04 = $32.00, all paid by the $50 grant (18.00 left)
    assert figures(jan) == ("32.00", "32.00", "0.00")
    assert jan["credits"][0]["remaining"] == "18.00"
    # Feb: 1,000 x $0.04 = $40.00; the grant's last $18.00 -> total $22.00
    assert figures(feb) == ("40.00", "18.00", "22.00")
    assert feb["credits"][0]["remaining"] == "0.00"
    # Mar: 300 x $0.04 = $12.00, nothing left to apply
    assert figures(mar) == ("12.00", "0.00", "12.00") and mar["credits"] == []
    # never expires, open-ended contract: never breaks
    assert out.doc["breakage"] == []
    finish(out, update_golden)


def test_purchased_grant(bill, update_golden):
    out = bill("credit-purchased", "2026-04-01")
    assert out.numbers() == ["stark-20260210-C1", "stark-20260201", "stark-20260301"]
    purchase = out.invoice("stark-20260210-C1")
    # the price, not the credit value, is invoiced on the grant date; due net 15
    assert purchase["kind"] == "credit_purchase"
    assert purchase["period"] == {"start": "2026-02-10", "end": "2026-02-10"}
    assert (purchase["issued"], purchase["due"]) == ("2026-02-10", "2026-02-25")
    assert figures(purchase) == ("1000.00", "0.00", "1000.00")
    feb, mar = out.invoice("stark-20260201"), out.invoice("stark-20260301")
    # granted Feb 10, but the February period overlaps [granted, expires): it is burnt whole.
    # 4,000 + 7,250 = 11,250 images x $0.04 = $450.00, all from the $1,200 credit (750 left)
    assert figures(feb) == ("450.00", "450.00", "0.00")
    # 22,500 x $0.04 = $900.00; the last $750.00 of credit -> $150.00 to pay
    assert figures(mar) == ("900.00", "750.00", "150.00")
    assert mar["credits"][0]["remaining"] == "0.00"
    finish(out, update_golden)


def test_grant_expiring_with_breakage(bill, update_golden):
    out = bill("credit-expiry-breakage", "2026-05-01")
    jan, feb, mar, apr = (out.invoice(f"wayne-2026{m}01") for m in ("01", "02", "03", "04"))
    # `expires 2026-03-31` (a date) is usable through Mar 31: Jan $80, Feb $60, Mar $50 are paid
    # (2,000 / 1,500 / 1,250 images x $0.04)
    assert [figures(i) for i in (jan, feb, mar)] == [("80.00", "80.00", "0.00"), ("60.00", "60.00", "0.00"),
                                                     ("50.00", "50.00", "0.00")]
    # April [Apr 1, May 1) does not overlap [Jan 1, Apr 1): 1,000 x $0.04 = $40.00 to pay
    assert figures(apr) == ("40.00", "0.00", "40.00")
    # breakage: 300 - (80 + 60 + 50) = $110.00, closed at the end of March
    (b,) = out.doc["breakage"]
    assert (b["granted"], b["used"], b["amount"], b["expired"]) == ("300.00", "190.00", "110.00", "2026-04-01")
    finish(out, update_golden)


def test_soonest_expiring_grant_pays_first(bill, update_golden):
    out = bill("credit-two-grants", "2026-04-01")
    jan, feb, mar = (out.invoice(f"oscorp-2026{m}01") for m in ("01", "02", "03"))
    # Jan: 2,500 x $0.04 = $100.00. "Launch promo" (expires end of Feb 28) is written second but
    # pays first: $60; then "Annual commitment bonus" (expires end of Dec 31): $40 (60 left)
    assert [(c["description"], c["applied"], c["remaining"]) for c in jan["credits"]] == [
        ("Launch promo", "60.00", "0.00"), ("Annual commitment bonus", "40.00", "60.00")]
    assert figures(jan) == ("100.00", "100.00", "0.00")
    # Feb: 1,000 x $0.04 = $40.00, all from the annual bonus (20 left)
    assert figures(feb) == ("40.00", "40.00", "0.00")
    # Mar: 1,500 x $0.04 = $60.00; the bonus's last $20.00 -> $40.00 to pay
    assert figures(mar) == ("60.00", "20.00", "40.00")
    # the promo's last period (February) is invoiced: it closes fully used, breakage $0.00
    (b,) = out.doc["breakage"]
    assert b["description"] == "Launch promo" and b["expired"] == "2026-03-01"
    assert (b["used"], b["amount"]) == ("60.00", "0.00")
    finish(out, update_golden)


def test_credit_larger_than_the_invoices(bill, update_golden):
    out = bill("credit-exceeds-invoice", "2026-04-01")
    # the contract ends Feb 28: two periods only
    assert out.numbers() == ["cyberdyne-20260101", "cyberdyne-20260201"]
    jan, feb = (out.invoice(n) for n in out.numbers())
    # 2,200 + 800 = 3,000 x $0.04 = $120.00 against a $5,000 credit: total $0.00, never
    # negative; 4,880 left
    assert figures(jan) == ("120.00", "120.00", "0.00")
    assert jan["credits"][0]["remaining"] == "4880.00"
    # 500 x $0.04 = $20.00: total $0.00, 4,860 left
    assert figures(feb) == ("20.00", "20.00", "0.00")
    # the grant never expires, but the contract's last period is invoiced: breakage
    # 5,000 - 120 - 20 = $4,860.00
    (b,) = out.doc["breakage"]
    assert (b["used"], b["amount"], b["expired"]) == ("140.00", "4860.00", "2026-03-01")
    # the event at 2026-03-01T00:00:00Z is after the contract: reported, not billed
    assert out.doc["rejected"]["outside_contract"] == 1
    finish(out, update_golden)


# ----------------------------------------------------------------- contracts from JSON


def _without_provenance(run_json: str) -> dict:
    """The run with every rule/modifier source (file:line or file:JSON path) blanked."""
    doc = json.loads(run_json)
    for inv in doc["invoices"]:
        for ln in inv["lines"]:
            if ln["rule"] is not None:
                ln["rule"] = "<source>"
            ln["modifiers"] = [m.split(" (", 1)[0] for m in ln["modifiers"]]
    return doc


def test_json_contract_matches_its_contract_block(bill, update_golden):
    out = bill("json-contract", "2026-07-01", "--contracts", "contracts.json")
    assert out.numbers() == ["massive_dynamic-20260101-C1", "massive_dynamic-20260101",
                             "massive_dynamic-20260401"]
    purchase = out.invoice("massive_dynamic-20260101-C1")
    # priceCents 90000 = $900.00, invoiced on startsAt, due net 45 (paymentTermsDays)
    assert (purchase["due"], purchase["total"]) == ("2026-02-15", "900.00")
    q1 = out.invoice("massive_dynamic-20260101")
    # "model=gpt-4": 0.025 is a negotiated price per 1K tokens (the card's unit), final:
    # 8,000 x $0.025 = $200.00
    assert line(q1, "LLM_TOKENS", model="gpt-4")["amount"] == "200.00"
    # "model=gpt-3.5": "20% off" stacks with the card's enterprise 10% off:
    # 10,000 x $0.002 x 0.8 x 0.9 = $14.40; llama-3: 1,000 x $0.01 x 0.9 = $9.00
    assert line(q1, "LLM_TOKENS", model="gpt-3.5")["amount"] == "14.40"
    assert line(q1, "LLM_TOKENS", model="llama-3")["amount"] == "9.00"
    # + $100 per month x 3 = $300 of fees: 200 + 14.40 + 9 + 300 = $523.40 (above the $500
    # minimum), paid by the $1,000 grant (476.60 left)
    assert figures(q1) == ("523.40", "523.40", "0.00")
    q2 = out.invoice("massive_dynamic-20260401")
    # 2,000 x $0.025 = $50 + $300 of fees = $350; minimumCents 50000: true-up $150.00 -> $500.00;
    # the grant's last $476.60 -> $23.40 to pay
    assert line(q2, "minimum")["amount"] == "150.00"
    assert figures(q2) == ("500.00", "476.60", "23.40")
    # the grant's last period (Q2) is invoiced: fully used, breakage $0.00
    (b,) = out.doc["breakage"]
    assert (b["used"], b["amount"], b["expired"]) == ("1000.00", "0.00", "2026-07-01")
    # the JSON contract's rules are traced to their JSON path
    assert line(q1, "LLM_TOKENS", model="gpt-4")["rule"] == (
        'contracts.json:$[0].rateOverrides.LLM_TOKENS["model=gpt-4"]')

    # the same contract written as a block gives the same invoices; only the sources differ
    block = bill("json-contract", "2026-07-01", paths=("project.pricing", "contract.pricing"))
    assert block.text == out.text
    assert _without_provenance(block.json_text) == _without_provenance(out.json_text)
    assert line(block.invoice("massive_dynamic-20260101"), "LLM_TOKENS", model="gpt-4")["rule"] == (
        "contract.pricing:15")
    finish(out, update_golden)


def test_derived_quantity(bill, update_golden):
    out = bill("derived-quantity", "2026-02-01")
    jan = out.invoice("acme-20260101")
    # per event prompt - cached; c2 is sent twice and counted once
    # sonnet: (1,200,000 - 800,000) + (950,000 - 0) = 1,350,000 x $3/1M = $4.05
    # haiku: (3,000,000 - 2,500,000) + 123,457 = 623,457 x $3/1M = $1.870371 -> $1.87
    assert (line(jan, "INPUT_TOKENS", model="sonnet")["quantity"], line(jan, "INPUT_TOKENS", model="sonnet")["amount"]) \
        == ("1350000", "4.05")
    assert (line(jan, "INPUT_TOKENS", model="haiku")["quantity"], line(jan, "INPUT_TOKENS", model="haiku")["amount"]) \
        == ("623457", "1.87")
    # cached: 2,500,000 x $0.30/1M = $0.75; 800,000 x $0.30/1M = $0.24; 4.05 + 1.87 + 0.75 + 0.24 = 6.91
    assert figures(jan) == ("6.91", "0.00", "6.91")
    assert out.doc["rejected"]["duplicate"] == 1
    finish(out, update_golden)


def test_every_scenario_folder_is_tested_and_complete():
    tested = {"unit-price", "per-1k-tokens", "graduated-flat", "volume-flat", "package",
              "rate-card-overrides", "quarterly-fees-minimum", "contract-ends-mid-period",
              "credit-free-grant", "credit-purchased", "credit-expiry-breakage", "credit-two-grants",
              "credit-exceeds-invoice", "json-contract", "discount-cap-allowance", "derived-quantity",
              "plan-change", "billing-day", "plan-change-budgets",  # these three: test_golden_part2_periods.py
              "advance-fees"}  # tests/test_golden_advance.py
    folders = {p.name for p in SCENARIOS.iterdir() if p.is_dir()}
    assert folders == tested
    for name in folders:
        for required in ("project.pricing", "usage.jsonl", "invoices.expected.json", "invoices.expected.txt"):
            assert (SCENARIOS / name / required).is_file(), f"{name}/{required} is missing"
        events = (SCENARIOS / name / "usage.jsonl").read_text(encoding="utf-8").splitlines()
        assert 3 <= len(events) <= 30, name


# ----------------------------------------------------------------- Part 2: discounts, cap, allowance, scoped credits


def test_discounts_cap_allowance_and_scoped_credits(bill, update_golden):
    out = bill("discount-cap-allowance", "2026-04-01")
    jan, feb, mar = (out.invoice(n) for n in ("delta-20260101", "delta-20260201", "delta-20260301"))
    # January: fee 30 + 20 calls x $1 = 20 + 120 GB x $0.10 = 12 -> 62.00.
    # Launch 20% of CALLS 20.00 = -4.00 (calls net 16); $10 off fees -> -10.00 (fee net 20);
    # cap $25 on usage nets 16 + 12 = 28 -> -3.00, shared by nets 16:12 = 1.71 / 1.29 (largest remainder)
    assert [(ln["kind"], ln["amount"]) for ln in jan["lines"]] == [
        ("fee", "30.00"), ("usage", "20.00"), ("usage", "12.00"),
        ("discount", "-4.00"), ("discount", "-10.00"), ("cap", "-3.00")]
    # credits: the allowance 5.00 on calls (net 14.29); the GB grant (priority 1) pays the GB net
    # 12 - 1.29 = 10.71; the welcome credit the rest, 45 - 5 - 10.71 = 29.29
    assert [(c["grant"], c["applied"], c["remaining"]) for c in jan["credits"]] == [
        ("plan:pro/allowance/0", "5.00", "0.00"), ("contract:delta/credit/0", "10.71", "9.29"),
        ("contract:delta/credit/1", "29.29", "20.71")]
    assert figures(jan) == ("45.00", "45.00", "0.00")
    # February: 30 + 5 + 1 = 36; no Launch (once); $10 off fees (period 2 of 2); usage 6 under the cap
    # -> 26.00; allowance 5.00, GB grant 1.00, welcome 20.00 (0.71 left)
    assert figures(feb) == ("26.00", "26.00", "0.00")
    assert [c["applied"] for c in feb["credits"]] == ["5.00", "1.00", "20.00"]
    # March: the fee alone, 30.00; the allowance has no calls to pay (5.00 unused, not breakage);
    # the welcome credit's last 0.71 -> 29.29
    assert figures(mar) == ("30.00", "0.71", "29.29")
    assert [(u["period"]["start"], u["unused"]) for u in out.doc["unused_allowances"]] == [("2026-03-01", "5.00")]
    assert "unused_discounts" not in out.doc
    finish(out, update_golden)
