"""The printers of `ratecard fmt`: one per node type, each turning its node into rows.

One-line texts (`_TEXT`: leaves, clauses, statements that are always one line)
and row printers (`_ROWS`: blocks and the lines whose colons align) together
cover every node type (`PRINTERS`). What the user wrote is printed from the
nodes' raw text (`$1_000`, `1K`, string escapes), so formatting only ever
changes whitespace, line breaks and where comments sit.
"""

from __future__ import annotations

import itertools
from typing import Callable

from ...diagnostics import Span
from .. import nodes as n
from .rows import FormatBug, Pos, Row, Source


def _start(span: Span) -> Pos:
    return span.line, span.col


def _end(span: Span) -> Pos:
    return span.end_line, span.end_col


def _close(span: Span) -> Pos:
    """The position of the `}` a block's span ends with."""
    return span.end_line, span.end_col - 1


class _Printer:
    """Collects rows while the printers walk the tree."""

    def __init__(self, source: Source) -> None:
        self.src = source
        self.rows: list[Row] = []
        self.item = 0
        self.top_block = False
        self._ids = itertools.count()

    def row(self, depth: int, text: str, start: Pos, end: Pos, **kw) -> Row:
        """Add a row, tagged with the top-level item it belongs to (for blank lines)."""
        r = Row(depth, text, start, end, item=self.item, top_block=self.top_block, **kw)
        self.rows.append(r)
        return r

    def group(self) -> tuple:
        """A fresh key for rows that align as one block (the rules of one rate card)."""
        return ("block", next(self._ids))

    def emit(self, node, depth: int) -> None:
        """Print one statement: a one-line text printer, or a row printer."""
        kind = type(node)
        if kind in _ROWS:
            _ROWS[kind](self, node, depth)
        elif kind in _TEXT:
            self.row(depth, _TEXT[kind](node), _start(node.span), _end(node.span))
        else:
            raise FormatBug(f"no printer for {kind.__name__}")

    def block(self, depth: int, header: str, start: Pos, header_end: Pos, body, span: Span) -> None:
        """`header {`, the body one level deeper, `}`: every block prints this way."""
        brace = self.src.brace(header_end)
        self.row(depth, f"{header} {{", start, (brace[0], brace[1] + 1), kind="open")
        for child in body:
            self.emit(child, depth + 1)
        self.row(depth, "}", _close(span), _end(span), kind="close")


# ----------------------------------------------------------------- text printers


def _text(node) -> str:
    try:
        return _TEXT[type(node)](node)
    except KeyError:
        raise FormatBug(f"no text printer for {type(node).__name__}") from None


def _values(values) -> str:
    """`"a", "b"`: the values of an `in (...)` list."""
    return ", ".join(_text(v) for v in values)


def _per(node: n.Per) -> str:
    """`per 1K tokens`, or `per call` when no count was written (never adds a `1`)."""
    return f"per {node.count.raw} {node.unit.name}" if node.count else f"per {node.unit.name}"


def _condition(node: n.Condition) -> str:
    """`k = "v"`, `k != 1`, `k in ("a", "b")`, `k not in (...)`: single spaces around operators."""
    if node.op in ("in", "not in"):
        return f"{node.key.name} {node.op} ({_values(node.values)})"
    return f"{node.key.name} {node.op} {_text(node.values[0])}"


def _unit_price(node: n.UnitPrice) -> str:
    return f"{node.money.raw} {_per(node.per)}" if node.per else node.money.raw


def _package(node: n.PackagePrice) -> str:
    return f"package {node.money.raw} per {node.size.raw} {node.unit.name}"


def _tier_parts(node: n.Tier) -> tuple[str, str]:
    """(bound, price): the colon between them aligns across a tier list."""
    head = f"up to {node.bound.raw}" if node.bound is not None else "above"
    price = f"{node.price.raw} + {node.flat.raw}" if node.flat else node.price.raw
    return head, price


def _tier(node: n.Tier) -> str:
    head, price = _tier_parts(node)
    return f"{head} : {price}"


