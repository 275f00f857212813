"""`ratecard fmt`: print a parsed `.pricing` file back in its canonical layout.

Built on the syntax tree, never on regexes over the text: every node type has
a printer (`PRINTERS`), and what the user wrote is printed from the nodes' raw
text (`$1_000`, `1K`, string escapes), so formatting only ever changes
whitespace, line breaks and where comments sit. The layout is documented in
`docs/fmt.md`.

Formatting runs in three steps:

1. the printers turn the tree into *rows*: one output line of code each, with
   its depth, the source positions of its first and last token, and what it
   aligns with (rule and tier colons, runs of one-line charges);
2. the comments (which the parser collects with their line and column) are
   hung on rows by position: an own-line comment before the row that follows
   it, a trailing comment at the end of the row holding the token before it;
3. the rows become text: blank lines where the source had them (collapsed,
   none at block starts or ends, one between top-level blocks), colons and
   trailing comments aligned, two spaces per level.

`format_source` re-parses its own output and checks that the file's tokens and
comments are unchanged before returning it, so a formatter bug can only ever
leave a file as it was, never rewrite it into something else.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass, field
from typing import Callable

from .diagnostics import Diagnostic, Span, error
from .syntax import nodes as n
from .syntax import parse, without_bom

INDENT = "  "

Pos = tuple[int, int]  # (line, col), 1-based, as in `Span`


class FormatBug(Exception):
    """The tree has a shape the printer does not know: a bug in fmt, not in the input."""


# ----------------------------------------------------------------- the source text


class _Source:
    """The file's text, for the two things the tree does not record.

    Nodes keep spans of their words, but not of punctuation: where a block's
    `{` sits (to know whether a comment before it is on the header line), and
    whether a `where` joined its conditions with `,` or `and`.
    """

    _COMMENT = re.compile(r"#[^\n]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def offset(self, pos: Pos) -> int:
        line, col = pos
        return self.line_starts[line - 1] + col - 1

    def position(self, offset: int) -> Pos:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def next_token(self, after: Pos) -> Pos:
        """Where the first character that is neither whitespace nor comment starts after `after`."""
        i, text = self.offset(after), self.text
        while i < len(text):
            if text[i].isspace():
                i += 1
            elif text[i] == "#":
                end = text.find("\n", i)
                i = len(text) if end < 0 else end
            else:
                return self.position(i)
        raise FormatBug(f"no token after {after}")

    def brace(self, after: Pos) -> Pos:
        """The position of the `{` that opens a block whose header ends at `after`."""
        pos = self.next_token(after)
        if self.text[self.offset(pos)] != "{":
            raise FormatBug(f"expected `{{` at {pos}")
        return pos

    def between(self, start: Pos, end: Pos) -> str:
        """The punctuation between two tokens, without whitespace or comments."""
        chunk = self.text[self.offset(start):self.offset(end)]
        return self._COMMENT.sub("", chunk).strip()


def _start(span: Span) -> Pos:
    return span.line, span.col


def _end(span: Span) -> Pos:
    return span.end_line, span.end_col


def _close(span: Span) -> Pos:
    """The position of the `}` a block's span ends with."""
    return span.end_line, span.end_col - 1


# ----------------------------------------------------------------- rows


@dataclass
class _Row:
    """One output line of code, before comments, blank lines and alignment.

    `start`/`end` bound the source tokens the row prints (end exclusive), which
    is how comments find their row. A row with a `head` prints as
    `head : text`, the colon aligned with the other rows of its `align` key.
    """

    depth: int
    text: str
    start: Pos
    end: Pos
    kind: str = "stmt"  # "open" (ends with `{`), "close" (starts with `}`), "stmt"
    head: str | None = None
    align: tuple | None = None  # ("block", id): whole block; ("run", kind): consecutive rows
    item: int = 0  # index of the top-level item the row belongs to
    top_block: bool = False  # that item is a block (gets blank lines around it)
    before: list[n.Comment] = field(default_factory=list)  # own-line, before the row
    inside: list[n.Comment] = field(default_factory=list)  # between its tokens, or after them

    def rendered(self, width: int) -> str:
        if self.head is None:
            return self.text
        return f"{self.head.ljust(width)} : {self.text}"


class _Printer:
    """Collects rows while the printers walk the tree."""

    def __init__(self, source: _Source) -> None:
        self.src = source
        self.rows: list[_Row] = []
        self.item = 0
        self.top_block = False
        self._ids = itertools.count()

    def row(self, depth: int, text: str, start: Pos, end: Pos, **kw) -> _Row:
        """Add a row, tagged with the top-level item it belongs to (for blank lines)."""
        r = _Row(depth, text, start, end, item=self.item, top_block=self.top_block, **kw)
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
    """`count`, or `sum tokens` and its kin."""
    return node.function if node.field is None else f"{node.function} {node.field.name}"


