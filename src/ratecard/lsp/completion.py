"""Completion: what the grammar accepts at the cursor, filled in from the project.

The parser says what may come next (`syntax.prefix.expected_after` on the text
before the word being typed); the value stack says where: inside which block,
after which keyword. From that:

- keywords the grammar accepts there (`charge`, `sum`, `graduated`, `off`...);
- a meter name after `charge`, `override`, `usage`, `expect line` and `applies
  to` (with `fees`); a plan
  after a contract's `plan`; a contract after a test's `contract`;
- a dimension key where a condition or assignment starts (the meter's own
  dimensions first, then keys contracts set), and the values that key is
  known to take after `KEY =` or `KEY in (`;
- units after `per` (the meter's own, then the project's; after `weighted F
  per`, the time units month, day and hour), billing cycles, fee and
  allowance cadences, `on`/`off`, rounding modes and currencies after the
  keywords that take them.

Names come from the last version of each file that parsed, so a file being
typed in (which rarely parses) still offers the names it defined.
"""

from __future__ import annotations

from lark import Token
from lsprotocol import types

from ..compiler.build import CADENCES, CYCLES, ON_OFF
from ..compiler.collect import ROUNDING_MODES
from ..compiler.price_lists import TIME_UNITS
from ..model import FEES
from ..money import known_currencies
from ..syntax import nodes as n
from ..syntax import without_bom
from ..syntax.prefix import Prefix, expected_after
from .analysis import Analysis
from .symbols import Index

K = types.CompletionItemKind
BLOCK_WORDS = {"METER", "PLAN", "CONTRACT", "TEST", "RATES", "CHARGE", "OVERRIDE", "CREDIT", "TIER_MODE"}
COMMON_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD")


def cut_point(line_text: str, col: int) -> tuple[int, bool]:
    """Where the word (or string) being typed starts, 1-based, and whether it is a string."""
    i = col - 1
    while i > 0 and (line_text[i - 1].isalnum() or line_text[i - 1] in "_.-"):
        i -= 1
    before = line_text[:i]
    quotes = before.count('"') - before.count('\\"')
    if quotes % 2 == 1:  # inside a string: start at its opening quote
        return before.rindex('"') + 1, True
    return i + 1, False


def _in_comment(before: str) -> bool:
    """Is the end of `before` (a line up to the cursor) inside a `#` comment?"""
    quoted = False
    escaped = False
    for ch in before:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return True
    return False


def complete(analysis: Analysis | None, text: str, line: int, col: int) -> list[types.CompletionItem]:
    text = without_bom(text)  # (line, col) count as the compiler does, from after a BOM
    lines = text.split("\n")
    line_text = lines[line - 1] if line - 1 < len(lines) else ""
    if _in_comment(line_text[:col - 1]):
        return []
    start_col, in_string = cut_point(line_text, col)
    offset = sum(len(x) + 1 for x in lines[:line - 1]) + start_col - 1
    prefix = expected_after(text[:offset])
    index = analysis.names if analysis is not None and analysis.names is not None else (
        analysis.index if analysis is not None else Index())
    items: list[types.CompletionItem] = []
    if not in_string:
        items += [types.CompletionItem(w, kind=K.Keyword, sort_text=f"2{w}") for w in sorted(prefix.words)]
        if "NAME" in prefix.expected:
            items += _names(index, analysis, prefix)
    if "STRING" in prefix.expected:
        items += _values(index, prefix, in_string)
    return items


# ------------------------------------------------------------------ context


def _tokens(stack: tuple) -> list:
    """The stack's items with tokens as their type names (nodes kept as they are)."""
    return [x.type if isinstance(x, Token) else x for x in stack]