def _effective(node: n.Effective) -> str:
    words = []
    if node.start is not None:
        words.append(f"from {node.start.raw}")
    if node.until is not None:
        words.append(f"until {node.until.raw}")
    return " ".join(words)


def _dimension(node: n.DimensionDecl) -> str:
    if node.values is None:
        return node.name.name
    return f"{node.name.name} in ({_values(node.values)})"


def _assignment(node: n.Assignment) -> str:
    return f"{node.key.name} = {_text(node.value)}"


def _assignments(items) -> str:
    return ", ".join(_assignment(a) for a in items)


def _lhs(rule: n.Rule) -> str:
    """The conditions of a rule: the part before its (aligned) colon."""
    return "default" if rule.is_default else ", ".join(_condition(c) for c in rule.conditions)


def _rhs(node) -> str:
    """A one-line price or modifier (tiered prices print as rows)."""
    if isinstance(node, n.TieredPrice):
        raise FormatBug("a tiered price is not one line")
    return _text(node)


def _usage(node: n.Usage) -> str:
    """`usage METER [k = "v", ...] QUANTITY on WHEN`, the quantity as written (`2M`)."""
    dims = f" {_assignments(node.dimensions)}" if node.dimensions else ""
    return f"usage {node.meter.name}{dims} {node.quantity.raw} on {node.at.raw}"


def _expect(node: n.Expect) -> str:
    """`expect WHAT ...`: the words after `expect` depend on what is expected."""
    what = node.what
    if what == "invoices":
        return f"expect invoices {node.count.raw}"
    if what == "due":
        text = f"expect due {node.date.raw}"
    elif what == "credits":
        text = f"expect credits applied {node.money.raw}"
    elif what == "line":
        dims = f" {_assignments(node.dimensions)}" if node.dimensions else ""
        text = f"expect line {node.meter.name}{dims} {node.money.raw}"
    elif what in ("total", "subtotal"):
        text = f"expect {what} {node.money.raw}"
    else:
        raise FormatBug(f"unknown expectation `{what}`")
    return f"{text} period {node.period.raw}" if node.period is not None else text


def _aggregation(node: n.Aggregation) -> str:
    """`count`, `sum tokens` and its kin, `sum a - b`, `weighted gb per month`."""
    if node.function == "weighted":
        return f"weighted {node.field.name} per {node.per.name}"
    if node.expression is not None:
        return f"{node.function} {_expression(node.expression)}"
    return node.function if node.field is None else f"{node.function} {node.field.name}"


def _expression(node) -> str:
    """A derived quantity: single spaces around operators, the parentheses the user wrote."""
    if isinstance(node, n.Binary):
        return f"{_expression(node.left)} {node.op} {_expression(node.right)}"
    if isinstance(node, n.Parens):
        return f"({_expression(node.inner)})"
    return _text(node)


def _fee_parts(node: n.Fee) -> tuple[str, str]:
    """(`fee "label"`, amount): a run of fees aligns its colons like charges do."""
    amount = f"{node.amount.raw} per {node.cadence.name}" if node.cadence else node.amount.raw
    return f"fee {node.label.raw}", amount + (" in advance" if node.advance is not None else "")


