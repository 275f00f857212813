"""Part 2 in JSON contracts (the camelCase forms compile through the same passes as a
`contract` block, to the same model) and the two money lints (W010, W011)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ratecard.compiler import compile_sources

PRICING = ('meter CALLS {\n  event "api.call"\n  count\n  dimensions batch\n}\n'
           'meter STORAGE {\n  event "s"\n  max gb\n}\n'
           'plan pro {\n  fee "Platform" : $30 per month\n  charge CALLS : $0.01\n  charge STORAGE : $1\n}\n'
           'plan plus {\n  fee "Plus" : $60 per month\n  charge CALLS : $0.005\n  charge STORAGE : $1\n}\n'
           'plan max {\n  fee "Max" : $90 per month\n  charge CALLS : $0.001\n}\n')


def _contract(compiled, name: str = "acme"):
    """The contract as compiled, where it came from aside (amounts compare as numbers:
    `creditGrantCents` 1000 is $10.00, the block's `$10`)."""
    assert compiled.ok, [(d.code, d.span.where if d.span else "", d.message) for d in compiled.diagnostics]
    return compiled.plan.contracts[name].model_copy(update={"source": "pricing"})


def _block(body: str) -> dict:
    text = f'contract acme {{\n  customer "cus_acme"\n  plan pro\n  starts 2026-01-01\n{body}}}\n'
    return _contract(compile_sources([("p.pricing", PRICING), ("c.pricing", text)]))


def _json(extra: dict) -> dict:
    api = {"contractId": "acme", "planId": "pro", "customerId": "cus_acme", "startsAt": "2026-01-01", **extra}
    return _contract(compile_sources([("p.pricing", PRICING)], contracts=[("c.json", json.dumps([api]))]))


def _json_problems(extra: dict) -> list[tuple[str, str, str]]:
    api = {"contractId": "acme", "planId": "pro", "customerId": "cus_acme", "startsAt": "2026-01-01", **extra}
    compiled = compile_sources([("p.pricing", PRICING)], contracts=[("c.json", json.dumps([api]))])
    return [(d.code, d.span.where if d.span else "", d.message) for d in compiled.diagnostics if d.is_error]


def test_the_camel_case_forms_give_the_model_of_the_block():
    block = _block('  plan plus from 2026-03-15\n  cap $2_000\n'
                   '  discount 20% {\n    description "Launch"\n    applies to CALLS\n    for 3 periods\n  }\n'
                   '  discount $500 once\n'
                   '  credit $3_000 {\n    price $2_700\n    priority 1\n    applies to STORAGE, fees\n'
                   '    expires 2026-12-31T23:59:59Z\n  }\n')
    api = _json({"planChanges": [{"planId": "plus", "effectiveAt": "2026-03-15T00:00:00Z"}], "capCents": 200000,
                 "discounts": [{"percent": 20, "description": "Launch", "appliesTo": ["CALLS"], "periods": 3},
                               {"amountCents": 50000, "once": True}],
                 "creditGrantCents": 300000,
                 "creditSettings": {"priceCents": 270000, "priority": 1, "appliesTo": ["STORAGE", "fees"],
                                    "expiresAt": "2026-12-31T23:59:59Z"}})
    assert api == block
    assert block.plan_changes[0].plan == "plus" and block.credits[0].priority == 1
    assert block.credits[0].applies_to == ("STORAGE", "fees") and len(block.discounts) == 2


_targets = st.lists(st.sampled_from(["CALLS", "STORAGE", "fees"]), unique=True, max_size=3)


@settings(max_examples=40, deadline=None)
@given(percent=st.one_of(st.none(), st.decimals(min_value="0.5", max_value=100, places=1)),
       cents=st.integers(min_value=1, max_value=10**9), description=st.sampled_from(["", "Launch", 'a "b" \\ c']),
       targets=_targets, duration=st.one_of(st.none(), st.just("once"), st.integers(min_value=1, max_value=99)),
       priority=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)), scope=_targets,
       change=st.one_of(st.none(), st.tuples(st.sampled_from(["plus", "max"]),
                                             st.dates(min_value=__import__("datetime").date(2026, 1, 2),
                                                      max_value=__import__("datetime").date(2030, 1, 1)))))
