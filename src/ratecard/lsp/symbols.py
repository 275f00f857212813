"""Names in the syntax trees: where each meter, plan, contract and dimension is
defined and used, plus the role of every other word (units, fields, settings).

One walk over the project's parsed files builds an `Index`; definition,
references, hover, completion, semantic tokens and the outline all read it.

Meters, plans and contracts are global names. A dimension belongs to the meter
that declares it (`dimensions instance in (...)`): a condition, a `where`, a
test's usage or expectation on that meter refers to the meter's declaration. A
key the meter does not declare can only be matched by a contract's
`dimensions KEY = ...`, so there it refers to those contract settings (one
symbol per key across contracts, as rules see them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from ..diagnostics import Span
from ..model import FEES
from ..syntax import nodes as n

# symbol keys: ("meter", NAME) ("plan", NAME) ("contract", NAME)
#              ("dimension", METER, KEY)  a meter's declared dimension
#              ("contract-dimension", KEY)  a key only contracts set
Symbol = tuple


@dataclass(frozen=True)
class Occurrence:
    span: Span
    symbol: Symbol
    definition: bool


@dataclass(frozen=True)
class Word:
    """A classified identifier that is not a symbol: a unit, a field, an enumerated word."""

    span: Span
    role: str  # unit | field | setting | currency


@dataclass
class Index:
    occurrences: list[Occurrence] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    definitions: dict[Symbol, list[Span]] = field(default_factory=lambda: defaultdict(list))
    references: dict[Symbol, list[Span]] = field(default_factory=lambda: defaultdict(list))
    values: dict[Symbol, set[str]] = field(default_factory=lambda: defaultdict(set))
    units: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # unit name -> uses
    meter_units: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rules: list[tuple[Span, n.Rule, str | None]] = field(default_factory=list)  # span, node, meter
    credits: list[tuple[Span, n.Credit]] = field(default_factory=list)
    meter_dimensions: dict[str, dict[str, n.DimensionDecl]] = field(default_factory=dict)
    _by_file: dict[str, list[Occurrence]] = field(default_factory=lambda: defaultdict(list))

    # ------------------------------------------------------------ queries

    def at(self, file: str, line: int, col: int) -> Occurrence | None:
        """The name at (line, col); a cursor just after a name's last character counts."""
        for occ in self._by_file.get(file, ()):
            if _contains(occ.span, line, col, inclusive_end=True):
                return occ
        return None

    def in_file(self, file: str) -> list[Occurrence]:
        return self._by_file.get(file, [])

    def names(self, kind: str) -> list[str]:
        return sorted({s[1] for s in self.definitions if s[0] == kind})

    def dimension_keys(self, meter: str | None) -> list[tuple[Symbol, str]]:
        """The keys a rule on `meter` can test: its dimensions, then contract-set keys."""
        keys: dict[str, Symbol] = {}
        for key in (self.meter_dimensions.get(meter) or {}) if meter else ():
            keys[key] = ("dimension", meter, key)
        for sym in self.definitions:
            if sym[0] == "contract-dimension":
                keys.setdefault(sym[1], sym)
        return [(sym, key) for key, sym in sorted(keys.items())]

    def resolve_dimension(self, meter: str | None, key: str) -> Symbol:
        if meter is not None and key in self.meter_dimensions.get(meter, {}):
            return ("dimension", meter, key)
        return ("contract-dimension", key)

    # ------------------------------------------------------------ building

    def _add(self, span: Span, symbol: Symbol, definition: bool = False) -> None:
        occ = Occurrence(span, symbol, definition)
        self.occurrences.append(occ)
        self._by_file[span.file].append(occ)
        (self.definitions if definition else self.references)[symbol].append(span)


def _contains(span: Span, line: int, col: int, *, inclusive_end: bool = False) -> bool:
    if (line, col) < (span.line, span.col):
        return False
    end = (span.end_line, span.end_col)
    return (line, col) <= end if inclusive_end else (line, col) < end


