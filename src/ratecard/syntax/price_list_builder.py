"""Tree-builder callbacks for the statements of LANGUAGE.md "Part 2".

A mixin of `syntax.parser._Builder` (which wraps these callbacks like its own:
each gets the rule's span and its children without punctuation), kept in its
own module so that the parser stays small.
"""

from __future__ import annotations

from decimal import Decimal

from lark import Token

from ..diagnostics import Span
from . import nodes as n


class PriceListBuilder:
    """Callbacks named after grammar rules (and aliases) of the Part 2 statements."""

    # -- derived quantities

    def field_agg(self, meta, c):
        """`sum F` (a bare property: `field`) or `sum a - b` (an `expression`)."""
        expr = c[1]
        if isinstance(expr, n.Property):
            return n.Aggregation(str(c[0]), expr.name, meta)
        return n.Aggregation(str(c[0]), None, meta, expression=expr)

    def weighted_agg(self, meta, c):
        return n.Aggregation("weighted", self._ident(c[0]), meta, per=self._ident(c[1]))

    def property(self, meta, c):
        return n.Property(self._ident(c[0]), meta)

    def number(self, meta, c):
        return n.NumberTerm(self._num(c[0]), meta)

    def parens(self, meta, c):
        return n.Parens(c[0], meta)

    def add(self, meta, c):
        return n.Binary("+", c[0], c[1], meta)

    def subtract(self, meta, c):
        return n.Binary("-", c[0], c[1], meta)

    def multiply(self, meta, c):
        return n.Binary("*", c[0], c[1], meta)

    def divide(self, meta, c):
        return n.Binary("/", c[0], c[1], meta)

    # -- units, billing, fees, caps, allowances

    def billing(self, meta, c):
        """`billing monthly` or `billing monthly on day 1` (c[1], the day)."""
        return n.Billing(self._ident(c[0]), meta, self._num(c[1]) if len(c) > 1 else None)

    def unit_name(self, meta, c):
        """`GB-month`: one name, its words joined by `-`."""
        return n.Ident("-".join(str(t) for t in c), meta)

    def in_advance(self, meta, c):
        return meta  # the span of `in advance`

    def cap(self, meta, c):
        return n.Cap(c[0], meta)

    def allowance(self, meta, c):
        cadence = self._ident(c[1]) if len(c) > 1 and isinstance(c[1], Token) else None
        body = tuple(x for x in c[1:] if not isinstance(x, Token))
        return n.Allowance(c[0], cadence, body, meta)

    def applies_to(self, meta, c):
        return n.AppliesTo(tuple(self._ident(t) for t in c), meta)

    # -- contracts and credits

    def priority(self, meta, c):
        return n.Priority(self._num(c[0]), meta)

    def plan_change(self, meta, c):
        return n.PlanChange(self._ident(c[0]), self._date(c[1]), meta)

    def discount(self, meta, c):
        head = c[0]
        percent = money = None
        if isinstance(head, Token):
            raw = str(head)
            percent = n.Percent(Decimal(raw[:-1].replace("_", "")), raw,
                                Span(self.file, head.line, head.column, head.end_line, head.end_column))
        else:
            money = head
        term = next((x for x in c[1:] if isinstance(x, (n.Once, n.ForPeriods))), None)
        body = next((x[0] for x in c[1:] if type(x) is tuple), None)
        return n.Discount(percent, money, term, body, meta)

    def discount_block(self, meta, c):
        return tuple(c), meta  # (the span keeps the braces inside the discount's span)

    def once(self, meta, c):
        return n.Once(meta)

    def for_periods(self, meta, c):
        return n.ForPeriods(self._num(c[0]), self._ident(c[1]), meta)
