"""Golden invoices and explain for time-weighted meters (tests/golden/weighted/).

acme, monthly from Jan 1: `logs` 620 GB all January, then on Feb 10 two reports at one
instant (`r3` 1,000 GB and `r3b` 400 GB: the greater id, `r3b`, holds); `media` 930 GB from
Jan 11, emptied Feb 20 at noon; a block volume of 100 GB from Jan 5 06:00, in GB-days; one
report delivered twice. globex, from Jan 15 to Feb 15: 500 GB reported on Jan 10, before it
starts (outside the contract in the counts, but the level the customer holds when it starts:
it carries in, part2-decisions 2.3), then 2,065 GB at Jan 31 09:08:17 and 2,100 GB at
Feb 1 08:27:32. Every figure is worked out by hand below before the golden files are compared.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

from ratecard.cli import main
from ratecard.usage.weighted import round_half_even

from golden_check import GOLDEN, assert_golden

PROJECT = GOLDEN / "weighted"
DAY, JANUARY, FEBRUARY = 86_400, 31 * 86_400, 28 * 86_400


def _run(monkeypatch, capsys, *args: str) -> str:
    monkeypatch.chdir(PROJECT)
    capsys.readouterr()
    code = main([args[0], "project.pricing", "--usage", "usage.jsonl", "--through", "2026-03-01", *args[1:]])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _lines(inv: dict) -> list[tuple]:
    return [(ln["charge"], ln["dimensions"].get("bucket"), ln["quantity"], ln["amount"]) for ln in inv["lines"]]


def test_weighted_invoices(monkeypatch, capsys, update_golden):
    text_json = _run(monkeypatch, capsys, "invoice", "--format", "json")
    doc = json.loads(text_json)
    by = {i["number"]: i for i in doc["invoices"]}
    # acme January: logs 620 x 31/31 = 620 -> 14.26; media 930 x 21/31 = 630 -> 14.49;
    # volume 100 GB x 26.75 days = 2,675 GB-days x 0.004 = 10.70
    assert _lines(by["acme-20260101"]) == [("STORAGE", "logs", "620.000000000", "14.26"),
                                           ("STORAGE", "media", "630.000000000", "14.49"),
                                           ("VOLUMES", None, "2675.000000000", "10.70")]
    # acme February: logs 620 for 9 days, then 400 (r3b > r3: the file order does not count) for 19, of 28;
    # media 930 for 19.5 days of 28, then 0 (the bucket still has a line: integral not 0)
    logs = round_half_even(Fraction(620 * 9 + 400 * 19, 28))
    media = round_half_even(Fraction(930 * 39, 2 * 28))
    assert (logs, media) == (Decimal("470.714285714"), Decimal("647.678571429"))
    assert _lines(by["acme-20260201"]) == [("STORAGE", "logs", "470.714285714", "10.83"),  # x 0.023 = 10.8264
                                           ("STORAGE", "media", "647.678571429", "14.90"),  # 14.8966
                                           ("VOLUMES", None, "2800.000000000", "11.20")]
    # globex Jan 15 - Feb 15: the 500 GB of Jan 10 (before `starts`) held from Jan 15 00:00 to
    # Jan 31 09:08:17, 16 days + 32,897 s = 1,415,297 s of January; then 2,065 GB for 53,503 s of
    # January and 30,452 s of February, then 2,100 GB for 1,179,148 s of February
    web = round_half_even(Fraction(500 * 1415297, JANUARY) + Fraction(2065 * 53503, JANUARY)
                          + Fraction(2065 * 30452, FEBRUARY) + Fraction(2100 * 1179148, FEBRUARY))
    assert web == Decimal("1355.015001493")  # 1090.809318996 without the carried 500 GB (264.205682497)
    # graduated: 1,000 x 0.023 + 355.015001493 x 0.021 = 30.455315031 -> 30.46
    assert _lines(by["globex-20260115"]) == [("STORAGE", "web", "1355.015001493", "30.46")]
    assert doc["events"] == {"read": 10, "billed": 8, "rejected": 2}
    assert (doc["rejected"]["duplicate"], doc["rejected"]["outside_contract"]) == (1, 1)
    assert_golden("weighted/invoices.expected.json", text_json, update_golden)
    text = _run(monkeypatch, capsys, "invoice", "--format", "text")
    assert "470.714285714" in text and "2,675.000000000" in text
    assert_golden("weighted/invoices.expected.txt", text, update_golden)


def test_weighted_explain(monkeypatch, capsys, update_golden):
    acme = _run(monkeypatch, capsys, "explain", "--contract", "acme")
    assert "quantity: 470.714285714 (weighted gigabytes per month over 2 events)" in acme
    assert ("1000 at 2026-02-10T00:00:00Z: held for no time (a report with a greater id at the same "
            "instant holds)") in acme
    assert ("620 from 2026-02-01T00:00:00Z to 2026-02-10T00:00:00Z (carried over from an earlier report): "
            "620 x 777600 s / 2419200 s = about 199.285714285714 GB-months") in acme
    assert "100 from 2026-01-05T06:00:00Z to 2026-02-01T00:00:00Z: 100 x 2311200 s / 86400 s = 2675 GB-days" in acme
    assert_golden("weighted/explain-acme.expected.txt", acme, update_golden)
    globex = _run(monkeypatch, capsys, "explain", "--contract", "globex")
    assert "2065 from 2026-01-31T09:08:17Z to 2026-02-01T00:00:00Z: 2065 x 53503 s / 2678400 s" in globex
    assert ("500 from 2026-01-15T00:00:00Z to 2026-01-31T09:08:17Z (carried over from an earlier report): "
            "500 x 1415297 s / 2678400 s") in globex
    assert_golden("weighted/explain-globex.expected.txt", globex, update_golden)