def _fee_parts(node: n.Fee) -> tuple[str, str]:
    """(`fee "label"`, amount): a run of fees aligns its colons like charges do."""
    amount = f"{node.amount.raw} per {node.cadence.name}" if node.cadence else node.amount.raw
    return f"fee {node.label.raw}", amount


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
    n.Billing: lambda x: f"billing {x.cycle.name}",
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
    mode_end = (node.span.line, node.span.col + len(node.mode))
    brace = p.src.brace(_header_end(mode_end, node.per))
    p.row(depth, f"{prefix}{node.mode}{_clauses(node.per)} {{", start, (brace[0], brace[1] + 1),
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
}

_BLOCKS = (n.MeterBlock, n.PlanBlock, n.ContractBlock, n.TestBlock)

# Every node type fmt knows how to print (`tests/test_fmt.py` checks this covers `nodes`).
# Comments are placed by position (`_place_comments`), a SourceFile by `format_tree`.
PRINTERS: frozenset[type] = frozenset(_TEXT) | frozenset(_ROWS) | {n.Comment, n.SourceFile}


# ----------------------------------------------------------------- comments


def _place_comments(rows: list[_Row], comments) -> list[n.Comment]:
    """Hang each comment on a row; returns the comments after the last token.

    A comment between a row's first and last token, or after its last token on
    the same line, is the row's (`inside`); one on a line of its own goes before
    the next row (`before`).
    """
    starts = [r.start for r in rows]
    tail: list[n.Comment] = []
    for c in comments:
        pos = (c.line, c.col)
        i = bisect.bisect_left(starts, pos) - 1
        if i >= 0 and (rows[i].end > pos or rows[i].end[0] == c.line):
            rows[i].inside.append(c)
        elif i + 1 < len(rows):
            rows[i + 1].before.append(c)
        else:
            tail.append(c)
    return tail


# ----------------------------------------------------------------- layout


@dataclass
class _Line:
    """One output line: a row of code (with maybe a trailing comment) or an own-line comment."""

    depth: int
    first: int  # source lines it came from, for keeping blank lines
    last: int
    row: _Row | None = None
    comment: str | None = None  # the text of a comment line, or the trailing comment of a row
    item: int | None = None
    top_block: bool = False
    text: str = ""

    @property
    def code(self) -> bool:
        return self.row is not None


def _comment_text(c: n.Comment) -> str:
    """A comment as written, without trailing blanks (or the `\r` of a CRLF file)."""
    return c.text.rstrip()


def _lines(rows: list[_Row], tail: list[n.Comment]) -> list[_Line]:
    """Rows and comments in output order.

    A row's own-line comments come first; comments written between a row's
    tokens go on their own lines before it too, except the last of them, which
    ends the row. Comments before a `}` stay inside the block (one level deeper).
    """
    out: list[_Line] = []
    for r in rows:
        depth = r.depth + 1 if r.kind == "close" else r.depth
        meta = dict(item=r.item, top_block=r.top_block)
        for c in r.before:
            out.append(_Line(depth, c.line, c.line, comment=_comment_text(c), **meta))
        for c in r.inside[:-1]:
            out.append(_Line(depth, r.start[0], r.start[0], comment=_comment_text(c), **meta))
        trailing = _comment_text(r.inside[-1]) if r.inside else None
        out.append(_Line(r.depth, r.start[0], r.end[0], row=r, comment=trailing, **meta))
    for c in tail:
        out.append(_Line(0, c.line, c.line, comment=_comment_text(c)))
    return out


def _blank_between(a: _Line, b: _Line) -> bool:
    """One blank line between two output lines, or none."""
    if a.code and a.row.kind == "open":
        return False  # none at the start of a block
    if b.code and b.row.kind == "close":
        return False  # nor at its end
    if a.item is not None and b.item is not None and a.item != b.item and (a.top_block or b.top_block):
        return True  # top-level blocks are always set apart
    return b.first - a.last > 1  # elsewhere, as the source had it (a run of blanks is one)