# One-line texts: leaves, clauses and the statements that are always one line.
_TEXT: dict[type, Callable] = {
    n.Ident: lambda x: x.name,
    n.Str: lambda x: x.raw,
    n.Num: lambda x: x.raw,
    n.DateLit: lambda x: x.raw,
    n.Money: lambda x: x.raw,
    n.Per: _per,
    n.Condition: _condition,
    n.UnitPrice: _unit_price,
    n.PackagePrice: _package,
    n.Modifier: lambda x: f"{x.raw} {x.direction}",
    n.Tier: _tier,
    n.Effective: _effective,
    n.DimensionDecl: _dimension,
    n.Assignment: _assignment,
    n.Title: lambda x: f"title {x.text.raw}",
    n.Event: lambda x: f"event {x.name.raw}",
    n.Aggregation: _aggregation,
    n.Dimensions: lambda x: "dimensions " + ", ".join(_dimension(d) for d in x.items),
    n.Billing: lambda x: f"billing {x.cycle.name}" + (f" on day {x.day.raw}" if x.day is not None else ""),
    n.Payment: lambda x: f"payment net {x.days.raw}",
    n.Autopay: lambda x: f"autopay {x.setting.name}",
    n.Minimum: lambda x: f"minimum {x.amount.raw}",
    n.Customer: lambda x: f"customer {x.id.raw}",
    n.PlanRef: lambda x: f"plan {x.name.name}",
    n.Starts: lambda x: f"starts {x.date.raw}",
    n.Ends: lambda x: f"ends {x.date.raw}",
    n.ContractDimensions: lambda x: f"dimensions {_assignments(x.items)}",
    n.Description: lambda x: f"description {x.text.raw}",
    n.CreditPrice: lambda x: f"price {x.amount.raw}",
    n.Granted: lambda x: f"granted {x.date.raw}",
    n.Expires: lambda x: f"expires {x.date.raw}",
    n.TestContract: lambda x: f"contract {x.name.name}",
    n.Usage: _usage,
    n.Through: lambda x: f"through {x.date.raw}",
    n.Expect: _expect,
    n.CurrencyDecl: lambda x: f"currency {x.code.name}",
    n.RoundingDecl: lambda x: f"rounding {x.mode.name}",
    n.GraceDecl: lambda x: f"grace {x.days.raw} {x.unit.name}",
    n.NumberingDecl: lambda x: f"numbering {x.series.name} {x.format.raw}",
    # Part 2
    n.Property: lambda x: x.name.name,
    n.NumberTerm: lambda x: x.num.raw,
    n.Binary: _expression,
    n.Parens: _expression,
    n.Cap: lambda x: f"cap {x.amount.raw}",
    n.AppliesTo: lambda x: "applies to " + ", ".join(t.name for t in x.targets),
    n.Priority: lambda x: f"priority {x.value.raw}",
    n.PlanChange: lambda x: f"plan {x.name.name} from {x.date.raw}",
    n.Percent: lambda x: x.raw,
    n.Once: lambda x: "once",
    n.ForPeriods: lambda x: f"for {x.count.raw} {x.unit.name}",
}


# ----------------------------------------------------------------- row printers


def _named_block(keyword: str):
    """The printer of `meter NAME { ... }` and its kin."""

    def emit(p: _Printer, node, depth: int) -> None:
        p.block(depth, f"{keyword} {_text(node.name)}", _start(node.span), _end(node.name.span),
                node.body, node.span)

    emit.__name__ = f"_emit_{keyword}"
    return emit


def _emit_inline_contract(p: _Printer, node: n.TestInlineContract, depth: int) -> None:
    """A test's `contract { ... }`: expanded like any block, even when written on one line."""
    start = _start(node.span)
    p.block(depth, "contract", start, (start[0], start[1] + len("contract")), node.body, node.span)


def _emit_where(p: _Printer, node: n.Where, depth: int) -> None:
    """`where a = "x", b != "y"`, keeping each `,` or `and` the user chose."""
    parts = [_condition(node.conditions[0])]
    for prev, cond in zip(node.conditions, node.conditions[1:]):
        sep = p.src.between(_end(prev.span), _start(cond.span))
        parts.append((", " if sep == "," else f" {sep} ") + _condition(cond))
    p.row(depth, "where " + "".join(parts), _start(node.span), _end(node.span))


def _emit_fee(p: _Printer, node: n.Fee, depth: int) -> None:
    """`fee "label" : AMOUNT [per CADENCE]`, its colon aligned with neighbouring fees."""
    head, amount = _fee_parts(node)
    p.row(depth, amount, _start(node.span), _end(node.span), head=head, align=("run", "fee"))


def _header_end(keyword_end: Pos, *parts) -> Pos:
    """The end of the last of the optional parts written before a `{`."""
    ends = [_end(x.span) for x in parts if x is not None]
    return max(ends) if ends else keyword_end


def _clauses(*parts) -> str:
    """The optional clauses that were written (`per ...`, `from ... until ...`), each after a space."""
    return "".join(f" {_text(x)}" for x in parts if x is not None)


