"""Time-weighted meters (`weighted F per month|day|hour`, LANGUAGE.md Part 2) billed end to end
(part2-decisions section 2): the engine's form (the query's step pieces per window,
integrated exactly in Python) and the reference oracle give the same lines, figure by
figure; every pricing command bills them (they were refused with E970 before).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from billing_helpers import compile_text, invoices, write_events
from ratecard.billing import evaluate
from ratecard.cli import main
from ratecard.usage.duckdb import aggregate_usage as duckdb_aggregate
from ratecard.usage.reference import aggregate_usage as reference_aggregate
from ratecard.usage.weighted import round_half_even

ENGINES = {"duckdb": duckdb_aggregate, "reference": reference_aggregate}

METERS = """meter STORAGE {
  event "storage.reported"
  weighted gigabytes per month
  dimensions bucket
}
meter DISK {
  event "disk.reported"
  weighted size per day
}
meter SEATS {
  event "seats.reported"
  weighted seats per hour
}
"""
PRICING = METERS + """plan store {
  charge STORAGE : $1 per GB-month
  charge DISK : $1 per GB-day
  charge SEATS : $1 per seat-hour
}
plan bigger {
  charge STORAGE : $2 per GB-month
  charge DISK : $1 per GB-day
  charge SEATS : $1 per seat-hour
}
contract acme {
  customer "cus_acme"
  plan store
  starts 2026-01-01
}
contract globex {
  customer "cus_globex"
  plan store
  starts 2026-01-15
}
contract initech {
  customer "cus_initech"
  plan store
  starts 2026-01-01
  plan bigger from 2026-01-11
}
"""


def report(i, customer: str, time: str, value, type_="storage.reported", **props) -> dict:
    field = {"storage.reported": "gigabytes", "disk.reported": "size", "seats.reported": "seats"}[type_]
    return {"id": str(i), "type": type_, "customer": customer, "time": time,
            "properties": {field: value, **props}}


def lines(tmp_path: Path, rows: list[dict], through: str = "2026-03-01", text: str = PRICING) -> dict:
    """{(contract, period start, charge, bucket, segment start): quantity} of the usage lines,
    the same from DuckDB and from the reference (checked here), and the evaluation."""
    plan = compile_text(text)
    files = [write_events(tmp_path / "u.jsonl", rows)]
    found = []
    for name, aggregator in ENGINES.items():
        ev = evaluate(plan, files, dt.date.fromisoformat(through), aggregator=aggregator)
        assert ev.ok, (name, ev.diagnostics)
        found.append(({(inv.contract, inv.period.start.isoformat(), ln.charge, ln.dimensions.get("bucket"),
                        ln.segment.start.isoformat() if ln.segment else None): ln.quantity
                       for inv in invoices(ev) for ln in inv.lines if ln.kind == "usage"}, ev))
    assert found[0][0] == found[1][0]
    assert found[0][1].usage.aggregates == found[1][1].usage.aggregates  # the pieces too
    return found[0][0]


def test_a_month_is_a_month_whatever_its_length_and_a_second_weighs_by_its_month(tmp_path):
    got = lines(tmp_path, [
        report(1, "cus_acme", "2026-01-01T00:00:00Z", 620, bucket="logs"),
        report(2, "cus_acme", "2026-01-11T00:00:00Z", 930, bucket="media"),
        # globex's period Jan 15 - Feb 15: 17 days of January (/31) + 14 of February (/28)
        report(3, "cus_globex", "2026-01-15T00:00:00Z", 31 * 28, bucket="web"),
    ])
    assert got[("acme", "2026-01-01", "STORAGE", "logs", None)] == Decimal("620.000000000")
    assert got[("acme", "2026-01-01", "STORAGE", "media", None)] == Decimal("630.000000000")  # 930 x 21/31
    assert got[("acme", "2026-02-01", "STORAGE", "logs", None)] == Decimal(620)  # carried over
    assert got[("globex", "2026-01-15", "STORAGE", "web", None)] == Decimal(28 * 17 + 31 * 14)


def test_the_quantity_keeps_nine_places_rounded_once_half_even(tmp_path, capsys):
    rows = [report(1, "cus_acme", "2026-01-10T00:06:51Z", 1, bucket="b")]
    got = lines(tmp_path, rows, through="2026-02-01")
    exact = Fraction(22 * 86400 - 411, 31 * 86400)
    assert got[("acme", "2026-01-01", "STORAGE", "b", None)] == round_half_even(exact) == Decimal("0.709523970")
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    capsys.readouterr()
    args = [str(tmp_path / "p.pricing"), "--usage", str(tmp_path / "u.jsonl"), "--through", "2026-02-01"]
    assert main(["invoice", *args, "--format", "json"]) == 0
    line = json.loads(capsys.readouterr().out)["invoices"][0]["lines"][0]
    assert (line["quantity"], line["amount"]) == ("0.709523970", "0.71")
    assert main(["invoice", *args, "--format", "text"]) == 0
    assert "0.709523970" in capsys.readouterr().out


def test_at_one_instant_the_greater_id_holds_compared_as_text_whatever_the_file_order(tmp_path):
    t = "2026-02-10T00:00:00Z"
    base = report("0", "cus_acme", "2026-02-01T00:00:00Z", 0, bucket="b")
    # ids compare as strings: "9" > "10", so 9's value holds; 10's holds for no time
    for rows in ([report("10", "cus_acme", t, 700, bucket="b"), report("9", "cus_acme", t, 280, bucket="b")],
                 [report("9", "cus_acme", t, 280, bucket="b"), report("10", "cus_acme", t, 700, bucket="b")]):
        got = lines(tmp_path, [base, *rows])
        assert got[("acme", "2026-02-01", "STORAGE", "b", None)] == Decimal(280 * 19) / 28


def test_the_value_carries_over_from_an_earlier_period_and_from_a_report_before_starts(tmp_path):
    """A level is the customer's (LANGUAGE.md: "per customer and dimension combination"): the
    500 GB reported before globex starts is outside the contract in the counts, but it is
    what the customer holds when the contract starts, so it holds until the next report
    (part2-decisions 2.3)."""
    rows = [report(1, "cus_globex", "2026-01-10T00:00:00Z", 500, bucket="web"),  # before globex starts
            report(2, "cus_globex", "2026-01-20T00:00:00Z", 310, bucket="web")]
    got = lines(tmp_path, rows, through="2026-03-15")
    # Jan 15 - 20: 500 for 5 days of 31; Jan 20 - Feb 1: 310 for 12 days of 31; Feb 1 - 15: 310, 14 of 28
    assert got[("globex", "2026-01-15", "STORAGE", "web", None)] == round_half_even(
        Fraction(500 * 5 + 310 * 12, 31) + Fraction(310 * 14, 28)) == Decimal("355.645161290")
    assert got[("globex", "2026-02-15", "STORAGE", "web", None)] == Decimal(310 * 14) / 28 + Decimal(310 * 14) / 31
    plan = compile_text(PRICING)
    ev = evaluate(plan, [str(tmp_path / "u.jsonl")], dt.date(2026, 3, 15), aggregator=duckdb_aggregate)
    assert ev.run.rejected["outside_contract"] == 1 and ev.run.events.billed == 1


# One customer, two contracts one after the other (the first ends Jan 31, the second starts
# Feb 1), and a single contract starting Feb 1; `compute` does not charge STORAGE.
SUCCESSION = METERS + """meter CPU {
  event "cpu.used"
  sum seconds
}
plan store {
  charge STORAGE : $1 per GB-month
}
plan compute {
  charge CPU : $1 per second
}
contract v1 {
  customer "cus_c"
  plan FIRST
  starts 2026-01-01
  ends 2026-01-31
}
contract v2 {
  customer "cus_c"
  plan store
  starts 2026-02-01
}
contract solo {
  customer "cus_solo"
  plan store
  starts 2026-02-01
}
contract changer {
  customer "cus_changer"
  plan compute
  starts 2026-01-01
  plan store from 2026-02-15
}
"""


def _amounts(tmp_path: Path, rows: list[dict], text: str) -> tuple[dict, object]:
    """{(contract, period start, bucket): (quantity, amount, events)} of the STORAGE lines (events:
    the reports inside the line's window), the same from DuckDB and the reference (`lines`
    checks the aggregates), and DuckDB's evaluation."""
    lines(tmp_path, rows, through="2026-03-01", text=text)
    ev = evaluate(compile_text(text), [str(tmp_path / "u.jsonl")], dt.date(2026, 3, 1), aggregator=duckdb_aggregate)
    assert ev.ok, ev.diagnostics
    events = {(a.window.split("@")[0], dict(a.dimensions)["bucket"]): a.events
              for a in ev.usage.aggregates if a.meter == "STORAGE"}
    return {(inv.contract, inv.period.start.isoformat(), ln.dimensions.get("bucket")):
            (str(ln.quantity), str(ln.amount), events[inv.contract, ln.dimensions.get("bucket")])
            for inv in invoices(ev) for ln in inv.lines if ln.charge == "STORAGE"}, ev


