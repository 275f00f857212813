"""The leaves of the syntax tree: names, literals and descriptions.

Every statement node (`nodes`, `price_list_nodes`) is made of these; they live
apart so that both statement modules import them, and neither the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Union

from ..diagnostics import Span


@dataclass(slots=True, unsafe_hash=True)
class Ident:
    name: str
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Str:
    """A string literal; `value` is unescaped, `raw` is the text with quotes."""

    value: str
    raw: str
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Num:
    """A number literal. `suffix` is "K", "M" or ""; `value` already includes it."""

    value: Decimal
    raw: str
    suffix: str
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class DateLit:
    """A `YYYY-MM-DD` date or an RFC 3339 timestamp, kept as text until the compiler checks it."""

    raw: str
    is_timestamp: bool
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class Money:
    """`$12.50`, `12.50 EUR` or `free`. `currency` is None for `$` and `free` (the project's)."""

    amount: Decimal
    currency: Ident | None
    raw: str
    span: Span
    is_free: bool = False


Value = Union[Str, Num]


@dataclass(slots=True, unsafe_hash=True)
class Description:
    text: Str
    span: Span