def _rule_block(p: _Printer, header: str, start: Pos, header_end: Pos, rules, span: Span,
                depth: int) -> None:
    """A block of rules whose colons align: `rates ... {`, `charge M ... {`, `override M {`."""
    brace = p.src.brace(header_end)
    p.row(depth, f"{header} {{".lstrip(), start, (brace[0], brace[1] + 1), kind="open")
    group = p.group()
    for rule in rules:
        _emit_rule(p, rule, depth + 1, group)
    p.row(depth, "}", _close(span), _end(span), kind="close")


def _emit_rule(p: _Printer, rule: n.Rule, depth: int, group: tuple | None = None) -> None:
    """`conditions : price`, its colon aligned across `group` (the rules of one block)."""
    head = _lhs(rule)
    group = group or p.group()
    if isinstance(rule.rhs, n.TieredPrice):
        _emit_tiered(p, rule.rhs, depth, start=_start(rule.span), head=head, align=group)
    else:
        p.row(depth, _rhs(rule.rhs), _start(rule.span), _end(rule.span), head=head, align=group)


def _emit_tiered(p: _Printer, node: n.TieredPrice, depth: int, *, start: Pos | None = None,
                 prefix: str = "", head: str | None = None, align: tuple | None = None,
                 suffix: n.Effective | None = None) -> None:
    """`graduated per GB {` + tiers + `}`, after a rule's conditions or `charge M :`.

    `suffix` is the effective dates an inline spec writes after the closing `}`.
    """
    start = start or _start(node.span)
    mode_start = _start(node.span)
    if node.pooled:  # `pooled graduated`: the mode is the next word
        mode_start = p.src.next_token((mode_start[0], mode_start[1] + len("pooled")))
    mode_end = (mode_start[0], mode_start[1] + len(node.mode))
    brace = p.src.brace(_header_end(mode_end, node.per))
    mode = f"pooled {node.mode}" if node.pooled else node.mode
    p.row(depth, f"{prefix}{mode}{_clauses(node.per)} {{", start, (brace[0], brace[1] + 1),
          kind="open", head=head, align=align)
    group = p.group()
    for tier in node.tiers:
        bound, price = _tier_parts(tier)
        p.row(depth + 1, price, _start(tier.span), _end(tier.span), head=bound, align=group)
    end = _end(suffix.span) if suffix is not None else _end(node.span)
    p.row(depth, "}" + _clauses(suffix), _close(node.span), end, kind="close")


def _emit_rates(p: _Printer, node: n.Rates, depth: int) -> None:
    """A meter's rate card: `rates [per U] [from D] [until D] { rules }`."""
    start = _start(node.span)
    keyword_end = (start[0], start[1] + len("rates"))
    _rule_block(p, "rates" + _clauses(node.per, node.effective), start,
                _header_end(keyword_end, node.per, node.effective), node.rules, node.span, depth)


def _emit_spec(p: _Printer, keyword: str, meter: n.Ident, spec: n.RateSpec | None, span: Span,
               depth: int) -> None:
    """`charge M` alone, or followed by its rate spec."""
    words = f"{keyword} {meter.name}"
    if spec is None:
        p.row(depth, words, _start(span), _end(span))
    else:
        _emit_rate_spec(p, spec, depth, words=words, start=_start(span), words_end=_end(meter.span))


def _emit_rate_spec(p: _Printer, node: n.RateSpec, depth: int, *, words: str = "",
                    start: Pos | None = None, words_end: Pos | None = None) -> None:
    """What follows `charge M` / `override M` (`words`): `: PRICE [dates]`,
    `: graduated ... { tiers } [dates]`, or `[per] [dates] { rules }`.

    One-line specs align their colons with the neighbouring statements of the
    same keyword, so a run of `charge M : PRICE` lines reads as a table.
    """
    start = start or _start(node.span)
    if not node.inline:
        header = " ".join(filter(None, [words, _clauses(node.per, node.effective).strip()]))
        _rule_block(p, header, start, _header_end(words_end or start, node.per, node.effective),
                    node.rules, node.span, depth)
        return
    rhs = node.rules[0].rhs
    if isinstance(rhs, n.TieredPrice):
        _emit_tiered(p, rhs, depth, start=start, prefix=f"{words} : " if words else ": ",
                     suffix=node.effective)
    elif words:
        p.row(depth, _rhs(rhs) + _clauses(node.effective), start, _end(node.span), head=words,
              align=("run", words.split()[0]))
    else:
        p.row(depth, f": {_rhs(rhs)}{_clauses(node.effective)}", start, _end(node.span))