@pytest.mark.parametrize("first", ["store", "compute"])
def test_a_level_carries_from_a_customer_s_earlier_contract_into_the_next(tmp_path, first):
    """The reviewer's case: 31 GB reported Jan 1 under v1, 28 GB on Feb 15 under v2. The 31 GB
    still held on Feb 1 is storage the customer holds when v2 starts: v2's February is
    31 GB x 14/28 (15.50) + 28 GB x 14/28 (14.00) = 29.50, whether v1's plan charged STORAGE
    (it bills January then, 31.00) or not (the report is `not_in_plan`, and still the level)."""
    rows = [report(1, "cus_c", "2026-01-01T00:00:00Z", 31, bucket="b"),
            report(2, "cus_c", "2026-02-15T00:00:00Z", 28, bucket="b")]
    got, ev = _amounts(tmp_path, rows, SUCCESSION.replace("FIRST", first))
    assert got[("v2", "2026-02-01", "b")] == ("29.500000000", "29.50", 1)
    if first == "store":
        assert got[("v1", "2026-01-01", "b")] == ("31.000000000", "31.00", 1)
        assert ev.run.events.billed == 2
    else:
        assert ("v1", "2026-01-01", "b") not in got
        assert ev.run.rejected["not_in_plan"] == 1 and ev.run.events.billed == 1


