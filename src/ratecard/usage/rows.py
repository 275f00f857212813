"""What a usage row is, row by row: the definitions every engine must agree on.

The SQL engines check rows in bulk; when a file holds a bad row, the files are
read one row at a time (`row_reader`) and each row judged here (`row_problem`)
to say *which* line is bad and why (the slow path runs only on bad input). The
reference aggregator uses the same definitions, so "bad row" means one thing
everywhere (docs/usage.md, "What a good row is"):

- a JSONL line that is not valid UTF-8, not a JSON object (RFC 8259: no NaN,
  no trailing commas, no lone surrogates), or gives a field ratecard reads
  (`id`, `type`, `customer`, `time`, `properties`, a property a meter reads)
  twice; a CSV record that is not valid UTF-8 or does not have one cell per
  header column; any row of `MAX_ROW_BYTES` or more;
- a missing or empty `id`, `type`, `customer` or `time`, or one that is an
  object or an array;
- a `time` that is not RFC 3339 (`2026-03-01T10:00:00Z`, an offset of at
  most 23:59, or a plain date; naive times are UTC), or whose instant in UTC
  falls outside the years 0001-9999;
- `properties` that is not an object, or a property a meter reads that is
  a JSON object or array;
- for a `sum`/`max`/`latest`/`weighted` meter that reads the event (type and
  `where` match), a quantity that is missing, not a decimal number, or carries
  more than 18 decimal places (ratecard never rounds a quantity silently); for
  a `weighted` meter, also a negative one (a size cannot be below zero);
- for a derived quantity (`sum prompt_tokens - cached_tokens`), any property
  it reads failing that test, a division by zero, or a value that is not a
  quantity itself (more than 18 decimal places or 20 integer digits): the
  value of every event is exact, never rounded and never a zero in place of
  an error (docs/usage.md, "Derived quantities").

Numbers are exact: a JSON number is read from its text, never through a
binary float. Property values are compared as text: a number (JSON number,
numeric column) is written as the plain decimal it denotes, without storage
zeros (`2.0` -> "2", `1.50` -> "1.5", `1e3` -> "1000"); strings are kept
verbatim, but the empty string is absent, as null is (`absent`). Fractional seconds beyond microseconds are truncated, never rounded.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, localcontext
from decimal import Inexact as decimal_inexact
from pathlib import Path
from typing import Iterable

from ..model import Expression, Meter, Operation, RatingPlan, evaluate_expression, expression_properties, expression_text
from ..money import EXACT

REQUIRED = ("id", "type", "customer", "time")
EVENT_FIELDS = REQUIRED + ("properties",)
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}

# RFC 3339 date-time (or a plain date), as both Python and SQL check it: years
# 0001-9999, hours 00-23, an offset of at most 23:59 (RFC 3339's numoffset). `T`
# and `Z` may be written `t` and `z` (RFC 3339 section 5.6, NOTE): every engine
# reads the text in capitals (`parse_time`, `sources._time`), as no parser of ours
# takes the small letters.
TIME_PATTERN = (r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}"
                r"([Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]+)?)?)?"
                r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$")
# The instants an event may have, in UTC (what every engine and Python's datetime hold).
TIME_MIN = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
TIME_MAX = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
# A decimal quantity; at most 18 fractional digits (QUANTITY_SCALE).
NUMBER_PATTERN = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"
QUANTITY_SCALE = 18
QUANTITY_DIGITS = 38
# The same test in one pattern, for the engines: the number shape, at most
# QUANTITY_SCALE fractional digits and fewer than QUANTITY_DIGITS - QUANTITY_SCALE
# integer digits once leading zeros are dropped (what DECIMAL(38, 18) holds
# exactly). `parse_quantity` accepts exactly the texts it matches, and the texts
# with an exponent that `exponent_quantity` accepts.
QUANTITY_PATTERN = (r"^[+-]?(0*[0-9]{1,%d}([.][0-9]{0,%d})?|0*[.][0-9]{1,%d})$"
                    % (QUANTITY_DIGITS - QUANTITY_SCALE, QUANTITY_SCALE, QUANTITY_SCALE))
# A good quantity's text that is below zero (a sign and a non-zero digit before any
# exponent): a bad row for a `weighted` meter, whose value is a level (decisions 2.8).
NEGATIVE_PATTERN = r"^-0*[.]?0*[1-9]"
# The aggregations that read a quantity from each event (`count` and `unique` do not).
QUANTITY_FUNCTIONS = ("sum", "max", "latest", "weighted")
# A number written with an exponent of one to three digits: the plain decimal it
# denotes is written out (`plain_number`). A longer exponent is left as written.
EXPONENT_PATTERN = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)[eE][+-]?[0-9]{1,3}$"
# A row (a JSONL line, a CSV record) of this many bytes or more is a bad row:
# DuckDB's `max_line_size`, which the engine sets to it.
MAX_ROW_BYTES = 2_000_000

_TIME = re.compile(TIME_PATTERN)
_QUANTITY = re.compile(QUANTITY_PATTERN)
_EXPONENT = re.compile(EXPONENT_PATTERN)


class UnreadableFile(Exception):
    """A usage file that cannot be opened or has an unsupported type or layout."""


class BadHeader(UnreadableFile):
    """A CSV header whose columns cannot all be read by name: one named twice (which of
    the two cells to bill is not knowable, as for a JSONL key given twice) or one without
    a name. Said at the file's line 1; DuckDB's own words named no file."""


def header_problem(path: str, header: list[str]) -> str | None:
    """What is wrong with a CSV header's names, or None. A header without one of the
    required columns (`id`, `type`, `customer`, `time`) makes every row of the file bad,
    each for the same reason: said once, of the header, where the mistake is (` type`, with
    a space, or `Type`, is not `type`: names are taken as written)."""
    seen: dict[str, int] = {}
    for number, name in enumerate(header, 1):
        if name == "" and len(header) > 1:
            return f"the header of `{path}` has a column without a name (column {number})"
        if name in seen:
            return f"the header of `{path}` names column `{name}` twice (columns {seen[name]} and {number})"
        seen[name] = number
    if not header:
        return None
    for field in REQUIRED:
        if field not in seen:
            near = next((name for name in header if name.strip().lower() == field), None)
            said = f" (it has `{near}`: a column's name is taken as written)" if near is not None else ""
            return f"the header of `{path}` has no column `{field}`{said}"
    return None


def file_kind(path: str) -> str:
    kind = SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise UnreadableFile(f"unsupported usage file type `{Path(path).suffix or path}` "
                             "(use .jsonl, .csv or .parquet)")
    return kind


# ----------------------------------------------------------------- numbers as text


def strip_zeros(text: str) -> str:
    """`2.0` -> `2`, `1.50` -> `1.5`: a number's text without storage zeros."""
    if "." in text and "e" not in text and "E" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def plain_number(text: str) -> str:
    """`1.5e3` -> `1500`, `25E-3` -> `0.025`: a number written with an exponent (of
    at most three digits) as the plain decimal it denotes, by moving its point;
    every digit written is kept (`1.50e-17` has 19 decimal places). Other text
    is returned as it is. `sql.plain_number` is the SQL twin, step for step."""
    if not _EXPONENT.match(text):
        return text
    mantissa, exponent = text.lower().split("e")
    sign = mantissa[0] if mantissa[0] in "+-" else ""
    whole, _, fraction = mantissa[len(sign):].partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent)
    if point <= 0:
        body = "0." + digits.rjust(len(digits) - point, "0")
    elif point >= len(digits):
        body = digits.ljust(point, "0")
    else:
        body = digits[:point] + "." + digits[point:]
    return sign + body