def _blocks(stack: tuple) -> list[tuple[str, str | None]]:
    """The blocks still open at the cursor, outermost first: (keyword type, name or None)."""
    open_at: list[int] = []
    for i, item in enumerate(stack):
        if isinstance(item, Token) and item.type == "LBRACE":
            open_at.append(i)
        elif isinstance(item, Token) and item.type == "RBRACE" and open_at:
            open_at.pop()
    out = []
    for i in open_at:
        for j in range(i - 1, max(-1, i - 6), -1):
            item = stack[j]
            if isinstance(item, Token) and item.type in BLOCK_WORDS:
                after = stack[j + 1] if j + 1 < i else None
                name = str(after) if isinstance(after, Token) and after.type == "NAME" else None
                out.append((item.type, name))
                break
        else:
            out.append(("?", None))
    return out


def _meter_in_scope(stack: tuple) -> str | None:
    """The meter whose dimensions (or units) a condition, assignment or `per` at the cursor is about.

    Finished statements are already nodes on the stack; the tokens left belong to
    what is still open, so the nearest `meter|charge|override|usage|line NAME` names it.
    """
    for i in range(len(stack) - 1, 0, -1):
        item, prev = stack[i], stack[i - 1]
        if isinstance(item, Token) and item.type == "NAME" and isinstance(prev, Token) \
                and prev.type in ("METER", "CHARGE", "OVERRIDE", "USAGE", "LINE"):
            return str(item)
    return None


def _in_block(stack: tuple, kind: str) -> bool:
    return any(k == kind for k, _ in _blocks(stack))


# ------------------------------------------------------------------ names


def _item(label: str, kind, detail: str | None = None, sort: str = "1") -> types.CompletionItem:
    return types.CompletionItem(label, kind=kind, detail=detail, sort_text=f"{sort}{label}")


def _enum(words, detail: str) -> list[types.CompletionItem]:
    """An enumerated word's choices, kept in the order the language lists them."""
    return [_item(w, K.EnumMember, detail, f"1{i:02d}") for i, w in enumerate(words)]


def _names(index: Index, analysis: Analysis | None, prefix: Prefix) -> list[types.CompletionItem]:
    stack = prefix.stack
    toks = _tokens(stack)
    last = toks[-1] if toks else None
    before = toks[-2] if len(toks) > 1 else None
    plan = analysis.plan if analysis is not None else None
    if last in ("CHARGE", "OVERRIDE", "USAGE") or (before, last) == ("EXPECT", "LINE"):
        return [_item(m, K.Class, _meter_detail(plan, m)) for m in index.names("meter")]
    if _in_applies_to(toks):  # `applies to M1, M2` or `fees`
        return [_item(m, K.Class, _meter_detail(plan, m)) for m in index.names("meter")] + \
            [_item(FEES, K.EnumMember, "the fee lines", "2")]
    if last == "PLAN" and (_in_block(stack, "CONTRACT") or _in_block(stack, "TEST")):
        return [_item(p, K.Module, "plan") for p in index.names("plan")]
    if last == "CONTRACT" and _in_block(stack, "TEST"):
        return [_item(c, K.Struct, "contract") for c in index.names("contract")]
    if last in ("METER", "PLAN", "CONTRACT", "AGG_FN"):
        return []  # a new name, or an event field nothing declares
    if last == "BILLING":
        return _enum(CYCLES, "billing cycle")
    if last == "AUTOPAY":
        return _enum(ON_OFF, "autopay")
    if last == "ROUNDING":
        return _enum(ROUNDING_MODES, "rounding mode")
    if last == "CURRENCY":
        return _currencies(plan)
    if last == "PER" and "FEE" in toks[-6:]:
        return _enum(CADENCES, "fee cadence")
    if last == "PER" and len(toks) > 2 and toks[-3] == "ALLOWANCE":  # `allowance $10 per month`
        return _enum(CADENCES, "allowance cadence")
    if toks[-3:] == ["WEIGHTED", "NAME", "PER"]:  # `weighted F per month|day|hour`
        return _enum(TIME_UNITS, "time unit of `weighted`")
    if last == "PER" or (before, last) == ("PER", "NUMBER"):
        return _units(index, _meter_in_scope(stack))
    if last == "NUMBER":  # `12.50 EUR`
        return _currencies(plan)
    # anything else that takes a name here starts a condition or an assignment: a key
    statement = _statement(stack)
    if statement == "DIMENSIONS" and _innermost(stack) == "METER":
        return []  # declaring the meter's own dimensions: new names
    meter = None if statement == "DIMENSIONS" else _meter_in_scope(stack)
    return [_item(key, K.Field, _dimension_detail(sym), "0" if sym[0] == "dimension" else "1")
            for sym, key in index.dimension_keys(meter)]