def test_a_level_reported_before_the_customer_s_only_contract_starts_carries_in(tmp_path):
    """31 GB on Jan 20, before `solo` starts on Feb 1 (outside the contract in the counts): held
    Feb 1 - 15 (15.50), then 28 GB to Mar 1 (14.00). Without the Feb 15 report the carried
    level alone makes the line: 31 GB all February, no report inside it (events 0)."""
    before = report(1, "cus_solo", "2026-01-20T00:00:00Z", 31, bucket="b")
    got, ev = _amounts(tmp_path, [before, report(2, "cus_solo", "2026-02-15T00:00:00Z", 28, bucket="b")],
                       SUCCESSION.replace("FIRST", "store"))
    assert got[("solo", "2026-02-01", "b")] == ("29.500000000", "29.50", 1)
    assert ev.run.rejected["outside_contract"] == 1 and ev.run.events.billed == 1
    got, ev = _amounts(tmp_path, [before], SUCCESSION.replace("FIRST", "store"))
    assert got[("solo", "2026-02-01", "b")] == ("31.000000000", "31.00", 0)
    assert ev.run.rejected["outside_contract"] == 1 and ev.run.events.billed == 0


def test_a_level_reported_under_a_plan_without_the_meter_carries_into_a_plan_with_it(tmp_path):
    """`changer` is on `compute` (no STORAGE) until Feb 15, then on `store`: 40 GB reported
    Jan 10 is `not_in_plan`, billed to no one in January, and the level held from Feb 15:
    40 x 14/28 = 20.000000000 ($20.00) in store's part of February, no report inside it."""
    got, ev = _amounts(tmp_path, [report(1, "cus_changer", "2026-01-10T00:00:00Z", 40, bucket="b")],
                       SUCCESSION.replace("FIRST", "store"))
    assert got == {("changer", "2026-02-01", "b"): ("20.000000000", "20.00", 0)}
    assert ev.run.rejected["not_in_plan"] == 1 and ev.run.events.billed == 0


def test_a_line_exists_when_its_integral_is_not_zero_or_it_has_a_report(tmp_path):
    got = lines(tmp_path, [
        report(1, "cus_acme", "2026-01-01T00:00:00Z", 100, bucket="backups"),
        report(2, "cus_acme", "2026-01-16T12:00:00Z", 0, bucket="backups"),  # emptied
        report(3, "cus_acme", "2026-02-05T00:00:00Z", 0, bucket="empty"),  # a report of 0: a line of 0
    ])
    assert got[("acme", "2026-01-01", "STORAGE", "backups", None)] == Decimal(50)
    assert ("acme", "2026-02-01", "STORAGE", "backups", None) not in got  # held 0 all February, no report
    assert got[("acme", "2026-02-01", "STORAGE", "empty", None)] == 0
    assert ("acme", "2026-01-01", "STORAGE", "empty", None) not in got


def test_a_zero_line_shows_nine_places_in_the_json(tmp_path, capsys):
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    usage = write_events(tmp_path / "u.jsonl", [report(1, "cus_acme", "2026-01-05T00:00:00Z", 0, bucket="b")])
    capsys.readouterr()
    assert main(["invoice", str(tmp_path / "p.pricing"), "--usage", usage, "--through", "2026-02-01",
                 "--format", "json"]) == 0
    (line,) = json.loads(capsys.readouterr().out)["invoices"][0]["lines"]
    assert (line["quantity"], line["amount"]) == ("0.000000000", "0.00")


