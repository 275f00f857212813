"""Contracts from the API's JSON shape: validation with JSON paths, equivalence with blocks."""

from __future__ import annotations

import json

from ratecard.contracts_json import load_contracts

from billing_helpers import compile_text, event, run, write_events

PRICING = """
currency USD
meter LLM_TOKENS {
  event "llm.completion"
  sum tokens
  dimensions model
  rates per 1K tokens {
    model = "gpt-4"              : $0.03
    model = "gpt-3.5"            : $0.002
    customer_tier = "enterprise" : 50% off
  }
}
plan pro {
  billing monthly
  payment net 30
  charge LLM_TOKENS
}
"""

BLOCK = """
contract acme {
  customer "cust_acme"
  plan pro
  starts 2026-01-01
  dimensions customer_tier = "enterprise"
  billing quarterly
  payment net 45
  autopay on
  override LLM_TOKENS {
    model = "gpt-4" : $0.02
    default : 10% off
  }
  credit $1_200 {
    description "commitment"
    price $1_000
    expires 2026-12-31T23:59:59Z
  }
}
"""

API = [{
    "contractId": "acme",
    "planId": "pro",
    "customerId": "cust_acme",
    "startsAt": "2026-01-01T00:00:00.000Z",
    "dimensions": {"customer_tier": "enterprise"},
    "billingCycle": "quarterly",
    "paymentTermsDays": 45,
    "autopay": True,
    "rateOverrides": {"LLM_TOKENS": {"model=gpt-4": 0.02, "default": "10% off"}},
    "creditGrantCents": 120000,
    "creditSettings": {"description": "commitment", "expiresAt": "2026-12-31T23:59:59Z",
                       "priceCents": 100000},
}]


def _events(tmp_path):
    evs = [event(f"a{i}", "cust_acme", f"2026-0{1 + i % 3}-0{1 + i % 7}T10:00:00Z", "llm.completion",
                 model=("gpt-4", "gpt-3.5")[i % 2], tokens=123_457 * (i + 1)) for i in range(30)]
    return [write_events(tmp_path / "u.jsonl", evs)]


def test_json_contract_gives_the_same_invoices_as_the_block(tmp_path):
    files = _events(tmp_path)
    block_plan = compile_text(PRICING + BLOCK)
    base = compile_text(PRICING)
    path = tmp_path / "contracts.json"
    path.write_text(json.dumps(API))
    contracts, origins, diags = load_contracts(str(path), base)
    assert diags == []
    json_plan = base.with_contracts(contracts)

    def comparable(ev):
        out = json.loads(ev.run.model_dump_json())
        for inv in out["invoices"]:
            for line in inv["lines"]:
                line.pop("rule")
                line["modifiers"] = [m.split(" (")[0] for m in line["modifiers"]]
        return out

    a = comparable(run(block_plan, files, "2026-07-01"))
    b = comparable(run(json_plan, files, "2026-07-01"))
    assert a == b
    assert [i["kind"] for i in a["invoices"]] == ["credit_purchase", "usage", "usage"]


def test_validation_errors_name_the_json_path(tmp_path):
    base = compile_text(PRICING)
    bad = [dict(API[0], paymentTermsDays="soon", planId="pr0"),
           {"contractId": "x", "planId": "pr0", "customerId": "c", "startsAt": "2026-01-01"},
           dict(API[0], contractId="y", rateOverrides={"LLM_TOKENS": {"modle=gpt-4": 0.01}}),
           dict(API[0], contractId="z", rateOverrides={"NOPE": {"default": 1}})]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(bad))
    contracts, _, diags = load_contracts(str(path), base)
    assert contracts == []
    messages = [d.message for d in diags]
    assert any("$[0].paymentTermsDays" in m for m in messages)
    assert any("$[1].planId" in m and "did you mean `pro`" in m for m in messages)
    assert any('$[2].rateOverrides.LLM_TOKENS["modle=gpt-4"]' in m and "did you mean `model`" in m
               for m in messages)
    assert any("$[3].rateOverrides.NOPE" in m for m in messages)
    assert all(d.code == "E600" for d in diags)


def test_invalid_json_reports_line_and_column(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('[\n  {"contractId": "a",\n  }\n]')
    _, _, diags = load_contracts(str(path), compile_text(PRICING))
    (d,) = diags
    assert "c.json:3:" in d.message and "invalid JSON" in d.message


def test_json_numbers_never_become_floats(tmp_path):
    base = compile_text(PRICING)
    path = tmp_path / "c.json"
    path.write_text(json.dumps([dict(API[0], rateOverrides={"LLM_TOKENS": {"default": 0.1}})])
                    .replace("0.1}", "0.1000000000000000055511151231257827}"))
    contracts, _, diags = load_contracts(str(path), base)
    assert not diags
    rule = contracts[0].overrides["LLM_TOKENS"].rules[0]
    assert str(rule.action.amount) == "0.1000000000000000055511151231257827"
