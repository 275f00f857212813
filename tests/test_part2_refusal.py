"""Constructs the pricer does not bill yet are refused by every command that prices, once per
use, at their place (E970, `billing.unsupported`); `check`, `compile` and `fmt` accept them.

When the pricer learns a construct and its entry leaves `unsupported.FEATURES`, its case
here fails: turn it into a pricing test of that construct.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from billing_helpers import event, write_events
from ratecard.billing import evaluate
from ratecard.billing import unsupported as unsupported_module
from ratecard.billing.unsupported import FEATURES, unsupported
from ratecard.cli import main
from ratecard.compiler import compile_sources

BASE = ('meter CALLS {\n  event "api.call"\n  count\n  dimensions batch\n}\n'
        'plan pro {\n  fee "Platform" : $30 per month\n  charge CALLS : $0.01 per call\n}\n'
        'plan plus {\n  fee "Plus" : $60 per month\n  charge CALLS : $0.005 per call\n}\n')
CONTRACT = 'contract beta {\n  customer "cus_beta"\n  plan pro\n  starts 2026-01-01\n'

# construct -> (the pricing, the line:col of the one use, what the message names)
CASES = {
    # `*` and `/` in a derived quantity are billed (tests/test_derived_products.py), except a
    # quotient inside an operand of `/`
    "quotient of a quotient": (BASE.replace("  count\n", "  sum a / (b / 2)\n") + CONTRACT + "}\n", "3:3",
                               "a quotient inside an operand of `/` in a derived quantity"),
    # `weighted` is billed: tests/test_weighted_billing.py
    # fees `in advance` are billed (tests/test_billing_advance.py)
    # plan changes are billed (tests/test_billing_plan_change.py), across meters too, with amount discounts
    # and allowances (tests/test_part2_plan_change_budgets.py)
}


@pytest.fixture
def usage(tmp_path) -> str:
    return write_events(tmp_path / "u.jsonl", [event("c1", "cus_beta", "2026-01-05T10:00:00Z", "api.call",
                                                     a=5, b=2, gb=10)])


def _project(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.pricing"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_feature_of_the_list_has_a_case():
    messages = {words for _, _, words in CASES.values()}
    for construct, _ in FEATURES:
        assert any(construct.startswith(w) or w in construct for w in messages), construct


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("command", ["invoice", "explain", "credits", "sql", "test", "diff", "issue"])
def test_every_pricing_command_refuses_each_use_once(name, command, tmp_path, usage, capsys, monkeypatch):
    text, position, words = CASES[name]
    if command == "test":
        text += 'test "t" {\n  contract beta\n  through 2026-02-01\n  expect total $1\n}\n'
    path = _project(tmp_path, text)
    args = {
        "invoice": ["invoice", path, "--usage", usage, "--through", "2026-03-01", "--format", "text",
                    "-o", str(tmp_path / "out")],
        "explain": ["explain", path, "--usage", usage, "--through", "2026-03-01", "--contract", "beta"],
        "credits": ["credits", path, "--usage", usage, "--through", "2026-03-01"],
        "sql": ["sql", path, "--through", "2026-03-01"],
        "test": ["test", path],
        "diff": ["diff", _project(tmp_path / "old", BASE + CONTRACT + "}\n") if (tmp_path / "old").mkdir() is None
                 else "", path, "--usage", usage, "--through", "2026-03-01"],
        "issue": ["issue", path, "--usage", usage, "--through", "2026-03-01",
                  "--ledger", f"sqlite:///{tmp_path / 'ledger.db'}"],
    }[command]
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(args) == 1
    out, err = capsys.readouterr()
    shown = out + err
    assert shown.count("error[E970]") == 1, shown
    assert f"p.pricing:{position}: error[E970]: {words}" in shown, shown
    assert "is not billed by this version of ratecard yet" in shown
    assert not (tmp_path / "out").exists() and not (tmp_path / "ledger.db").exists()


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_compile_and_fmt_accept_them(name, tmp_path, capsys):
    path = _project(tmp_path, CASES[name][0])
    assert main(["check", path]) == 0
    assert main(["compile", path]) == 0
    capsys.readouterr()
    assert main(["fmt", path]) == 0  # (the layout itself: tests/golden/fmt/part2.*)
    assert "E002" not in "".join(capsys.readouterr())
    assert main(["compile", path]) == 0


# Every contract-level construct is billed now (plan changes across meters, amount discounts
# and allowances with a plan change: tests/test_part2_plan_change_budgets.py). How a refusal
# of one would be placed -- at the statement of a block, at the JSON path of an API contract,
# as one test block's error -- is still the machinery's to keep: a stand-in construct shows it.
STAND_IN = "a plan change (a stand-in construct)"
SOLO = BASE + 'plan solo {\n  fee "Solo" : $10 per month\n}\n'


@pytest.fixture
def plan_changes_refused(monkeypatch):
    def plan_changes(plan):
        for c in plan.contracts.values():
            yield from (k for k in plan.origins if k.startswith(f"contract:{c.name}/plan_change/"))

    monkeypatch.setattr(unsupported_module, "FEATURES", ((STAND_IN, plan_changes),))


def test_evaluate_refuses_without_the_compilers_spans_at_the_line_it_was_written(usage, plan_changes_refused):
    text = SOLO + CONTRACT + "  plan solo from 2026-01-11\n}\n" + (
        'contract gamma {\n  customer "g"\n  plan pro\n  starts 2026-01-01\n  plan solo from 2026-02-01\n}\n')
    compiled = compile_sources([("p.pricing", text)])
    assert compiled.ok, compiled.diagnostics
    ev = evaluate(compiled.plan, [usage], dt.date(2026, 3, 1))
    assert not ev.ok and ev.run is None
    assert [(d.code, d.span.where) for d in ev.diagnostics] == [("E970", "p.pricing:21:1"),
                                                                 ("E970", "p.pricing:27:1")]
    assert [d.span.where for d in unsupported(compiled.plan, compiled.spans)] == ["p.pricing:21:3",
                                                                                 "p.pricing:27:3"]


def test_a_json_contracts_construct_is_refused_at_its_json_path(tmp_path, usage, capsys, plan_changes_refused):
    path = _project(tmp_path, SOLO)
    contracts = tmp_path / "c.json"
    contracts.write_text(json.dumps([{"contractId": "j", "planId": "pro", "customerId": "cus_beta",
                                      "startsAt": "2026-01-01",
                                      "planChanges": [{"planId": "solo", "effectiveAt": "2026-01-11"}]}]),
                         encoding="utf-8")
    capsys.readouterr()
    assert main(["invoice", path, "--contracts", str(contracts), "--usage", usage, "--through", "2026-03-01",
                 "--format", "text"]) == 1
    err = capsys.readouterr().err
    assert f"{contracts}:$[0].planChanges[0]: error[E970]: {STAND_IN}" in err, err


def test_a_project_without_part_2_is_billed_as_before(tmp_path, usage, capsys):
    path = _project(tmp_path, BASE + CONTRACT + "}\n")
    assert unsupported(compile_sources([("p.pricing", BASE + CONTRACT + "}\n")]).plan) == []
    capsys.readouterr()
    assert main(["invoice", path, "--usage", usage, "--through", "2026-02-01", "--format", "json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert [i["total"] for i in run["invoices"]] == ["30.01"]


def test_a_tests_inline_contract_using_a_construct_is_that_tests_error_and_the_others_run(
        tmp_path, capsys, plan_changes_refused):
    text = SOLO + (
        'test "inline plan change" {\n  contract {\n    plan pro\n    starts 2026-01-01\n'
        '    plan solo from 2026-01-11\n  }\n  usage CALLS 100 on 2026-01-05\n  through 2026-02-01\n'
        '  expect total $30.90\n}\n'
        'test "plain" {\n  contract {\n    plan pro\n    starts 2026-01-01\n  }\n'
        '  usage CALLS 100 on 2026-01-05\n  through 2026-02-01\n  expect total $31.00\n}\n')
    path = _project(tmp_path, text)
    capsys.readouterr()
    assert main(["test", path]) == 1
    out, err = capsys.readouterr()
    assert "1 passed; 0 failed; 1 error" in out
    # at the statement itself, as a contract block's E970 is (the test's inline contract now
    # has the compiler's spans, not only its `file:line` origins)
    assert err.count("error[E970]") == 1 and f"p.pricing:21:5: error[E970]: {STAND_IN}" in err, err