def test_per_day_and_per_hour(tmp_path):
    got = lines(tmp_path, [
        report(1, "cus_acme", "2026-01-01T12:00:00Z", 10, type_="disk.reported"),  # 30.5 days
        report(2, "cus_acme", "2026-01-01T00:00:00Z", 3, type_="seats.reported"),
        report(3, "cus_acme", "2026-01-01T01:30:00Z", 0, type_="seats.reported"),  # 1.5 hours of 3 seats
    ], through="2026-02-01")
    assert got[("acme", "2026-01-01", "DISK", None, None)] == Decimal(305)
    assert got[("acme", "2026-01-01", "SEATS", None, None)] == Decimal("4.5")


@pytest.mark.parametrize("value", [-1, "-0.5", "-2e1"])
def test_a_negative_value_is_a_bad_row_naming_file_and_line(tmp_path, value):
    plan = compile_text(PRICING)
    files = [write_events(tmp_path / "u.jsonl", [report(1, "cus_acme", "2026-01-02T00:00:00Z", 5, bucket="b"),
                                                 report(2, "cus_acme", "2026-01-03T00:00:00Z", value, bucket="b"),
                                                 report(3, "cus_acme", "2026-01-04T00:00:00Z", "-0", bucket="b")])]
    seen = []
    for aggregator in ENGINES.values():
        ev = evaluate(plan, files, dt.date(2026, 2, 1), aggregator=aggregator)
        assert not ev.ok
        seen.append([(d.code, d.span.where, d.message) for d in ev.diagnostics])
    assert seen[0] == seen[1]
    ((code, where, message),) = seen[0]  # `-0` is zero, not below it
    assert (code, where) == ("E500", f"{files[0]}:2:1")
    assert f"{files[0]}:2" in message and "is negative" in message and "STORAGE" in message


def test_a_plan_change_splits_the_integral_at_its_instant(tmp_path):
    got = lines(tmp_path, [report(1, "cus_initech", "2026-01-01T00:00:00Z", 310, bucket="b")],
                through="2026-02-01")
    # plan store Jan 1 - 11 (10 days), plan bigger Jan 11 - Feb 1 (21 days): one line per part
    assert got[("initech", "2026-01-01", "STORAGE", "b", "2026-01-01")] == Decimal(100)
    assert got[("initech", "2026-01-01", "STORAGE", "b", "2026-01-11")] == Decimal(210)


DATED = METERS.replace("  dimensions bucket\n", """  dimensions bucket
  rates per GB-month {
    default : $1
  }
  rates per GB-month from 2026-01-16 {
    bucket = "cold" : $2
  }
""", 1) + """plan store {
  charge STORAGE
  charge DISK : $1 per GB-day
  charge SEATS : $1 per seat-hour
}
contract acme {
  customer "cus_acme"
  plan store
  starts 2026-01-01
}
"""


def test_a_price_change_splits_the_integral_and_an_unchanged_price_adds_the_segments_back_exactly(tmp_path):
    got = lines(tmp_path, [report(1, "cus_acme", "2026-01-10T00:06:51Z", 1, bucket="warm"),
                           report(2, "cus_acme", "2026-01-10T00:06:51Z", 1, bucket="cold")],
                through="2026-02-01", text=DATED)
    # warm's price does not change: one line, the whole integral rounded once (0.709523970), not
    # the sum of its two segments rounded apart (0.193394937 + 0.516129032 = 0.709523969)
    assert got[("acme", "2026-01-01", "STORAGE", "warm", None)] == Decimal("0.709523970")
    # cold's does: one line per segment, each rounded once
    assert got[("acme", "2026-01-01", "STORAGE", "cold", "2026-01-01")] == Decimal("0.193394937")
    assert got[("acme", "2026-01-01", "STORAGE", "cold", "2026-01-16")] == Decimal("0.516129032")