def test_json_contracts_and_blocks_agree(percent, cents, description, targets, duration, priority, scope, change):
    """Whatever the refinements, the JSON form and the block form compile to one contract."""
    if change is not None and change[0] == "max" and "STORAGE" in targets + scope:
        targets = [t for t in targets if t != "STORAGE"]  # (plan max does not charge STORAGE: E209 both ways)
        scope = [t for t in scope if t != "STORAGE"]
    amount = f"{cents // 100}.{cents % 100:02d}"
    text = json.dumps(description)
    body = f"  discount {f'{percent}%' if percent is not None else '$' + amount}"
    body += {None: "", "once": " once"}.get(duration, f" for {duration} periods") if duration != "once" else " once"
    inner = ([f"    description {text}\n"] if description else []) + (
        [f"    applies to {', '.join(targets)}\n"] if targets else [])
    body += " {\n" + "".join(inner) + "  }\n" if inner else "\n"
    discount: dict = {"percent": float(percent) if False else None}
    discount = {"percent": json.loads(str(percent))} if percent is not None else {"amountCents": cents}
    if description:
        discount["description"] = description
    if targets:
        discount["appliesTo"] = targets
    if duration == "once":
        discount["once"] = True
    elif duration is not None:
        discount["periods"] = duration
    settings_: dict = {}
    credit = "  credit $10"
    credit_inner = []
    if priority is not None:
        credit_inner.append(f"    priority {priority}\n")
        settings_["priority"] = priority
    if scope:
        credit_inner.append(f"    applies to {', '.join(scope)}\n")
        settings_["appliesTo"] = scope
    credit += " {\n" + "".join(credit_inner) + "  }\n" if credit_inner else "\n"
    extra: dict = {"discounts": [discount], "creditGrantCents": 1000}
    if settings_:
        extra["creditSettings"] = settings_
    if change is not None:
        body += f"  plan {change[0]} from {change[1]}\n"
        extra["planChanges"] = [{"planId": change[0], "effectiveAt": change[1].isoformat()}]
    assert _json(extra) == _block(body + credit)


def test_json_misuses_are_the_blocks_diagnostics_at_their_json_path():
    assert _json_problems({"discounts": [{"percent": 120}]}) == [
        ("E312", "c.json:$[0].discounts[0].percent",
         "a discount of `120%`: a percentage discount is more than 0% and at most 100%")]
    assert _json_problems({"discounts": [{"percent": 10, "periods": 0}]})[0][:2] == (
        "E309", "c.json:$[0].discounts[0].periods")
    assert _json_problems({"discounts": [{"percent": 10, "appliesTo": ["CALL"]}]})[0][:2] == (
        "E201", "c.json:$[0].discounts[0].appliesTo[0]")
    assert _json_problems({"planChanges": [{"planId": "plus", "effectiveAt": "2025-01-01"}]})[0][:2] == (
        "E210", "c.json:$[0].planChanges[0].effectiveAt")
    assert _json_problems({"creditGrantCents": 100, "creditSettings": {"priority": -1}})[0][:2] == (
        "E309", "c.json:$[0].creditSettings.priority")
    assert _json_problems({"discounts": [{"percent": 10, "amountCents": 5}]}) == [
        ("E600", "c.json:$[0].discounts[0]", "a discount has either `percent` or `amountCents`")]
    assert _json_problems({"discounts": [{"percent": 10, "appliesTo": []}]}) == [
        ("E600", "c.json:$[0].discounts[0].appliesTo",
         "`appliesTo` names no meter (leave it out to cover every line)")]


# ----------------------------------------------------------------- W010, W011


LINT_METER = ('meter T {\n  event "llm"\n  sum tokens\n  dimensions model, batch\n  rates per 1K tokens {\n'
              '    model = "gpt-4" : $0.03\n    default : $0.01\n    batch = "true" : 50% off\n'
              '    customer_tier = "enterprise" : 20% off\n  }\n}\nplan pro {\n  charge T\n}\n')