def number_text(text: str) -> str:
    """A number's text (a JSON number as written, a numeric column cast to text) as
    the text rules and dimensions compare: the plain decimal, no storage zeros,
    zero as "0". The SQL twin is `sql.number_text`."""
    if _EXPONENT.match(text):
        plain = plain_number(text)
        sign = plain[0] if plain[0] in "+-" else ""
        body = plain[len(sign):].lstrip("0")
        text = sign + ("0" + body if body[:1] in ("", ".") else body)
    text = strip_zeros(text)
    return "0" if text in ("-0", "+0") else text


class JsonNumber(str):
    """A JSON number, kept as the text it was written with (never a float)."""


def text_value(value) -> str | None:
    """A property value as the text that rules and dimensions compare."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, JsonNumber):
        return number_text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return number_text(repr(value))
    if isinstance(value, (Decimal, int)):
        return number_text(format(Decimal(value), "f"))
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def absent(value) -> bool:
    """A property given as null or as the empty string: absent, in every format (an
    empty CSV cell cannot say which it is). Whitespace is a value."""
    return value is None or value == ""


def nested(value) -> bool:
    """An object or an array: not a value ratecard compares or sums."""
    return isinstance(value, (dict, list, tuple))


def parse_time(raw) -> dt.datetime | None:
    """An RFC 3339 timestamp (or date) as UTC; None when it is not one, or its
    instant in UTC is outside the years 0001-9999."""
    if not isinstance(raw, str) or not _TIME.match(raw):
        return None
    try:
        t = dt.datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        return t.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # 2026-02-30; 0001-01-01T00:00+01:00 (year 0 in UTC)
        return None


def exponent_quantity(text: str) -> bool:
    """A quantity written with an exponent that DECIMAL(38, 18) holds exactly: at
    most 18 decimal places and 20 integer digits once written out (`1.50e-17` has
    19 places), computed from the digits as `sql.exponent_quantity` does."""
    if not _EXPONENT.match(text):
        return False
    mantissa, exponent = text.lower().split("e")
    fraction = len(mantissa.partition(".")[2])
    significant = len(mantissa.lstrip("+-").replace(".", "").lstrip("0"))
    return (fraction - int(exponent) <= QUANTITY_SCALE
            and significant - fraction + int(exponent) <= QUANTITY_DIGITS - QUANTITY_SCALE)


def parse_quantity(text: str | None) -> Decimal | None:
    """A quantity exactly as written, or None when it is not an acceptable number:
    a plain decimal (`QUANTITY_PATTERN`) or one with an exponent (`exponent_quantity`)."""
    if text is None:
        return None
    text = text.strip(" ")
    if not (_QUANTITY.fullmatch(text) or exponent_quantity(text)):
        return None
    return Decimal(text)


def row_problem(obj: dict, meters_by_type: dict, keys: Iterable[str] = ()) -> tuple[str | None, dict[str, str]]:
    """Why a parsed row is bad (None if it is good), and its properties as text.
    `keys` are the properties some meter reads (`needed_keys`)."""
    duplicates = getattr(obj, "duplicates", frozenset()) & set(EVENT_FIELDS)
    if duplicates:
        return f"field `{sorted(duplicates)[0]}` is given twice", {}
    missing = [k for k in REQUIRED if obj.get(k) in (None, "")]
    if missing:
        return f"missing field `{missing[0]}`", {}
    complex_ = [k for k in REQUIRED if nested(obj[k])]
    if complex_:
        return f"field `{complex_[0]}` is a JSON {'object' if isinstance(obj[complex_[0]], dict) else 'array'}", {}
    if parse_time(obj["time"] if isinstance(obj["time"], str) else None) is None:
        return f"bad timestamp `{obj['time']}`", {}
    raw_props = obj.get("properties")
    if raw_props is None:
        raw_props = {}
    if not isinstance(raw_props, dict):
        return "`properties` is not an object", {}
    read = set(keys)
    twice = getattr(raw_props, "duplicates", frozenset()) & read
    if twice:
        return f"property `{sorted(twice)[0]}` is given twice", {}
    for k in sorted(read):
        if nested(raw_props.get(k)):
            return (f"property `{k}` is a JSON {'object' if isinstance(raw_props[k], dict) else 'array'}; "
                    "a property a meter reads is a string, a number or a boolean"), {}
    props = {k: text_value(v) for k, v in raw_props.items() if not absent(v) and not nested(v)}
    for meter in meters_by_type.get(text_value(obj["type"]), ()):
        field = meter.aggregation.field
        if meter.aggregation.expression is not None and all(c.matches(props) for c in meter.where):
            problem = derived_value(meter, props)[1]
            if problem is not None:
                return problem, props
        elif meter.aggregation.function in QUANTITY_FUNCTIONS and all(c.matches(props) for c in meter.where):
            shown = props.get(field)
            if shown is None:
                return f"missing quantity `{field}` for meter {meter.name}", props
            value = parse_quantity(shown)
            if value is None:
                return (f"quantity `{field}` = {shown!r} for meter {meter.name} is not a decimal "
                        f"number with at most {QUANTITY_SCALE} decimal places and "
                        f"{QUANTITY_DIGITS - QUANTITY_SCALE} integer digits"), props
            if value < 0 and meter.aggregation.function == "weighted":
                return (f"quantity `{field}` = {shown!r} for meter {meter.name} is negative: a `weighted` "
                        f"meter reports a level (a size), which cannot be below zero"), props
    return None, props


def needed_keys(plan: RatingPlan) -> tuple[str, ...]:
    """Every event property some meter reads: dimensions, where keys, fields."""
    keys: set[str] = set()
    for m in plan.meters.values():
        keys.update(m.dimension_names)
        keys.update(c.key for c in m.where)
        if m.aggregation.field:
            keys.add(m.aggregation.field)
        if m.aggregation.expression is not None:
            keys.update(expression_properties(m.aggregation.expression))
    return tuple(sorted(keys))


# ----------------------------------------------------------------- derived quantities


# A `*` or `/` computes on its operands as whole numbers of 10**-9 (part2-decisions 1.1):
# an operand with more decimal places than this makes the event a bad row.
FACTOR_SCALE = 9
_BOUND = Decimal(10) ** (QUANTITY_DIGITS - QUANTITY_SCALE)        # every value: DECIMAL(38, 18)
_OPERAND_BOUND = Decimal(10) ** (QUANTITY_DIGITS - 1 - QUANTITY_SCALE)  # of `+`/`-`: DECIMAL(37, 18)


class _BadValue(Exception):
    """Why one event's derived quantity has no value (the message's tail)."""


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def quotient(left: Decimal, right: Decimal) -> Decimal:
    """`left / right` for operands of at most 9 decimal places, to 18 places, a quotient
    that does not end there rounded once, half-even: long division on the operands as
    whole numbers of 10**-9, which the query does in 9-digit steps (`derived_sql`),
    so the two agree to the last digit. `right` is not zero."""
    scale = Decimal(10) ** FACTOR_SCALE
    dividend, divisor = int(abs(left) * scale), int(abs(right) * scale)
    whole, rest = divmod(dividend * 10 ** QUANTITY_SCALE, divisor)
    if 2 * rest > divisor or (2 * rest == divisor and whole % 2):
        whole += 1
    negative = (left < 0) != (right < 0) and whole != 0
    return Decimal(-whole if negative else whole).scaleb(-QUANTITY_SCALE)


def _derived(expr: Expression, values: dict[str, Decimal]) -> Decimal:
    """The value the query computes, or `_BadValue` where it stops or flags the event."""
    if not isinstance(expr, Operation):
        return evaluate_expression(expr, values)
    left, right = _derived(expr.left, values), _derived(expr.right, values)
    if expr.op in "+-":
        if abs(left) >= _OPERAND_BOUND or abs(right) >= _OPERAND_BOUND:
            raise _BadValue("range")
        result = left + right if expr.op == "+" else left - right
    else:
        for side, value in ((expr.left, left), (expr.right, right)):
            if _places(value) > FACTOR_SCALE:
                raise _BadValue(f"the operand `{expression_text(side)}` = {format(value, 'f')} of `{expr.op}` has more than "
                                f"{FACTOR_SCALE} decimal places")
        if expr.op == "*":
            result = left * right
        elif right == 0:
            raise _BadValue("division by zero")
        else:
            result = quotient(left, right)
    if abs(result) >= _BOUND:
        raise _BadValue("range")
    return result if result else abs(result)  # no -0


def derived_value(meter: Meter, props: dict[str, str]) -> tuple[Decimal | None, str | None]:
    """The value of a meter's derived quantity for one event, or why the event is a bad
    row: a property missing or not a quantity, a division by zero, an operand of `*` or
    `/` with more than 9 decimal places, or a value past DECIMAL(38, 18) (docs/usage.md,
    "Derived quantities"). `+ - *` are exact; a quotient is exact to 18 places and
    rounded once there, half-even."""
    expr = meter.aggregation.expression
    shown = expression_text(expr)
    values = {}
    for name in expression_properties(expr):
        text = props.get(name)
        if text is None:
            return None, f"missing property `{name}` of the derived quantity `{shown}` of meter {meter.name}"
        value = parse_quantity(text)
        if value is None:
            return None, (f"property `{name}` = {text!r} of the derived quantity `{shown}` of meter "
                          f"{meter.name} is not a decimal number with at most {QUANTITY_SCALE} decimal places "
                          f"and {QUANTITY_DIGITS - QUANTITY_SCALE} integer digits")
        values[name] = value
    with localcontext(EXACT) as ctx:
        ctx.traps[decimal_inexact] = True
        try:
            return _derived(expr, values), None
        except _BadValue as exc:
            reason = str(exc)
        except ArithmeticError:  # decimal.Inexact: beyond 60 digits, so past DECIMAL(38, 18) too
            reason = "range"
    if reason == "division by zero":
        return None, f"division by zero in the derived quantity `{shown}` of meter {meter.name}"
    if reason != "range":
        return None, (f"in the derived quantity `{shown}` of meter {meter.name}, {reason}: `*` and `/` "
                      f"compute on whole numbers of 10^-{FACTOR_SCALE} (ratecard never rounds an operand)")
    return None, (f"the derived quantity `{shown}` of meter {meter.name} is not a decimal number with at "
                  f"most {QUANTITY_SCALE} decimal places and {QUANTITY_DIGITS - QUANTITY_SCALE} integer "
                  f"digits (each operand fewer than {QUANTITY_DIGITS - QUANTITY_SCALE}) for this event "
                  "(ratecard never rounds a quantity)")
