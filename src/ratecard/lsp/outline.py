"""Document symbols: the outline of one file, from its syntax tree.

Top level: currency and rounding settings, meters, plans, contracts and
tests. Inside: a meter's dimensions and rate rules, a plan's fees and charges,
a contract's overrides and credits. Each symbol's range is its whole block or
statement; its selection range is the name.
"""

from __future__ import annotations

from lsprotocol import types

from ..diagnostics import Span
from ..syntax import nodes as n
from .positions import Positions

S = types.SymbolKind


class _Outline:
    def __init__(self, text: str, positions: Positions) -> None:
        self.lines = text.split("\n")
        self.positions = positions

    def range(self, span: Span) -> types.Range:
        return self.positions.range(span, self.lines)

    def source(self, span: Span) -> str:
        if span.line != span.end_line:
            return self.lines[span.line - 1][span.col - 1:].strip()
        return self.lines[span.line - 1][span.col - 1:span.end_col - 1]

    def symbol(self, name: str, kind, span: Span, name_span: Span, detail: str | None = None,
               children: list | None = None) -> types.DocumentSymbol:
        return types.DocumentSymbol(name=name, kind=kind, range=self.range(span),
                                    selection_range=self.range(name_span), detail=detail,
                                    children=children or None)

    def rules(self, rules) -> list[types.DocumentSymbol]:
        out = []
        for rule in rules:
            lhs = "default" if rule.is_default or not rule.conditions else self.source(rule.lhs_span)
            out.append(self.symbol(lhs, S.EnumMember, rule.span, rule.lhs_span, self.source(rule.rhs.span)))
        return out

    def item(self, item) -> types.DocumentSymbol | None:
        if isinstance(item, n.CurrencyDecl):
            return self.symbol(f"currency {item.code.name}", S.Constant, item.span, item.code.span)
        if isinstance(item, n.RoundingDecl):
            return self.symbol(f"rounding {item.mode.name}", S.Constant, item.span, item.mode.span)
        if isinstance(item, n.MeterBlock):
            return self.meter(item)
        if isinstance(item, n.PlanBlock):
            return self.plan(item)
        if isinstance(item, n.ContractBlock):
            return self.symbol(item.name.name, S.Object, item.span, item.name.span, "contract",
                               self.contract_body(item.body))
        if isinstance(item, n.TestBlock):
            return self.symbol(item.name.value or item.name.raw, S.Event, item.span, item.name.span, "test")
        return None

    def meter(self, block: n.MeterBlock) -> types.DocumentSymbol:
        children = []
        detail = "meter"
        for stmt in block.body:
            if isinstance(stmt, n.Event):
                detail = f"meter: {stmt.name.value}"
            elif isinstance(stmt, n.Dimensions):
                children += [self.symbol(d.name.name, S.Field, d.span, d.name.span, "dimension")
                             for d in stmt.items]
            elif isinstance(stmt, n.Rates):
                children += self.rules(stmt.rules)
        return self.symbol(block.name.name, S.Struct, block.span, block.name.span, detail, children)

    def plan(self, block: n.PlanBlock) -> types.DocumentSymbol:
        children = []
        for stmt in block.body:
            if isinstance(stmt, n.Fee):
                children.append(self.symbol(f"fee {stmt.label.raw}", S.Constant, stmt.span, stmt.label.span,
                                            stmt.amount.raw))
            elif isinstance(stmt, n.Charge):
                rules = self.rules(stmt.spec.rules) if stmt.spec and not stmt.spec.inline else []
                detail = self.source(stmt.spec.rules[0].rhs.span) if stmt.spec and stmt.spec.inline else "charge"
                children.append(self.symbol(f"charge {stmt.meter.name}", S.Property, stmt.span,
                                            stmt.meter.span, detail, rules))
        return self.symbol(block.name.name, S.Class, block.span, block.name.span, "plan", children)

    def contract_body(self, body) -> list[types.DocumentSymbol]:
        children = []
        for stmt in body:
            if isinstance(stmt, n.Override):
                spec = stmt.spec
                rules = [] if spec.inline else self.rules(spec.rules)
                detail = self.source(spec.rules[0].rhs.span) if spec.inline else "override"
                children.append(self.symbol(f"override {stmt.meter.name}", S.Property, stmt.span,
                                            stmt.meter.span, detail, rules))
            elif isinstance(stmt, n.Credit):
                children.append(self.symbol(f"credit {stmt.amount.raw}", S.Constant, stmt.span,
                                            stmt.amount.span, "credit"))
        return children


def document_symbols(tree: n.SourceFile, text: str, positions: Positions) -> list[types.DocumentSymbol]:
    outline = _Outline(text, positions)
    return [s for s in (outline.item(item) for item in tree.items) if s is not None]
