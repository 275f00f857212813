"""Text -> `SourceFile`: one cached LALR parser with the tree builder embedded.

The transformer runs inside Lark's LALR parser (no intermediate `lark.Tree`),
and `syntax.lexer` runs Lark's lexer tables in a tighter loop, so that
parsing a large project fits the compile budget (`benchmarks/compile.py`;
figures: docs/scale.md, "Histories: syntax and compiler"). Lark's exceptions
are translated into diagnostics at exactly one place, `syntax.errors.translate`.
"""

from __future__ import annotations

import functools
import threading
from decimal import Decimal

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError

from ..diagnostics import Diagnostic, Span
from ..money import D
from . import nodes as n
from .errors import translate
from .grammar import grammar_text, tables_cache
from .lark_compat import lexer_plugin
from .lexer import FastContextualLexer, WordLexer
from .price_list_builder import PriceListBuilder


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


def _number(raw: str) -> tuple[Decimal, str]:
    text = raw.replace("_", "")
    suffix = ""
    if text[-1] in "KM":
        suffix = text[-1]
        text = text[:-1]
    value = D(text)
    if suffix == "K":
        value *= 1000
    elif suffix == "M":
        value *= 1_000_000
    return value, suffix


def unescape(raw: str) -> str:
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in '"\\':
            out.append(body[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# Terminals that carry a value; every other token (keywords, braces, `:`) is kept by
# the parser only so that node spans can run from the first to the last character.
_VALUE_TERMINALS = frozenset({
    "NAME", "STRING", "NUMBER", "DATE", "TIMESTAMP", "DOLLARS", "PERCENT",
    "COUNT", "AGG_FN", "CMP", "MOD_DIR", "TIER_MODE", "DEFAULT", "POOLED",
})


def _first(items):
    """(line, col) of the first character among `items` (tokens, nodes, spans, tuples)."""
    for item in items:
        if isinstance(item, Token):
            return item.line, item.column
        if isinstance(item, Span):
            return item.line, item.col
        if isinstance(item, tuple):
            found = _first(item)
            if found is not None:
                return found
            continue
        span = item if isinstance(item, Span) else getattr(item, "span", None)
        if span is not None:
            return span.line, span.col
    return None


def _last(items):
    """(line, col) just past the last character among `items`."""
    for item in reversed(items):
        if isinstance(item, Token):
            return item.end_line, item.end_column
        if isinstance(item, Span):
            return item.end_line, item.end_col
        if isinstance(item, tuple):
            found = _last(item)
            if found is not None:
                return found
            continue
        span = item if isinstance(item, Span) else getattr(item, "span", None)
        if span is not None:
            return span.end_line, span.end_col
    return None


def _spanned(cls):
    """Wrap each rule callback: Lark passes children, the callback gets (span, values).

    The span runs from the first to the last character of the rule's tokens
    (keywords and braces included); the values drop punctuation tokens. This
    runs once per syntax node, so the common cases are answered inline.
    """

    def wrap(fn):
        def callback(self, children):
            if children:
                head = children[0]
                first = (head.line, head.column) if type(head) is Token else _first(children)
                tail = children[-1]
                last = (tail.end_line, tail.end_column) if type(tail) is Token else _last(children)
            else:
                first = last = None
            if first and last:
                span = Span(self.file, first[0], first[1], last[0], last[1])
            else:
                span = Span(self.file, 1, 1, 1, 1)
            kept = [x for x in children if type(x) is not Token or x.type in _VALUE_TERMINALS]
            return fn(self, span, kept)

        callback.__name__ = fn.__name__
        return callback

    for name, fn in list(vars(cls).items()):
        if not name.startswith("_") and callable(fn):
            setattr(cls, name, wrap(fn))
    return cls


@_spanned
class _Builder(_spanned(PriceListBuilder), Transformer):
    """Builds `nodes` from parse callbacks. `file` is set per parse (under a lock).

    Each callback receives (span, children-without-punctuation); the span covers
    every token of the rule, keywords and braces included.
    """

    file = "<input>"

    # -- helpers

    @staticmethod
    def _span(meta) -> Span:
        return meta

    def _ident(self, tok: Token) -> n.Ident:
        return n.Ident(str(tok), _tok_span(self.file, tok))

    def _str(self, tok: Token) -> n.Str:
        return n.Str(unescape(str(tok)), str(tok), _tok_span(self.file, tok))

    def _num(self, tok: Token) -> n.Num:
        value, suffix = _number(str(tok))
        return n.Num(value, str(tok), suffix, _tok_span(self.file, tok))

    def _date(self, tok: Token) -> n.DateLit:
        return n.DateLit(str(tok), tok.type == "TIMESTAMP", _tok_span(self.file, tok))

    def _value(self, tok: Token):
        return self._str(tok) if tok.type == "STRING" else self._num(tok)

    # -- top level

    def start(self, meta, items):
        return tuple(items)

    def currency_decl(self, meta, c):
        return n.CurrencyDecl(self._ident(c[0]), self._span(meta))

    def rounding_decl(self, meta, c):
        return n.RoundingDecl(self._ident(c[0]), self._span(meta))

    def grace_decl(self, meta, c):
        return n.GraceDecl(self._num(c[0]), self._ident(c[1]), self._span(meta))

    def numbering_decl(self, meta, c):
        return n.NumberingDecl(self._ident(c[0]), self._str(c[1]), self._span(meta))

    def meter(self, meta, c):
        return n.MeterBlock(self._ident(c[0]), tuple(c[1:]), self._span(meta))

    def plan(self, meta, c):
        return n.PlanBlock(self._ident(c[0]), tuple(c[1:]), self._span(meta))

    def contract(self, meta, c):
        return n.ContractBlock(self._ident(c[0]), tuple(c[1:]), self._span(meta))

    def test(self, meta, c):
        return n.TestBlock(self._str(c[0]), tuple(c[1:]), self._span(meta))

    # -- meter statements

    def title(self, meta, c):
        return n.Title(self._str(c[0]), self._span(meta))

    def event(self, meta, c):
        return n.Event(self._str(c[0]), self._span(meta))

    def count_agg(self, meta, c):
        return n.Aggregation("count", None, self._span(meta))

    def meter_dimensions(self, meta, c):
        return n.Dimensions(tuple(c), self._span(meta))

    def dimension(self, meta, c):
        values = c[1] if len(c) > 1 else None
        return n.DimensionDecl(self._ident(c[0]), values, self._span(meta))

    def where(self, meta, c):
        return n.Where(tuple(c), self._span(meta))

    def rates(self, meta, c):
        per = next((x for x in c if isinstance(x, n.Per)), None)
        eff = next((x for x in c if isinstance(x, n.Effective)), None)
        rules = tuple(x for x in c if isinstance(x, n.Rule))
        return n.Rates(per, eff, rules, self._span(meta))

    # -- rules

    def rule(self, meta, c):
        (conds, is_default, lhs_span), rhs = c
        return n.Rule(conds, is_default, rhs, self._span(meta), lhs_span)

    def default_condition(self, meta, c):
        return ((), True, self._span(meta))

    def conditions(self, meta, c):
        return (tuple(c), False, self._span(meta))

    def compare(self, meta, c):
        return n.Condition(self._ident(c[0]), str(c[1]), (self._value(c[2]),), self._span(meta))

    def in_list(self, meta, c):
        return n.Condition(self._ident(c[0]), "in", c[1], self._span(meta))

    def not_in_list(self, meta, c):
        return n.Condition(self._ident(c[0]), "not in", c[1], self._span(meta))

    def value_list(self, meta, c):
        return tuple(self._value(t) for t in c)

    def modifier(self, meta, c):
        raw = str(c[0])
        return n.Modifier(D(raw[:-1]), raw, str(c[1]), self._span(meta))

    # -- prices

    def unit_price(self, meta, c):
        return n.UnitPrice(c[0], c[1] if len(c) > 1 else None, self._span(meta))

    def tiered_price(self, meta, c):
        pooled, c = (True, c[1:]) if c[0].type == "POOLED" else (False, c)
        per = next((x for x in c[1:] if isinstance(x, n.Per)), None)
        tiers = tuple(x for x in c[1:] if isinstance(x, n.Tier))
        return n.TieredPrice(str(c[0]), per, tiers, self._span(meta), pooled)

    def bounded_tier(self, meta, c):
        return n.Tier(self._num(c[0]), c[1], c[2] if len(c) > 2 else None, self._span(meta))

    def open_tier(self, meta, c):
        return n.Tier(None, c[0], c[1] if len(c) > 1 else None, self._span(meta))

    def package_price(self, meta, c):
        return n.PackagePrice(c[0], self._num(c[1]), self._ident(c[2]), self._span(meta))

    def per(self, meta, c):
        count = self._num(c[0]) if len(c) == 2 else None
        return n.Per(count, c[-1], self._span(meta))  # (`unit_name` built the unit's Ident)

    def dollars(self, meta, c):
        raw = str(c[0])
        negative = raw.count("-") % 2 == 1
        amount = D(raw.replace("-", "").replace("$", ""))
        return n.Money(-amount if negative else amount, None, raw, self._span(meta))

    def coded_money(self, meta, c):
        value, _suffix = _number(str(c[0]))
        raw = f"{c[0]} {c[1]}"
        return n.Money(value, self._ident(c[1]), raw, self._span(meta))

    def free(self, meta, c):
        return n.Money(Decimal(0), None, "free", self._span(meta), is_free=True)

    # -- plans

    def payment(self, meta, c):
        return n.Payment(self._num(c[0]), self._span(meta))

    def autopay(self, meta, c):
        return n.Autopay(self._ident(c[0]), self._span(meta))

    def fee(self, meta, c):
        cadence = self._ident(c[2]) if len(c) > 2 and isinstance(c[2], Token) else None
        advance = c[-1] if isinstance(c[-1], Span) else None
        return n.Fee(self._str(c[0]), c[1], cadence, self._span(meta), advance)

    def charge(self, meta, c):
        return n.Charge(self._ident(c[0]), c[1] if len(c) > 1 else None, self._span(meta))

    def minimum(self, meta, c):
        return n.Minimum(c[0], self._span(meta))

    def inline_spec(self, meta, c):
        rhs = c[0]
        eff = c[1] if len(c) > 1 else None
        span = self._span(meta)
        rule = n.Rule((), True, rhs, rhs.span, rhs.span)
        return n.RateSpec(True, None, eff, (rule,), span)

    def block_spec(self, meta, c):
        per = next((x for x in c if isinstance(x, n.Per)), None)
        eff = next((x for x in c if isinstance(x, n.Effective)), None)
        rules = tuple(x for x in c if isinstance(x, n.Rule))
        return n.RateSpec(False, per, eff, rules, self._span(meta))

    def effective(self, meta, c):
        return n.Effective(self._date(c[0]), self._date(c[1]) if len(c) > 1 else None,
                           self._span(meta))

    def until_only(self, meta, c):
        return n.Effective(None, self._date(c[0]), self._span(meta))

    # -- contracts

    def customer(self, meta, c):
        return n.Customer(self._str(c[0]), self._span(meta))

    def plan_ref(self, meta, c):
        return n.PlanRef(self._ident(c[0]), self._span(meta))

    def starts(self, meta, c):
        return n.Starts(self._date(c[0]), self._span(meta))

    def ends(self, meta, c):
        return n.Ends(self._date(c[0]), self._span(meta))

    def contract_dimensions(self, meta, c):
        return n.ContractDimensions(tuple(c), self._span(meta))

    def assignment(self, meta, c):
        return n.Assignment(self._ident(c[0]), self._value(c[1]), self._span(meta))

    def override(self, meta, c):
        return n.Override(self._ident(c[0]), c[1], self._span(meta))

    def credit(self, meta, c):
        return n.Credit(c[0], tuple(c[1:]), self._span(meta))

    def description(self, meta, c):
        return n.Description(self._str(c[0]), self._span(meta))

    def credit_price(self, meta, c):
        return n.CreditPrice(c[0], self._span(meta))

    def granted(self, meta, c):
        return n.Granted(self._date(c[0]), self._span(meta))

    def expires(self, meta, c):
        return n.Expires(self._date(c[0]), self._span(meta))

    # -- tests

    def test_contract(self, meta, c):
        return n.TestContract(self._ident(c[0]), self._span(meta))

    def test_inline_contract(self, meta, c):
        return n.TestInlineContract(tuple(c), self._span(meta))

    def usage(self, meta, c):
        return n.Usage(self._ident(c[0]), c[1], self._num(c[2]), self._date(c[3]), self._span(meta))

    def usage_dims(self, meta, c):
        return tuple(c)

    def through(self, meta, c):
        return n.Through(self._date(c[0]), self._span(meta))

    def expect_period(self, meta, c):
        return self._date(c[0])

    @staticmethod
    def _period(c) -> tuple[list, n.DateLit | None]:
        """Split off the optional trailing `period DATE` (already a DateLit node)."""
        if c and isinstance(c[-1], n.DateLit):
            return c[:-1], c[-1]
        return c, None

    def expect_total(self, meta, c):
        c, period = self._period(c)
        return n.Expect("total", money=c[0], span=self._span(meta), period=period)

    def expect_subtotal(self, meta, c):
        c, period = self._period(c)
        return n.Expect("subtotal", money=c[0], span=self._span(meta), period=period)

    def expect_credits(self, meta, c):
        c, period = self._period(c)
        return n.Expect("credits", money=c[0], span=self._span(meta), period=period)

    def expect_due(self, meta, c):
        c, period = self._period(c)
        return n.Expect("due", date=self._date(c[0]), span=self._span(meta), period=period)

    def expect_invoices(self, meta, c):
        return n.Expect("invoices", count=self._num(c[0]), span=self._span(meta))

    def expect_line(self, meta, c):
        c, period = self._period(c)
        return n.Expect("line", money=c[2], meter=self._ident(c[0]), dimensions=c[1],
                        span=self._span(meta), period=period)


class _Parser:
    """The Lark parser plus the per-parse state its callbacks need.

    No `propagate_positions`: Lark only propagates onto `Tree` results, and the
    embedded builder returns nodes whose spans it computes from the tokens.
    `fast_lexer=False` uses Lark's stock contextual lexer (tests compare the two).
    """

    def __init__(self, fast_lexer: bool = True) -> None:
        self.builder = _Builder()
        self.comments: list[Token] = []
        self.lark = Lark(
            grammar_text(),
            parser="lalr",
            lexer="contextual",
            maybe_placeholders=False,
            keep_all_tokens=True,
            strict=True,
            transformer=self.builder,
            lexer_callbacks={"COMMENT": self.comments.append},
            cache=tables_cache(),
            **lexer_plugin(FastContextualLexer if fast_lexer else WordLexer),
        )
        self.lock = threading.Lock()


@functools.lru_cache(maxsize=2)
def shared_parser(fast_lexer: bool = True) -> _Parser:
    """The process's one parser (per lexer), built once: `parse` and completion
    (`syntax.prefix`) use it under its lock."""
    return _Parser(fast_lexer)


BOM = "\ufeff"


def without_bom(text: str) -> str:
    """The text without a leading UTF-8 byte order mark (editors on Windows write one);
    lines and columns are then counted as an editor shows them."""
    return text[1:] if text.startswith(BOM) else text


def parse(text: str, path: str, *, fast_lexer: bool = True) -> tuple[n.SourceFile | None, list[Diagnostic]]:
    """Parse one file. Returns the tree, or None and the syntax diagnostic."""
    text = without_bom(text)
    p = shared_parser(fast_lexer)
    with p.lock:
        p.builder.file = path
        p.comments.clear()
        try:
            items = p.lark.parse(text)
        except LarkError as exc:
            return None, [translate(exc, text, path, p.lark)]
        comments = tuple(n.Comment(str(t), t.line, t.column) for t in p.comments)
    return n.SourceFile(path, items, comments), []