def _align(lines: list[_Line], blanks: list[bool]) -> None:
    """Set each code line's text, padding heads so their colons line up.

    ("block", id) rows align across their whole block (rules, tiers);
    ("run", kind) rows only with their neighbours: the same kind of one-line
    statement on consecutive lines (a run of `charge M : PRICE`).
    """
    widths: dict[tuple, int] = {}
    for line in lines:
        r = line.row
        if r is not None and r.head is not None and r.align[0] == "block":
            widths[r.align] = max(widths.get(r.align, 0), len(r.head))
    run: list[_Line] = []

    def flush() -> None:
        width = max((len(x.row.head) for x in run), default=0)
        for x in run:
            x.text = x.row.rendered(width)
        run.clear()

    for i, line in enumerate(lines):
        r = line.row
        if r is not None and r.head is not None and r.align[0] == "run":
            if run and (blanks[i] or run[-1].row.align != r.align or run[-1] is not lines[i - 1]):
                flush()
            run.append(line)
            continue
        flush()
        if r is not None:
            line.text = r.rendered(widths.get(r.align, 0))
    flush()


def _trailing_columns(lines: list[_Line], blanks: list[bool]) -> dict[int, int]:
    """Where each trailing comment starts: aligned over consecutive commented lines."""
    columns: dict[int, int] = {}
    run: list[int] = []

    def flush() -> None:
        col = max((len(INDENT * lines[i].depth + lines[i].text) for i in run), default=0) + 2
        for i in run:
            columns[i] = col
        run.clear()

    for i, line in enumerate(lines):
        if line.code and line.comment is not None:
            prev = lines[run[-1]] if run else None
            if prev is not None and (blanks[i] or run[-1] != i - 1 or prev.depth != line.depth):
                flush()
            run.append(i)
        else:
            flush()
    flush()
    return columns


def _render(lines: list[_Line]) -> str:
    """The final text: blank lines decided first, since alignment runs stop at them."""
    blanks = [False] + [_blank_between(a, b) for a, b in zip(lines, lines[1:])]
    _align(lines, blanks)
    columns = _trailing_columns(lines, blanks)
    out: list[str] = []
    for i, line in enumerate(lines):
        if blanks[i]:
            out.append("")
        indent = INDENT * line.depth
        if not line.code:
            out.append(indent + line.comment)
        elif line.comment is not None:
            out.append((indent + line.text).ljust(columns[i]) + line.comment)
        else:
            out.append(indent + line.text)
    return "".join(x + "\n" for x in out)


# ----------------------------------------------------------------- entry points


def format_tree(tree: n.SourceFile, text: str) -> str:
    """The canonical text of a parsed file.

    `text` must be the text `tree` was parsed from: the tree does not record
    where each `{` is or which `where` separator was written, and comments are
    placed by their positions in it.
    """
    p = _Printer(_Source(text))
    for index, item in enumerate(tree.items):
        p.item, p.top_block = index, isinstance(item, _BLOCKS)
        p.emit(item, 0)
    tail = _place_comments(p.rows, tree.comments)
    return _render(_lines(p.rows, tail))


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\s+|[^\s"#]+|.', re.S)


def fingerprint(text: str) -> tuple[str, tuple[str, ...]]:
    """What formatting must keep: the text without whitespace and comments, and the comments.

    Strings are matched whole, so a `#` or a space inside one is kept.
    """
    code: list[str] = []
    comments: list[str] = []
    for m in _TOKEN.finditer(text):
        piece = m.group()
        if piece.startswith("#"):
            comments.append(piece.rstrip())
        elif not piece.isspace():
            code.append(piece)
    return "".join(code), tuple(comments)


def format_source(text: str, path: str) -> tuple[str | None, list[Diagnostic]]:
    """Format one file's text: (canonical text, []) or (None, diagnostics).

    A syntax error gives the parser's diagnostic. The output is re-parsed and
    compared with the input (same code once whitespace is ignored, same
    comments in the same order); if fmt got it wrong, the caller gets an error
    instead of a rewritten file. A byte order mark is not kept: the output is
    UTF-8 without one.
    """
    text = without_bom(text)
    tree, diags = parse(text, path)
    if tree is None:
        return None, diags
    try:
        formatted = format_tree(tree, text)
    except Exception as exc:  # noqa: BLE001 - a printer bug must not lose the user's other files
        return None, [_bug(path, f"{type(exc).__name__}: {exc}")]
    again, problems = parse(formatted, path)
    if again is None or fingerprint(formatted) != fingerprint(text):
        why = problems[0].message if problems else "the output differs from the input in more than layout"
        return None, [_bug(path, why)]
    return formatted, []


def _bug(path: str, why: str) -> Diagnostic:
    return error("E002", f"`ratecard fmt` cannot format {path} safely and left it unchanged: {why}",
                 hints=("this is a bug in ratecard fmt; please report it with the file",))
