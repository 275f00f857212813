"""Contracts from the API's JSON shape: one contract, two spellings, one compiler.

A JSON contract is compiled as the `contract` block it stands for (same passes,
checks and lints), so it gets the same diagnostics, placed at its JSON path,
and the same invoices. A hypothesis property holds that for generated
contracts, valid and invalid.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratecard.cli import main
from ratecard.compiler import compile_sources

from billing_helpers import event, run, write_events

PRICING = """
currency USD
meter LLM_TOKENS {
  event "llm.completion"
  sum tokens
  dimensions model, region
  rates per 1K tokens {
    model = "gpt-4"              : $0.03
    model = "gpt-3.5"            : $0.002
    customer_tier = "enterprise" : 50% off
    default                      : $0.01
  }
}
meter STORAGE {
  event "storage.snapshot"
  max gigabytes
}
plan pro {
  billing monthly
  payment net 30
  charge LLM_TOKENS
}
plan storage {
  charge STORAGE : $0.10 per GB
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


def dumps(contracts) -> str:
    """JSON with Decimals written as the numbers they are (never through a float)."""
    text = json.dumps(contracts, default=lambda d: f"@number:{d:f}@")
    return re.sub(r'"@number:([^@]*)@"', r"\1", text)


def with_json(contracts, pricing: str = PRICING, name: str = "c.json"):
    text = contracts if isinstance(contracts, str) else dumps(contracts)
    return compile_sources([("p.pricing", pricing)], contracts=[(name, text)])


def with_block(block: str, pricing: str = PRICING):
    return compile_sources([("p.pricing", pricing), ("c.pricing", block)])


def found(compiled) -> list[tuple[str, str, str]]:
    return [(d.code, d.span.where if d.span else "", d.message) for d in compiled.diagnostics]


def _events(tmp_path):
    evs = [event(f"a{i}", "cust_acme", f"2026-0{1 + i % 3}-0{1 + i % 7}T10:00:00Z", "llm.completion",
                 model=("gpt-4", "gpt-3.5", "llama")[i % 3], tokens=123_457 * (i + 1)) for i in range(30)]
    evs += [event(f"b{i}", "cust_beta", f"2026-02-0{1 + i}T10:00:00Z", "llm.completion",
                  model="gpt-4", region="eu", tokens=1000 * (i + 1)) for i in range(5)]
    return [write_events(tmp_path / "u.jsonl", evs)]


def comparable(ev) -> dict:
    """A run with the rules' sources (file:line or file:JSON path) left out."""
    out = json.loads(ev.run.model_dump_json())
    for inv in out["invoices"]:
        for line in inv["lines"]:
            line.pop("rule")
            line["modifiers"] = [m.split(" (")[0] for m in line["modifiers"]]
    return out


def test_json_contract_gives_the_same_invoices_as_the_block(tmp_path):
    files = _events(tmp_path)
    block = with_block(BLOCK)
    api = with_json(API)
    assert found(block) == found(api) == []
    assert api.plan.contracts["acme"].source == "json"
    assert api.plan.origins["contract:acme/override:LLM_TOKENS/0"] == 'c.json:$[0].rateOverrides.LLM_TOKENS["model=gpt-4"]'
    a = comparable(run(block.plan, files, "2026-07-01"))
    b = comparable(run(api.plan, files, "2026-07-01"))
    assert a == b
    assert [i["kind"] for i in a["invoices"]] == ["credit_purchase", "usage", "usage"]


def test_json_timestamps_may_write_t_and_z_small(tmp_path):
    """RFC 3339 section 5.6 (NOTE): `2026-12-31t23:59:59z` is `2026-12-31T23:59:59Z`, in
    `expiresAt` and `startsAt` as in usage times (both were "not a date or a timestamp")."""
    small = dict(API[0], startsAt="2026-01-01t00:00:00.000z",
                 creditSettings=dict(API[0]["creditSettings"], expiresAt="2026-12-31t23:59:59z"))
    api = with_json([small])
    assert found(api) == []
    files = _events(tmp_path)
    assert comparable(run(api.plan, files, "2026-07-01")) == comparable(run(with_json(API).plan, files, "2026-07-01"))


def test_an_unknown_or_missing_key_names_the_keys_the_object_takes():
    """A plan change written `{"planId", "startsAt"}` (the top level's word for a date) said
    pydantic's "Extra inputs are not permitted" and "Field required": now which key is
    unknown or missing, and the keys that object takes; a misspelling gets a suggestion."""
    def e600(contract):
        return [d for d in found(with_json([contract])) if d[0] == "E600"]
    change = dict(API[0], planChanges=[{"planId": "pro", "startsAt": "2026-03-01"}])
    assert e600(change) == [
        ("E600", "c.json:$[0].planChanges[0].effectiveAt",
         "a plan change needs `effectiveAt` (it takes `planId`, `effectiveAt`)"),
        ("E600", "c.json:$[0].planChanges[0].startsAt",
         "unknown key `startsAt` in a plan change (it takes `planId`, `effectiveAt`)"),
    ]
    typo = dict(API[0], paymentTermDays=30)
    assert e600(typo) == [
        ("E600", "c.json:$[0].paymentTermDays", "unknown key `paymentTermDays` in a contract "
                                                "(did you mean `paymentTermsDays`?)")]


def test_equally_specific_overrides_are_ambiguous_in_json_too():
    # before: JSON contracts skipped every pass but overlaps, and billed one of the two prices
    api = dict(API[0], rateOverrides={"LLM_TOKENS": {"model=gpt-4": 0.02, "region=eu": 0.03}})
    (d,) = with_json([api]).diagnostics
    assert d.code == "E400" and d.span.where == 'c.json:$[0].rateOverrides.LLM_TOKENS["region=eu"]'
    assert d.message == ("ambiguous rules in contract `acme`: `model = \"gpt-4\"` and `region = \"eu\"` are "
                         "equally specific and both match model = \"gpt-4\", region = \"eu\"")
    assert d.notes[0].span.where == 'c.json:$[0].rateOverrides.LLM_TOKENS["model=gpt-4"]'
    assert not with_json([api]).ok


def test_problems_are_the_compilers_at_the_json_path():
    bad = [dict(API[0], paymentTermsDays="soon"),
           {"contractId": "x", "planId": "pr0", "customerId": "c", "startsAt": "2026-01-01"},
           dict(API[0], contractId="y", customerId="y", rateOverrides={"LLM_TOKENS": {"modle=gpt-4": 0.01}}),
           dict(API[0], contractId="z", customerId="z", rateOverrides={"NOPE": {"default": 1}}),
           dict(API[0], contractId="w", customerId="w", rateOverrides={"STORAGE": {"default": 1}}),
           dict(API[0], contractId="v", customerId="v", billingCycle="montly", startsAt="2026-02-30")]
    assert found(with_json(bad)) == [
        ("E600", "c.json:$[0].paymentTermsDays", "Input should be a valid integer, unable to parse string as an integer"),
        ("E202", "c.json:$[1].planId", "unknown plan `pr0` (did you mean `pro`?)"),
        ("E401", 'c.json:$[2].rateOverrides.LLM_TOKENS["modle=gpt-4"]', "unknown dimension `modle` (did you mean `model`?)"),
        ("E201", "c.json:$[3].rateOverrides.NOPE", "unknown meter `NOPE`"),
        ("E206", "c.json:$[4].rateOverrides.STORAGE", "override of meter `STORAGE`, which plan `pro` does not charge"),
        ("E300", "c.json:$[5].billingCycle", "unknown billing cycle `montly`"),
        ("E307", "c.json:$[5].startsAt", "`2026-02-30` is not a calendar date"),
    ]


def test_an_empty_text_is_no_value_in_a_json_contract():
    """`""` (E318) as a contract dimension or in an override's condition, placed by its JSON path."""
    bad = [dict(API[0], dimensions={"customer_tier": ""}, rateOverrides={"LLM_TOKENS": {"model=": 0.01}})]
    assert [(c, w) for c, w, m in found(with_json(bad)) if m.startswith('`""` is not a value')] == [
        ("E318", "c.json:$[0].dimensions.customer_tier"),
        ("E318", 'c.json:$[0].rateOverrides.LLM_TOKENS["model="]'),
    ]


def test_ids_customers_and_the_json_of_a_file():
    twice = [API[0], dict(API[0], startsAt="2026-06-01")]
    assert [(c, w) for c, w, _ in found(with_json(twice))] == [("E200", "c.json:$[1].contractId")]
    other = dict(API[0], contractId="acme2")
    assert [(c, w) for c, w, _ in found(with_json([API[0], other]))] == [("E207", "c.json:$[1].contractId")]
    clash = with_json(API, pricing=PRICING + BLOCK.replace("cust_acme", "someone"))
    assert [(c, w) for c, w, _ in found(clash)] == [("E200", "c.json:$[0].contractId")]
    def e600(text):
        return [d for d in found(with_json(text)) if d[0] == "E600"]

    assert e600('[\n  {"contractId": "a",\n  }\n]') == [
        ("E600", "c.json:3:3", "invalid JSON: Expecting property name enclosed in double quotes")]
    assert e600('[{"contractId": "a", "contractId": "b"}]') == [
        ("E600", "c.json:$", 'invalid JSON: the key "contractId" appears twice in one object')]
    assert e600('[{"rateOverrides": {"M": {"default": NaN}}}]') == [
        ("E600", "c.json:$", "invalid JSON: `NaN` is not a JSON number")]
    assert e600('{"contracts": 3}') == [("E600", "c.json:$.contracts", "expected a list of contracts")]


def test_a_byte_order_mark_is_accepted():
    api = with_json("\ufeff" + json.dumps(API))
    assert found(api) == [] and "acme" in api.plan.contracts
    block = compile_sources([("p.pricing", "\ufeff" + PRICING), ("c.pricing", "\ufeff" + BLOCK)])
    assert found(block) == []


def test_extreme_values_are_diagnostics_at_their_path():
    # before: each of these ended in "internal error" (InvalidOperation, OverflowError)
    cases = {
        "creditGrantCents": (dict(API[0], creditGrantCents=10 ** 80), "E311"),
        "rateOverrides.LLM_TOKENS[\"default\"]": ('1e30', "E311"),
        "creditSettings.expiresAt": (dict(API[0], creditSettings={"expiresAt": "9999-12-31T23:59:59-05:00"}), "E307"),
        "paymentTermsDays": (dict(API[0], paymentTermsDays=999_999_999), "E311"),
        "startsAt": (dict(API[0], startsAt="9999-12-31T23:00:00-05:00"), "E307"),
    }
    for path, (contract, code) in cases.items():
        if isinstance(contract, str):
            text = json.dumps([dict(API[0], rateOverrides={"LLM_TOKENS": {"default": 0}})]).replace(
                '"default": 0', f'"default": {contract}')
            compiled = with_json(text)
        else:
            compiled = with_json([contract])
        assert [(c, w) for c, w, _ in found(compiled)] == [(code, f"c.json:$[0].{path}")], path
    text = json.dumps([dict(API[0], rateOverrides={"LLM_TOKENS": {"default": 0}})]).replace(
        '"default": 0', '"default": 1e400')
    assert [c for c, _, _ in found(with_json(text))] == ["E311"]


def test_json_numbers_never_become_floats():
    exact = "12345678.123456789012"  # 20 significant digits: a float keeps 17
    text = json.dumps([dict(API[0], rateOverrides={"LLM_TOKENS": {"default": 0}})]).replace(
        '"default": 0', f'"default": {exact}')
    compiled = with_json(text)
    assert found(compiled) == []
    rule = compiled.plan.contracts["acme"].overrides["LLM_TOKENS"].rules[0]
    assert str(rule.action.amount) == exact


def test_check_takes_contracts(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    api = dict(API[0], rateOverrides={"LLM_TOKENS": {"model=gpt-4": 0.02, "region=eu": 0.03}})
    (tmp_path / "c.json").write_text(json.dumps([api]), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["check", "p.pricing", "--contracts", "c.json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith('c.json:$[0].rateOverrides.LLM_TOKENS["region=eu"]: error[E400]: ambiguous rules')
    assert main(["check", "p.pricing"]) == 0
    assert main(["check", "p.pricing", "--contracts", "nope.json"]) == 2
    assert "no such contracts file: nope.json" in capsys.readouterr().err


# ----------------------------------------------------------------- one contract, two spellings

PRICES = st.sampled_from(["0.02", "0.5", "1", "-0.5", "0", "12.3456", "9999999999999", "0.0000000000001"])
MODIFIERS = st.sampled_from(["10% off", "120% off", "5% up", "-5% up", "1001% up", "100% off"])
KEYS = st.sampled_from(["default", "model=gpt-4", "region=eu", "model=gpt-4,region=eu", "model = gpt-4",
                        "modle=x", "customer_tier=enterprise", "model=llama"])
DAYS = st.sampled_from(["2026-01-01", "2026-02-01T00:00:00Z", "2026-03-15", "2025-12-31T23:00:00-05:00",
                        "3000-01-01", "2026-02-30", "1969-12-31"])


@st.composite
def api_contracts(draw) -> list[dict]:
    contracts = []
    for k in range(draw(st.integers(1, 2))):
        c = {"contractId": f"c{k}", "planId": draw(st.sampled_from(["pro", "pro", "storage", "pr0"])),
             "customerId": draw(st.sampled_from(["cust_acme", "cust_beta"])), "startsAt": draw(DAYS)}
        if draw(st.booleans()):
            c["endsAt"] = draw(DAYS)
        if draw(st.booleans()):
            c["dimensions"] = {"customer_tier": draw(st.sampled_from(["enterprise", "startup"]))}
        if draw(st.booleans()):
            c["billingCycle"] = draw(st.sampled_from(["monthly", "quarterly", "annual", "montly"]))
        if draw(st.booleans()):
            c["paymentTermsDays"] = draw(st.sampled_from([0, 15, 45, 3650, 3651, -1]))
        if draw(st.booleans()):
            c["autopay"] = draw(st.booleans())
        if draw(st.booleans()):
            c["minimumCents"] = draw(st.sampled_from([0, 50000, 10 ** 15, -1]))
        overrides = {}
        for meter in draw(st.lists(st.sampled_from(["LLM_TOKENS", "STORAGE", "NOPE"]), max_size=2, unique=True)):
            table = {}
            for key in draw(st.lists(KEYS, max_size=4, unique=True)):
                table[key] = draw(st.one_of(PRICES.map(Decimal), MODIFIERS))
            overrides[meter] = table
        if overrides:
            c["rateOverrides"] = overrides
        if draw(st.booleans()):
            c["creditGrantCents"] = draw(st.sampled_from([120000, 1, 10 ** 15, -5]))
            settings_ = {}
            if draw(st.booleans()):
                settings_["description"] = "commitment"
            if draw(st.booleans()):
                settings_["priceCents"] = draw(st.sampled_from([100000, 0, -1]))
            if draw(st.booleans()):
                settings_["grantedAt"] = draw(DAYS)
            if draw(st.booleans()):
                settings_["expiresAt"] = draw(st.sampled_from(["2026-12-31T23:59:59Z", "2026-12-31", "2026-01-15",
                                                               "2999-12-31", "3000-01-01T00:00:01Z"]))
            if settings_:
                c["creditSettings"] = settings_
        contracts.append(c)
    return contracts


def _date(text: str) -> str:
    """A JSON date or timestamp as the block writes it: the UTC date (as `startsAt` means)."""
    import datetime as dt

    if len(text) == 10:
        return text
    return dt.datetime.fromisoformat(text).astimezone(dt.timezone.utc).date().isoformat()


def _money(cents: int) -> str:
    sign, digits, exponent = Decimal(cents).as_tuple()
    return f"${Decimal((sign, digits, exponent - 2))}"


def block_of(c: dict) -> str:
    """The `contract` block a JSON contract stands for, written by hand."""
    lines = [f"contract {c['contractId']} {{", f"  customer {json.dumps(c['customerId'])}",
             f"  plan {c['planId']}", f"  starts {_date(c['startsAt'])}"]
    if "endsAt" in c:
        lines.append(f"  ends {_date(c['endsAt'])}")
    if "dimensions" in c:
        lines.append("  dimensions " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in c["dimensions"].items()))
    if "billingCycle" in c:
        lines.append(f"  billing {c['billingCycle']}")
    if "paymentTermsDays" in c:
        lines.append(f"  payment net {c['paymentTermsDays']}")
    if "autopay" in c:
        lines.append(f"  autopay {'on' if c['autopay'] else 'off'}")
    if "minimumCents" in c:
        lines.append(f"  minimum {_money(c['minimumCents'])}")
    for meter, table in c.get("rateOverrides", {}).items():
        lines.append(f"  override {meter} {{")
        for key, value in table.items():
            if key.strip() == "default":
                lhs = "default"
            else:
                lhs = ", ".join(f"{k.strip()} = {json.dumps(v.strip())}"
                                for k, v in (part.split("=") for part in key.split(",")))
            rhs = value if isinstance(value, str) else f"${value:f}"
            lines.append(f"    {lhs} : {rhs}")
        lines.append("  }")
    if c.get("creditGrantCents"):
        s = c.get("creditSettings", {})
        body = []
        if s.get("description"):
            body.append(f"    description {json.dumps(s['description'])}")
        if "priceCents" in s:
            body.append(f"    price {_money(s['priceCents'])}")
        if "grantedAt" in s:
            body.append(f"    granted {_date(s['grantedAt'])}")
        if "expiresAt" in s:
            body.append(f"    expires {s['expiresAt'].replace('Z', 'Z')}")
        lines.append(f"  credit {_money(c['creditGrantCents'])} {{")
        lines.extend(body)
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _placeless(compiled) -> list:
    """Diagnostics without their places: what was found, said the same way."""
    return sorted((d.severity.value, d.code, d.message, d.hints, tuple(n.message for n in d.notes))
                  for d in compiled.diagnostics)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(api_contracts())
def test_a_json_contract_and_its_block_give_the_same_diagnostics_and_invoices(tmp_path, contracts):
    api = with_json(contracts)
    block = with_block("".join(block_of(c) for c in contracts))
    assert _placeless(api) == _placeless(block)
    assert all(d.span is None or d.span.file != "c.pricing" for d in api.diagnostics)
    assert api.ok == block.ok
    if api.ok:
        assert all(c.source == "json" for c in api.plan.contracts.values())
        files = _events(tmp_path)
        assert comparable(run(api.plan, files, "2026-07-01")) == comparable(run(block.plan, files, "2026-07-01"))