def _warnings(contract_body: str, plan: str = "plan pro {\n  charge T\n}\n") -> list[tuple[str, str, str]]:
    return [(d.code, d.span.where, d.message) for d in _lints(contract_body, plan)]


def _lints(contract_body: str, plan: str = "plan pro {\n  charge T\n}\n"):
    text = LINT_METER.replace("plan pro {\n  charge T\n}\n", plan) + (
        'contract acme {\n  customer "a"\n  plan pro\n  starts 2026-01-01\n'
        '  dimensions customer_tier = "enterprise"\n' + contract_body + "}\n")
    compiled = compile_sources([("t.pricing", text)])
    assert compiled.ok, compiled.diagnostics
    return [d for d in compiled.diagnostics if d.code in ("W010", "W011")]


def test_w010_a_contract_modifier_stacking_on_a_line_level_one():
    found = _warnings("  override T : 50% off\n")
    assert [(c, w) for c, w, _ in found] == [("W010", "t.pricing:20:16")]
    assert 'both apply to batch = "true": together 75% off' in found[0][2]


def test_w010_between_plan_and_meter_layers_once_per_plan():
    found = _warnings("", plan='plan pro {\n  charge T {\n    batch = "true" : 10% off\n  }\n}\n')
    # with the meter's batch discount, and with its customer-tier one (on a batch line)
    assert [(c, w) for c, w, _ in found] == [("W010", "t.pricing:14:5")] * 2
    assert sorted(m.rsplit("together ", 1)[1] for _, _, m in found) == ["28% off", "55% off"]


def test_no_w010_for_customer_wide_terms_or_where_a_contract_price_is_final():
    # contract 10% off, plan 5% off, meter customer tier 20% off: customer-wide terms compose silently;
    # each stacking with the meter's line-level batch discount is reported
    found = _warnings("  override T : 10% off\n", plan="plan pro {\n  charge T : 5% off\n}\n")
    assert found and all('batch = "true"' in m for _, _, m in found)
    assert _warnings("  override T {\n    default : $0.02\n    default : 50% off\n  }\n") == []


def test_w011_a_negotiated_price_hiding_a_line_level_modifier():
    found = _warnings('  override T {\n    model = "gpt-4" : $0.02\n  }\n')
    assert [(c, w) for c, w, _ in found] == [("W011", "t.pricing:21:5")]
    assert 'hides `50% off` of meter `T` (batch = "true")' in found[0][2]
    # the customer-tier modifier is priced against by the negotiator: not reported
    assert "customer_tier" not in found[0][2]


def test_w011_is_quiet_when_the_contract_prices_the_modifiers_lines_itself():
    """A negotiated price for the batch lines too (the llm-api example's northwind) is the
    fix, not the problem: the general price no longer takes those lines, and the batch
    price names the batch lines on purpose."""
    assert _warnings('  override T {\n    model = "gpt-4" : $0.02\n'
                     '    model = "gpt-4", batch = "true" : $0.01\n  }\n') == []
    # the batch price alone: it is for exactly the modifier's lines
    assert _warnings('  override T {\n    model = "gpt-4", batch = "true" : $0.01\n  }\n') == []


def test_w011s_fix_keeps_the_discount_and_stacks_nothing_but_the_obvious_fix_is_w010():
    found = _warnings('  override T {\n    model = "gpt-4" : $0.02\n  }\n')
    assert len(found) == 1
    (hint,) = _lints('  override T {\n    model = "gpt-4" : $0.02\n  }\n')[0].hints
    assert 'add `model = "gpt-4", batch = "true" : 50% off` to the contract' in hint
    assert _warnings('  override T {\n    model = "gpt-4" : $0.02\n'
                     '    model = "gpt-4", batch = "true" : 50% off\n  }\n') == []
    # the "obvious fix": a batch discount in the contract stacks on the rate card's (75% off)
    stacked = _warnings('  override T {\n    model = "gpt-4" : $0.02\n    batch = "true" : 50% off\n  }\n')
    assert ("W010", "t.pricing:22:5") in [(c, w) for c, w, _ in stacked]
    assert any("together 75% off" in m for _, _, m in stacked)