def contains(span: Span, line: int, col: int) -> bool:
    """Is (line, col) inside `span` (end exclusive)?"""
    return _contains(span, line, col)


def build_index(files: Iterable[n.SourceFile]) -> Index:
    files = list(files)
    index = Index()
    for f in files:  # meters' dimensions first: conditions anywhere resolve against them
        for item in f.items:
            if isinstance(item, n.MeterBlock) and item.name.name not in index.meter_dimensions:
                decls: dict[str, n.DimensionDecl] = {}
                for stmt in item.body:
                    if isinstance(stmt, n.Dimensions):
                        for d in stmt.items:
                            decls.setdefault(d.name.name, d)
                index.meter_dimensions[item.name.name] = decls
    walker = _Walker(index)
    for f in files:
        for item in f.items:
            walker.item(item)
    return index


class _Walker:
    def __init__(self, index: Index) -> None:
        self.ix = index

    # ------------------------------------------------------------ leaves

    def word(self, ident: n.Ident | None, role: str) -> None:
        if ident is not None:
            self.ix.words.append(Word(ident.span, role))

    def money(self, money: n.Money | None) -> None:
        if money is not None and money.currency is not None:
            self.word(money.currency, "currency")

    def unit(self, per: n.Per | None, meter: str | None) -> None:
        if per is None:
            return
        self.word(per.unit, "unit")
        self.ix.units[per.unit.name] += 1
        if meter:
            self.ix.meter_units[meter].add(per.unit.name)

    def key(self, ident: n.Ident, meter: str | None, values: Iterable[n.Value] = ()) -> None:
        symbol = self.ix.resolve_dimension(meter, ident.name)
        self.ix._add(ident.span, symbol)
        self.ix.values[symbol].update(_text(v) for v in values)

    # ------------------------------------------------------------ items

    def item(self, item) -> None:
        if isinstance(item, n.CurrencyDecl):
            self.word(item.code, "currency")
        elif isinstance(item, n.RoundingDecl):
            self.word(item.mode, "setting")
        elif isinstance(item, n.MeterBlock):
            self.meter(item)
        elif isinstance(item, n.PlanBlock):
            self.ix._add(item.name.span, ("plan", item.name.name), True)
            for stmt in item.body:
                self.plan_stmt(stmt)
        elif isinstance(item, n.ContractBlock):
            self.ix._add(item.name.span, ("contract", item.name.name), True)
            for stmt in item.body:
                self.contract_stmt(stmt)
        elif isinstance(item, n.TestBlock):
            for stmt in item.body:
                self.test_stmt(stmt)

    def meter(self, block: n.MeterBlock) -> None:
        name = block.name.name
        self.ix._add(block.name.span, ("meter", name), True)
        for stmt in block.body:
            if isinstance(stmt, n.Aggregation):
                self.word(stmt.field, "field")
            elif isinstance(stmt, n.Dimensions):
                for d in stmt.items:
                    symbol = ("dimension", name, d.name.name)
                    self.ix._add(d.name.span, symbol, True)
                    self.ix.values[symbol].update(_text(v) for v in d.values or ())
            elif isinstance(stmt, n.Where):  # a filter on event properties, dimensions or not
                for c in stmt.conditions:
                    if c.key.name in self.ix.meter_dimensions.get(name, {}):
                        self.key(c.key, name, c.values)
                    else:
                        self.word(c.key, "field")
            elif isinstance(stmt, n.Rates):
                self.unit(stmt.per, name)
                self.rules(stmt.rules, name)

    def rules(self, rules: Iterable[n.Rule], meter: str | None) -> None:
        for rule in rules:
            self.ix.rules.append((rule.span, rule, meter))
            for c in rule.conditions:
                self.key(c.key, meter, c.values)
            self.price(rule.rhs, meter)

    def price(self, rhs, meter: str | None) -> None:
        if isinstance(rhs, n.UnitPrice):
            self.money(rhs.money)
            self.unit(rhs.per, meter)
        elif isinstance(rhs, n.TieredPrice):
            self.unit(rhs.per, meter)
            for tier in rhs.tiers:
                self.money(tier.price)
                self.money(tier.flat)
        elif isinstance(rhs, n.PackagePrice):
            self.money(rhs.money)
            self.word(rhs.unit, "unit")
            self.ix.units[rhs.unit.name] += 1

    def spec(self, spec: n.RateSpec | None, meter: str) -> None:
        if spec is None:
            return
        self.unit(spec.per, meter)
        self.rules(spec.rules, meter)

    def terms(self, stmt) -> bool:
        """Statements plans and contracts share; True when `stmt` was one."""
        if isinstance(stmt, n.Billing):
            self.word(stmt.cycle, "setting")
        elif isinstance(stmt, n.Autopay):
            self.word(stmt.setting, "setting")
        elif isinstance(stmt, n.Minimum):
            self.money(stmt.amount)
        else:
            return isinstance(stmt, (n.Title, n.Payment))
        return True

    def plan_stmt(self, stmt) -> None:
        if self.terms(stmt):
            return
        if isinstance(stmt, n.Fee):
            self.money(stmt.amount)
            self.word(stmt.cadence, "setting")
        elif isinstance(stmt, n.Charge):
            self.ix._add(stmt.meter.span, ("meter", stmt.meter.name))
            self.spec(stmt.spec, stmt.meter.name)
        elif isinstance(stmt, n.Allowance):
            self.money(stmt.amount)
            self.word(stmt.cadence, "setting")
            self.applies(stmt.body)

    def applies(self, body) -> None:
        """`applies to M1, M2` (a discount's, credit's or allowance's): meters, or the word `fees`."""
        for part in body or ():
            if isinstance(part, n.AppliesTo):
                for target in part.targets:
                    if target.name == FEES:
                        self.word(target, "setting")
                    else:
                        self.ix._add(target.span, ("meter", target.name))

    def contract_stmt(self, stmt) -> None:
        if self.terms(stmt):
            return
        if isinstance(stmt, (n.PlanRef, n.PlanChange)):  # `plan p`, `plan q from DATE`
            self.ix._add(stmt.name.span, ("plan", stmt.name.name))
        elif isinstance(stmt, n.Discount):
            self.money(stmt.money)
            self.applies(stmt.body)
        elif isinstance(stmt, n.ContractDimensions):
            for a in stmt.items:
                symbol = ("contract-dimension", a.key.name)
                self.ix._add(a.key.span, symbol, True)
                self.ix.values[symbol].add(_text(a.value))
        elif isinstance(stmt, n.Override):
            self.ix._add(stmt.meter.span, ("meter", stmt.meter.name))
            self.spec(stmt.spec, stmt.meter.name)
        elif isinstance(stmt, n.Credit):
            self.ix.credits.append((stmt.span, stmt))
            self.money(stmt.amount)
            self.applies(stmt.body)
            for part in stmt.body or ():
                if isinstance(part, n.CreditPrice):
                    self.money(part.amount)

    def test_stmt(self, stmt) -> None:
        if isinstance(stmt, n.TestContract):
            self.ix._add(stmt.name.span, ("contract", stmt.name.name))
        elif isinstance(stmt, n.TestInlineContract):
            for part in stmt.body:
                self.contract_stmt(part)
        elif isinstance(stmt, n.Usage):
            self.ix._add(stmt.meter.span, ("meter", stmt.meter.name))
            for a in stmt.dimensions:
                self.key(a.key, stmt.meter.name, (a.value,))
        elif isinstance(stmt, n.Expect):
            self.money(stmt.money)
            if stmt.meter is not None:
                self.ix._add(stmt.meter.span, ("meter", stmt.meter.name))
                for a in stmt.dimensions:
                    self.key(a.key, stmt.meter.name, (a.value,))


def _text(value: n.Value) -> str:
    return value.value if isinstance(value, n.Str) else value.raw.replace("_", "")