_LIST_PARTS = {"COMMA", "NAME", "IN", "NOT", "LPAR", "RPAR", "STRING", "NUMBER", "CMP", "EQUAL", "AND"}


def _in_applies_to(toks: list) -> bool:
    """Is the cursor where `applies to` takes its next target (after `to` or a comma of it)?"""
    i = len(toks) - 1
    while i >= 1 and toks[i] == "COMMA" and toks[i - 1] == "NAME":
        i -= 2
    return i >= 1 and toks[i - 1:i + 1] == ["APPLIES", "TO"]


def _statement(stack: tuple) -> str | None:
    """The keyword that starts the statement the cursor is in (`DIMENSIONS`, `WHERE`...)."""
    for item in reversed(stack):
        if isinstance(item, Token):
            if item.type in _LIST_PARTS:
                continue
            return item.type
        if isinstance(item, (n.DimensionDecl, n.Assignment, n.Condition, tuple)):
            continue
        return None
    return None


def _innermost(stack: tuple) -> str | None:
    blocks = _blocks(stack)
    return blocks[-1][0] if blocks else None


def _meter_detail(plan, name: str) -> str:
    meter = plan.meters.get(name) if plan is not None else None
    if meter is None:
        return "meter"
    agg = meter.aggregation
    return f"meter: {meter.title} ({meter.event}, {agg.text})"


def _dimension_detail(symbol: tuple) -> str:
    return f"dimension of {symbol[1]}" if symbol[0] == "dimension" else "contract dimension"


def _units(index: Index, meter: str | None) -> list[types.CompletionItem]:
    own = sorted(index.meter_units.get(meter, ())) if meter else []
    others = sorted(index.units, key=lambda u: (-index.units[u], u))
    items = [_item(u, K.Unit, f"unit of {meter}", "0") for u in own]
    items += [_item(u, K.Unit, "unit", "1") for u in others if u not in own]
    return items


def _currencies(plan) -> list[types.CompletionItem]:
    first = [plan.currency] if plan is not None else []
    rest = [c for c in COMMON_CURRENCIES if c not in first]
    items = [_item(c, K.EnumMember, "currency", "0") for c in first]
    items += [_item(c, K.EnumMember, "currency", "1") for c in rest]
    items += [_item(c, K.EnumMember, "currency", "2") for c in sorted(known_currencies())
              if c not in first and c not in rest]
    return items


# ------------------------------------------------------------------ values


def _values(index: Index, prefix: Prefix, in_string: bool) -> list[types.CompletionItem]:
    stack = prefix.stack
    key = None
    for item in reversed(stack):  # back to the key of `KEY =`, `KEY !=`, `KEY [not] in (`
        if isinstance(item, Token) and item.type == "NAME":
            key = str(item)
            break
        if not (isinstance(item, tuple) or (isinstance(item, Token) and item.type in _LIST_PARTS)):
            return []
    if key is None:
        return []
    statement = _statement(stack)
    if statement == "DIMENSIONS" and _innermost(stack) == "METER":
        return []  # declaring a dimension's values
    if statement == "DIMENSIONS":
        symbol: tuple = ("contract-dimension", key)
    else:
        symbol = index.resolve_dimension(_meter_in_scope(stack), key)
    return [types.CompletionItem(f'"{v}"', kind=K.Value, detail=f"value of {key}",
                                 sort_text=f"1{v}", insert_text=f'"{v}"')
            for v in sorted(index.values.get(symbol, ()))]
