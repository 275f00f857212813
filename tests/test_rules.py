"""Rule matching (`rules`): layers, specificity, modifiers, dates, and the static questions.

Rate cards are built directly from model objects so each test states exactly
the rules it is about. The properties at the end check the two promises the
compiler relies on: `satisfiable` is exact (agrees with brute force over every
line), and when `ambiguous_pairs` finds nothing, the price `resolve` gives
does not depend on the order the rules were written in.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratecard.compiler import compile_sources
from ratecard.model import (
    Condition,
    Modifier,
    PackagePrice,
    RateCard,
    Rule,
    Tier,
    TieredPrice,
    Unit,
    UnitPrice,
)
from ratecard.rules import (
    Layer,
    ValueSet,
    active_on,
    ambiguous_pairs,
    layers_for,
    line_attributes,
    resolve,
    satisfiable,
    scale,
)

UNIT = Unit(size=Decimal(1000), name="tokens")


def cond(key: str, op: str, *values: str) -> Condition:
    return Condition(key=key, op=op, values=values)


def price(rule_id: str, amount, *conditions: Condition, default: bool = False,
          valid_from: dt.date | None = None, valid_until: dt.date | None = None) -> Rule:
    return Rule(id=rule_id, conditions=conditions, is_default=default,
                action=UnitPrice(amount=Decimal(str(amount)), unit=UNIT),
                valid_from=valid_from, valid_until=valid_until)


def mod(rule_id: str, percent, direction: str, *conditions: Condition, default: bool = False) -> Rule:
    return Rule(id=rule_id, conditions=conditions, is_default=default,
                action=Modifier(percent=Decimal(str(percent)), direction=direction))


def layer(kind: str, *rules: Rule) -> Layer:
    return Layer(kind, f"{kind} x", RateCard(unit=UNIT, rules=rules))


def amount(layers, attrs=None, day=None) -> Decimal | None:
    res = resolve(tuple(layers), attrs or {}, day)
    return None if res is None else res.price.amount


GPT4 = cond("model", "=", "gpt-4")
EU = cond("region", "=", "eu")
ENTERPRISE = cond("customer_tier", "=", "enterprise")


# ----------------------------------------------------------------- layers


PROJECT = """
meter LLM {
  event "e"
  sum tokens
  dimensions model
  rates per 1K tokens { default : $3 }
}
meter API {
  event "a"
  count
}
plan pro {
  charge LLM : $2 per 1K tokens
  charge API
}
contract c {
  customer "x"
  plan pro
  starts 2026-01-01
  dimensions customer_tier = "enterprise", model = "from-contract"
  override LLM { default : $1 }
}
"""


def test_layers_for_are_contract_then_plan_then_meter():
    plan = compile_sources([("p.pricing", PROJECT)]).plan
    contract = plan.contracts["c"]
    layers = layers_for(plan, contract, "LLM")
    assert [(x.kind, x.owner) for x in layers] == [
        ("contract", "contract c"), ("plan", "plan pro"), ("meter", "meter LLM")]
    assert [x.card.rules[0].action.amount for x in layers] == [1, 2, 3]
    assert layers_for(plan, contract, "API") == ()  # nothing prices it (E402/E502 territory)


def test_line_dimensions_win_over_contract_dimensions():
    contract = compile_sources([("p.pricing", PROJECT)]).plan.contracts["c"]
    attrs = line_attributes(contract, {"model": "gpt-4"})
    assert attrs == {"customer_tier": "enterprise", "model": "gpt-4"}


def test_the_highest_layer_with_any_match_sets_the_price():
    contract = layer("contract", price("c/0", "0.01", GPT4))
    plan = layer("plan", price("p/0", "0.02", default=True))
    meter = layer("meter", price("m/0", "0.03", GPT4, EU))
    # the meter's rule is more specific, but the contract layer matched first
    assert amount([contract, plan, meter], {"model": "gpt-4", "region": "eu"}) == Decimal("0.01")
    # no contract rule matches: the plan's default does, even though the meter's wouldn't
    assert amount([contract, plan, meter], {"model": "claude"}) == Decimal("0.02")
    # only the meter layer
    assert amount([meter], {"model": "gpt-4", "region": "eu"}) == Decimal("0.03")
    assert amount([meter], {"model": "gpt-4"}) is None


def test_most_specific_rule_of_the_layer_wins():
    card = layer("meter",
                 price("m/0", 4, default=True),
                 price("m/1", 3),  # no conditions: an inline price, specificity 0
                 price("m/2", 2, GPT4),
                 price("m/3", 1, GPT4, EU))
    assert amount([card], {"model": "gpt-4", "region": "eu"}) == 1
    assert amount([card], {"model": "gpt-4", "region": "us"}) == 2
    assert amount([card], {"model": "claude"}) == 3
    assert [r.specificity for r in card.card.rules] == [-1, 0, 1, 2]


def test_default_prices_what_nothing_else_does():
    card = layer("meter", price("m/0", 2, GPT4), price("m/1", 1, default=True))
    assert amount([card], {"model": "gpt-4"}) == 2
    assert amount([card], {"model": "other"}) == 1
    assert amount([card], {}) == 1
    res = resolve((card,), {"model": "other"})
    assert res.base.id == "m/1" and res.base_layer is card


def test_conditions_match_as_text_and_absent_keys():
    card = layer("meter",
                 price("m/0", 1, cond("region", "!=", "eu")),
                 price("m/1", 2, cond("model", "in", "a", "b"), cond("region", "=", "eu")),
                 price("m/2", 3, cond("model", "not in", "a", "b"), cond("region", "=", "eu")))
    assert amount([card], {}) == 1  # `!=` matches a line without the key
    assert amount([card], {"region": "eu", "model": "b"}) == 2
    assert amount([card], {"region": "eu"}) == 3  # so does `not in`
    assert amount([card], {"region": "eu", "model": "c"}) == 3


# ----------------------------------------------------------------- modifiers


def test_modifiers_of_the_base_layer_apply():
    card = layer("meter", price("m/0", 1, default=True), mod("m/1", 50, "off", ENTERPRISE))
    assert amount([card], {"customer_tier": "enterprise"}) == Decimal("0.50")
    assert amount([card], {"customer_tier": "startup"}) == 1


def test_modifiers_of_a_higher_layer_apply_to_a_lower_layers_price():
    contract = layer("contract", mod("c/0", 20, "off", default=True))
    meter = layer("meter", price("m/0", 1, default=True), mod("m/1", 50, "off", ENTERPRISE))
    res = resolve((contract, meter), {"customer_tier": "enterprise"})
    assert res.price.amount == Decimal("0.4")
    assert [r.id for r, _ in res.modifiers] == ["c/0", "m/1"]
    assert res.factor == Decimal("0.4")
    assert res.base_layer.kind == "meter"


def test_a_contract_price_is_final():
    contract = layer("contract", price("c/0", "0.5", default=True), mod("c/1", 10, "off", default=True))
    plan = layer("plan", price("p/0", 2, default=True), mod("p/1", 50, "off", ENTERPRISE))
    meter = layer("meter", mod("m/0", 50, "off", ENTERPRISE))
    res = resolve((contract, plan, meter), {"customer_tier": "enterprise"})
    # the contract's own modifier applies; the plan's and meter's do not
    assert res.price.amount == Decimal("0.45")
    assert [r.id for r, _ in res.modifiers] == ["c/1"]
    outcomes = {c.rule.id: c.outcome for c in res.candidates}
    assert outcomes == {
        "c/0": "won", "c/1": "applied", "p/0": "lower layer",
        "p/1": "lower layer than the price (a negotiated price is final)",
        "m/0": "lower layer than the price (a negotiated price is final)",
    }


def test_a_plan_price_is_not_touched_by_meter_modifiers():
    plan = layer("plan", price("p/0", 2, default=True))
    meter = layer("meter", price("m/0", 9, default=True), mod("m/1", 50, "off", ENTERPRISE))
    assert amount([plan, meter], {"customer_tier": "enterprise"}) == 2


def test_modifiers_stack_and_commute():
    mods = [mod("m/1", 50, "off", default=True), mod("m/2", 10, "off", ENTERPRISE),
            mod("m/3", 10, "up", EU)]
    base = price("m/0", 1, default=True)
    attrs = {"customer_tier": "enterprise", "region": "eu"}
    for order in itertools.permutations(mods):
        assert amount([layer("meter", base, *order)], attrs) == Decimal("0.495")
    assert amount([layer("meter", base, *mods)], {"region": "eu"}) == Decimal("0.55")


def test_modifiers_scale_every_amount_of_tiered_and_package_prices():
    tiered = TieredPrice(kind="graduated", unit=UNIT, tiers=(
        Tier(up_to=Decimal(100), amount=Decimal(0), flat=Decimal(0)),
        Tier(up_to=None, amount=Decimal("0.10"), flat=Decimal(5))))
    package = PackagePrice(amount=Decimal(5), size=Decimal(1000), unit_name="calls")
    for action in (tiered, package):
        card = layer("meter", Rule(id="m/0", is_default=True, action=action), mod("m/1", 20, "off", default=True))
        scaled = resolve((card,), {}).price
        assert scaled.kind == action.kind
        if isinstance(scaled, TieredPrice):
            assert [(t.up_to, t.amount, t.flat) for t in scaled.tiers] == [
                (100, 0, 0), (None, Decimal("0.08"), 4)]
        else:
            assert (scaled.amount, scaled.size) == (4, 1000)
    assert scale(package, Decimal(1)) is package


def test_no_price_no_resolution():
    assert resolve((layer("meter", mod("m/0", 10, "off", default=True)),), {}) is None
    assert resolve((), {}) is None


# ----------------------------------------------------------------- effective dates


def test_active_on_from_is_inclusive_until_is_exclusive():
    r = price("m/0", 1, valid_from=dt.date(2026, 4, 1), valid_until=dt.date(2026, 7, 1))
    assert not active_on(r, dt.date(2026, 3, 31))
    assert active_on(r, dt.date(2026, 4, 1))
    assert active_on(r, dt.date(2026, 6, 30))
    assert not active_on(r, dt.date(2026, 7, 1))
    assert active_on(r, None)  # no day: dates are not considered
    assert active_on(price("m/1", 1), dt.date(1, 1, 1))


def test_dated_versions_price_by_day():
    card = layer("meter",
                 price("m/0", 3, GPT4, valid_until=dt.date(2026, 4, 1)),
                 price("m/1", "2.5", GPT4, valid_from=dt.date(2026, 4, 1)),
                 price("m/2", 1, default=True, valid_until=dt.date(2026, 4, 1)))
    gpt4 = {"model": "gpt-4"}
    assert amount([card], gpt4, dt.date(2026, 3, 31)) == 3
    assert amount([card], gpt4, dt.date(2026, 4, 1)) == Decimal("2.5")
    assert amount([card], {"model": "x"}, dt.date(2026, 3, 1)) == 1
    assert amount([card], {"model": "x"}, dt.date(2026, 4, 1)) is None  # the default has ended
    outcomes = {c.rule.id: c.outcome for c in resolve((card,), gpt4, dt.date(2026, 5, 1)).candidates}
    assert outcomes == {"m/0": "not in effect", "m/1": "won", "m/2": "not in effect"}


def test_a_dated_higher_layer_falls_back_outside_its_window():
    contract = layer("contract", price("c/0", 1, default=True, valid_from=dt.date(2026, 6, 1)))
    meter = layer("meter", price("m/0", 2, default=True))
    assert amount([contract, meter], {}, dt.date(2026, 5, 31)) == 2
    assert amount([contract, meter], {}, dt.date(2026, 6, 1)) == 1


# ----------------------------------------------------------------- static questions


def test_satisfiable():
    assert satisfiable([])
    assert satisfiable([GPT4, EU])
    assert not satisfiable([GPT4, cond("model", "=", "claude")])
    assert satisfiable([GPT4, cond("model", "!=", "claude")])
    assert not satisfiable([GPT4, cond("model", "!=", "gpt-4")])
    assert satisfiable([cond("model", "in", "a", "b"), cond("model", "in", "b", "c")])
    assert not satisfiable([cond("model", "in", "a", "b"), cond("model", "not in", "a", "b")])
    assert satisfiable([cond("model", "!=", "a"), cond("model", "not in", "b", "c")])  # e.g. absent
    # declared value sets close the universe
    universes = {"model": frozenset({"a", "b"})}
    assert not satisfiable([cond("model", "not in", "a", "b")], universes)
    assert not satisfiable([cond("model", "=", "z")], universes)
    assert satisfiable([cond("model", "!=", "a")], universes)
    assert not satisfiable([cond("model", "!=", "a"), cond("model", "!=", "b")], universes)
    assert satisfiable([cond("region", "!=", "a")], universes)


def test_ambiguous_pairs():
    def pairs(*rules, universes=None):
        return [(a.id, b.id) for a, b in ambiguous_pairs(RateCard(unit=UNIT, rules=rules), universes)]

    # different keys, equally specific, both can match
    assert pairs(price("a", 1, GPT4), price("b", 2, EU)) == [("a", "b")]
    # exclusive values of one key
    assert pairs(price("a", 1, GPT4), price("b", 2, cond("model", "=", "claude"))) == []
    # the same price is no ambiguity
    assert pairs(price("a", 1, GPT4), price("b", 1, EU)) == []
    # different specificity is no ambiguity: the more specific wins
    assert pairs(price("a", 1, GPT4), price("b", 2, GPT4, EU)) == []
    # modifiers stack, they are never ambiguous
    assert pairs(mod("a", 10, "off", GPT4), mod("b", 20, "off", EU)) == []
    # in / not in / !=
    assert pairs(price("a", 1, cond("model", "in", "x", "y")), price("b", 2, cond("model", "in", "y", "z"))) \
        == [("a", "b")]
    assert pairs(price("a", 1, cond("model", "in", "x", "y")), price("b", 2, cond("model", "in", "z"))) == []
    assert pairs(price("a", 1, cond("model", "not in", "x")), price("b", 2, cond("model", "=", "x"))) == []
    assert pairs(price("a", 1, cond("model", "not in", "x")), price("b", 2, cond("model", "=", "y"))) \
        == [("a", "b")]
    assert pairs(price("a", 1, cond("model", "!=", "x")), price("b", 2, cond("model", "!=", "y"))) \
        == [("a", "b")]
    # two defaults that disagree
    assert pairs(price("a", 1, default=True), price("b", 2, default=True)) == [("a", "b")]


def test_ambiguous_pairs_use_declared_value_sets():
    def pairs(*rules, universes):
        return [(a.id, b.id) for a, b in ambiguous_pairs(RateCard(unit=UNIT, rules=rules), universes)]

    a = price("a", 1, cond("model", "!=", "x"))
    b = price("b", 2, cond("region", "=", "eu"))
    assert pairs(a, b, universes={}) == [("a", "b")]
    # with `model in ("x")` declared, `model != "x"` can never match
    assert pairs(a, b, universes={"model": frozenset({"x"})}) == []
    assert pairs(a, b, universes={"model": frozenset({"x", "y"})}) == [("a", "b")]


def test_ambiguous_pairs_consider_dates():
    april = dt.date(2026, 4, 1)
    early = price("a", 1, GPT4, valid_until=april)
    late = price("b", 2, GPT4, valid_from=april)
    always = price("c", 3, GPT4)
    card = RateCard(unit=UNIT, rules=(early, late))
    assert ambiguous_pairs(card) == []
    card = RateCard(unit=UNIT, rules=(early, late, always))
    assert [(a.id, b.id) for a, b in ambiguous_pairs(card)] == [("a", "c"), ("b", "c")]


def test_ambiguity_through_the_compiler_names_both_lines():
    text = """meter M {
  event "e"
  count
  dimensions model in ("a", "b"), region
  rates {
    model != "a" : $1
    region = "eu" : $2
    model = "a", region = "eu" : $3
    default : $0
  }
}
plan p { charge M }
"""
    compiled = compile_sources([("m.pricing", text)])
    (d,) = [d for d in compiled.diagnostics if d.code == "E400"]
    assert d.span.where == "m.pricing:7:5" and d.notes[0].span.where == "m.pricing:6:5"
    assert 'both match model = "b", region = "eu"' in d.message


# ----------------------------------------------------------------- properties

KEYS = ("model", "region")
VALUES = ("a", "b", "c")
OTHER = "z"  # a value no condition names
DAYS = (dt.date(2026, 1, 1), dt.date(2026, 3, 1), dt.date(2026, 6, 1))


@st.composite
def conditions(draw) -> Condition:
    key = draw(st.sampled_from(KEYS))
    op = draw(st.sampled_from(["=", "!=", "in", "not in"]))
    if op in ("=", "!="):
        values = (draw(st.sampled_from(VALUES)),)
    else:
        values = tuple(draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3, unique=True)))
    return Condition(key=key, op=op, values=values)


universes_st = st.dictionaries(st.sampled_from(KEYS),
                               st.frozensets(st.sampled_from(VALUES + (OTHER,)), min_size=1, max_size=4), max_size=2)


def _lines(universes):
    """Every distinct line: each key absent, a named value or another one (closed keys: declared values)."""
    choices = []
    for key in KEYS:
        if key in universes:
            choices.append(sorted(universes[key]))
        else:
            choices.append([None, *VALUES, OTHER])
    for combo in itertools.product(*choices):
        yield {k: v for k, v in zip(KEYS, combo) if v is not None}


@settings(max_examples=300, deadline=None)
@given(st.lists(conditions(), max_size=4), universes_st)
def test_satisfiable_agrees_with_brute_force(conds, universes):
    truth = any(all(c.matches(line) for c in conds) for line in _lines(universes))
    assert satisfiable(conds, universes) == truth
    # and with the ValueSet algebra the compiler's messages use
    by_key: dict[str, ValueSet] = {}
    for c in conds:
        vs = ValueSet.of(c)
        by_key[c.key] = by_key[c.key].meet(vs) if c.key in by_key else vs
    assert (not any(vs.within(universes.get(k)).empty for k, vs in by_key.items())) == truth


@st.composite
def rate_cards(draw):
    """1-7 rules: prices (few distinct amounts, so ties agree sometimes) and modifiers,
    some defaults, some effective-dated."""
    rules = []
    for i in range(draw(st.integers(1, 7))):
        is_default = draw(st.booleans()) and draw(st.booleans())
        conds = () if is_default else tuple(draw(st.lists(conditions(), max_size=2)))
        if draw(st.integers(0, 3)) == 0:
            action = Modifier(percent=Decimal(draw(st.sampled_from([10, 20, 50]))),
                              direction=draw(st.sampled_from(["off", "up"])))
        else:
            action = UnitPrice(amount=Decimal(draw(st.sampled_from([1, 2, 3]))), unit=UNIT)
        window = draw(st.sampled_from([(None, None), (None, DAYS[1]), (DAYS[1], None), (DAYS[1], DAYS[2])]))
        rules.append(Rule(id=f"r{i}", conditions=conds, is_default=is_default, action=action,
                          valid_from=window[0], valid_until=window[1]))
    return rules


def _as_written(rules) -> RateCard:
    """Rules in this order, with ids by position as the compiler gives them."""
    return RateCard(unit=UNIT, rules=tuple(r.model_copy(update={"id": f"r{i}"}) for i, r in enumerate(rules)))


def _prices(layers_of_rules, universes):
    layers = tuple(Layer(kind, kind, _as_written(rules)) for kind, rules in layers_of_rules)
    out = []
    for line in _lines(universes):
        for day in DAYS:
            res = resolve(layers, line, day)
            out.append(None if res is None else res.price)
    return out


@settings(max_examples=200, deadline=None)
@given(rate_cards(), universes_st, st.randoms(use_true_random=False))
def test_resolve_does_not_depend_on_rule_order_without_ambiguity(rules, universes, rnd):
    if ambiguous_pairs(_as_written(rules), universes):
        return
    expected = _prices([("meter", rules)], universes)
    for _ in range(3):
        shuffled = list(rules)
        rnd.shuffle(shuffled)
        assert _prices([("meter", shuffled)], universes) == expected


@settings(max_examples=100, deadline=None)
@given(rate_cards(), rate_cards(), st.randoms(use_true_random=False))
def test_resolve_does_not_depend_on_rule_order_across_layers(upper, lower, rnd):
    if ambiguous_pairs(_as_written(upper)) or ambiguous_pairs(_as_written(lower)):
        return
    expected = _prices([("contract", upper), ("meter", lower)], {})
    a, b = list(upper), list(lower)
    rnd.shuffle(a)
    rnd.shuffle(b)
    assert _prices([("contract", a), ("meter", b)], {}) == expected


def test_the_order_would_matter_if_ambiguity_went_unreported():
    """The property above is not vacuous: two tied rules with different prices
    resolve by position, which is why the compiler rejects them (E400)."""
    model_a = cond("model", "=", "a")
    a, b = price("x", 1, model_a), price("y", 2, model_a)
    assert ambiguous_pairs(_as_written([a, b]))
    one = _prices([("meter", [a, b])], {})
    two = _prices([("meter", [b, a])], {})
    assert one != two


@pytest.mark.parametrize("percent, direction, factor", [
    (20, "off", "0.8"), (100, "off", "0"), (10, "up", "1.1"), (0, "up", "1"), ("12.5", "off", "0.875")])
def test_modifier_factor(percent, direction, factor):
    assert Modifier(percent=Decimal(str(percent)), direction=direction).factor == Decimal(factor)


def _all_pairs(card: RateCard, universes) -> list[tuple[str, str]]:
    """Every pair tried, as `ambiguous_pairs` did before it used an index."""
    from ratecard.rules import can_both_match

    prices = [r for r in card.rules if not r.is_modifier]
    return [(a.id, b.id) for i, a in enumerate(prices) for b in prices[i + 1:]
            if a.specificity == b.specificity and a.action != b.action and can_both_match(a, b, universes)]


@settings(max_examples=300, deadline=None)
@given(st.lists(rate_cards(), min_size=1, max_size=3).map(lambda cards: [r for c in cards for r in c]),
       universes_st)
def test_the_indexed_ambiguity_check_finds_exactly_the_pairs_of_the_exhaustive_one(rules, universes):
    card = _as_written(rules)
    assert [(a.id, b.id) for a, b in ambiguous_pairs(card, universes)] == _all_pairs(card, universes)


def test_thousands_of_versions_and_grid_rules_are_compared_through_the_index():
    """Near-linear: a rule with 3,000 dated versions, and 3,000 grid rules, give no pair to try
    but their neighbours (the exhaustive check tried 4.5 million each)."""
    from ratecard.rules import _overlap_candidates

    base = dt.date(2026, 1, 1)
    versions = [price(f"v{i}", i % 7 + 1, GPT4, valid_from=base + dt.timedelta(days=i),
                      valid_until=base + dt.timedelta(days=i + 1)) for i in range(3000)]
    assert _overlap_candidates(versions) == set()
    grid = [price(f"g{i}", 1 + i % 3, cond("product", "=", f"p{i // 5}"), cond(f"k{(i // 5) % 59}", "=", f"v{i % 5}"))
            for i in range(3000)]
    assert len(_overlap_candidates(grid)) <= 2 * len(grid)  # a product's 5 variants with each other