def _emit_charge(p: _Printer, node: n.Charge, depth: int) -> None:
    """A plan's `charge M [spec]`."""
    _emit_spec(p, "charge", node.meter, node.spec, node.span, depth)


def _emit_override(p: _Printer, node: n.Override, depth: int) -> None:
    """A contract's `override M spec`."""
    _emit_spec(p, "override", node.meter, node.spec, node.span, depth)


def _emit_credit(p: _Printer, node: n.Credit, depth: int) -> None:
    """`credit $X` alone, or with a `{ ... }` body (even an empty one, as written)."""
    words = f"credit {node.amount.raw}"
    if _end(node.span) == _end(node.amount.span):  # no braces were written
        p.row(depth, words, _start(node.span), _end(node.span))
    else:
        p.block(depth, words, _start(node.span), _end(node.amount.span), node.body or (), node.span)


def _emit_allowance(p: _Printer, node: n.Allowance, depth: int) -> None:
    """`allowance $X [per C]` alone, or with a `{ ... }` body (as written)."""
    words = f"allowance {node.amount.raw}" + (f" per {node.cadence.name}" if node.cadence else "")
    header_end = _end((node.cadence or node.amount).span)
    if _end(node.span) == header_end:  # no braces were written
        p.row(depth, words, _start(node.span), _end(node.span))
    else:
        p.block(depth, words, _start(node.span), header_end, node.body or (), node.span)


def _emit_discount(p: _Printer, node: n.Discount, depth: int) -> None:
    """`discount 20% [once | for N periods]`, alone or with a `{ ... }` body."""
    amount = node.percent or node.money
    words = f"discount {amount.raw}" + (f" {_text(node.term)}" if node.term is not None else "")
    header_end = _end((node.term or amount).span)
    if node.body is None:
        p.row(depth, words, _start(node.span), _end(node.span))
    else:
        p.block(depth, words, _start(node.span), header_end, node.body, node.span)


# Statements and clauses that print as rows (blocks, aligned lines).
_ROWS: dict[type, Callable] = {
    n.MeterBlock: _named_block("meter"),
    n.PlanBlock: _named_block("plan"),
    n.ContractBlock: _named_block("contract"),
    n.TestBlock: _named_block("test"),
    n.TestInlineContract: _emit_inline_contract,
    n.Where: _emit_where,
    n.Fee: _emit_fee,
    n.Rates: _emit_rates,
    n.Rule: _emit_rule,
    n.TieredPrice: _emit_tiered,
    n.Charge: _emit_charge,
    n.Override: _emit_override,
    n.RateSpec: _emit_rate_spec,
    n.Credit: _emit_credit,
    n.Allowance: _emit_allowance,
    n.Discount: _emit_discount,
}

_BLOCKS = (n.MeterBlock, n.PlanBlock, n.ContractBlock, n.TestBlock)

# Every node type fmt knows how to print (`tests/test_fmt.py` checks this covers `nodes`).
# Comments are placed by position (`layout._place_comments`), a SourceFile by `print_rows`.
PRINTERS: frozenset[type] = frozenset(_TEXT) | frozenset(_ROWS) | {n.Comment, n.SourceFile}


def print_rows(tree: n.SourceFile, source: Source) -> list[Row]:
    """The rows of a parsed file, each tagged with the top-level item it belongs to."""
    p = _Printer(source)
    for index, item in enumerate(tree.items):
        p.item, p.top_block = index, isinstance(item, _BLOCKS)
        p.emit(item, 0)
    return p.rows