def test_explain_shows_the_report_intervals(tmp_path, capsys):
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    usage = write_events(tmp_path / "u.jsonl", [
        report("a", "cus_globex", "2026-01-31T09:08:17Z", 2065, bucket="web"),
        report("b", "cus_globex", "2026-02-01T08:27:32Z", 100, bucket="web"),
        report("a2", "cus_globex", "2026-02-01T08:27:32Z", 7, bucket="web"),  # a smaller id: held for no time
    ])
    capsys.readouterr()
    assert main(["explain", str(tmp_path / "p.pricing"), "--usage", usage, "--through", "2026-02-15",
                 "--contract", "globex"]) == 0
    out = capsys.readouterr().out
    exact = (Fraction(2065 * 53503, 2678400) + Fraction(2065 * 30452, 2419200)  # January, then February seconds
             + Fraction(100 * 1179148, 2419200))  # b from Feb 1 08:27:32 to Feb 15
    assert round_half_even(exact) == Decimal("115.984583547")
    assert "quantity: 115.984583547 (weighted gigabytes per month over 3 events)" in out
    assert ("2065 from 2026-01-31T09:08:17Z to 2026-02-01T00:00:00Z: 2065 x 53503 s / 2678400 s = "
            "about 41.249886126045 GB-months") in out
    assert ("2065 from 2026-02-01T00:00:00Z to 2026-02-01T08:27:32Z: 2065 x 30452 s / 2419200 s = "
            "about 25.993460648148 GB-months") in out
    assert "7 at 2026-02-01T08:27:32Z: held for no time (a report with a greater id at the same instant holds)" in out
    assert "100 from 2026-02-01T08:27:32Z to 2026-02-15T00:00:00Z: 100 x 1179148 s / 2419200 s" in out
    assert "rounded once to 9 places (half even): 115.984583547" in out


COMMANDS = ("invoice", "explain", "credits", "sql", "test", "diff", "issue")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_pricing_command_bills_a_weighted_meter(command, tmp_path, capsys, monkeypatch):
    """Once refused with E970 (tests/test_part2_refusal.py); now each command prices it."""
    text = PRICING
    if command == "test":
        text += ('test "t" {\n  contract acme\n  through 2026-03-01\n'
                 '  usage STORAGE bucket = "x" 310 on 2026-01-11\n'
                 '  expect line STORAGE bucket = "x" $210.00 period 2026-01-01\n'  # 310 x 21/31
                 '  expect line STORAGE bucket = "x" $310.00 period 2026-02-01\n}\n')  # held across periods
    path = tmp_path / "p.pricing"
    path.write_text(text, encoding="utf-8")
    usage = write_events(tmp_path / "u.jsonl", [report(1, "cus_acme", "2026-01-11T00:00:00Z", 310, bucket="x")])
    old = tmp_path / "old.pricing"
    old.write_text(PRICING.replace("$1 per GB-month", "$2 per GB-month", 1), encoding="utf-8")
    common = ["--usage", usage, "--through", "2026-03-01"]
    args = {
        "invoice": ["invoice", str(path), *common, "--format", "json"],
        "explain": ["explain", str(path), *common, "--contract", "acme"],
        "credits": ["credits", str(path), *common],
        "sql": ["sql", str(path), "--through", "2026-03-01"],
        "test": ["test", str(path)],
        "diff": ["diff", str(old), str(path), *common],
        "issue": ["issue", str(path), *common, "--ledger", f"sqlite:///{tmp_path / 'ledger.db'}"],
    }[command]
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    assert "E970" not in out + err
    assert code == 0, out + err
    if command == "invoice":
        acme = [i for i in json.loads(out)["invoices"] if i["contract"] == "acme"]
        assert [i["total"] for i in acme] == ["210.00", "310.00"]
    elif command == "sql":
        assert "LEAD(" in out and "held_from" in out
    elif command == "test":
        assert "1 passed" in out


def test_a_test_blocks_usage_line_is_one_report_that_holds_until_the_next(tmp_path, capsys):
    text = PRICING + ('test "held across periods" {\n  contract acme\n  through 2026-04-01\n'
                      '  usage STORAGE bucket = "x" 1_000 on 2026-02-01\n'
                      '  usage STORAGE bucket = "x" 0 on 2026-03-16\n'
                      '  expect line STORAGE bucket = "x" $1_000.00 period 2026-02-01\n'
                      '  expect line STORAGE bucket = "x" $483.87 period 2026-03-01\n'  # 1,000 x 15/31
                      '  expect invoices 3\n}\n')  # January's, empty, too
    (tmp_path / "p.pricing").write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert main(["test", str(tmp_path / "p.pricing")]) == 0, capsys.readouterr()


def test_a_test_blocks_usage_line_cannot_be_a_negative_level(tmp_path, capsys):
    text = PRICING + ('test "below zero" {\n  contract acme\n  through 2026-02-01\n'
                      '  usage STORAGE bucket = "x" -5 on 2026-01-02\n  expect total $0.00\n}\n')
    (tmp_path / "p.pricing").write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert main(["test", str(tmp_path / "p.pricing")]) == 1
    err = capsys.readouterr().err
    assert "p.pricing:43:30: error[E309]: a usage quantity cannot be negative: `-5`" in err, err
