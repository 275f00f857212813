"""Text -> syntax tree: grammar loading, parsing, positions, syntax errors; and back to
text, the formatter (`fmt`). Every Lark internal it relies on is named in `lark_compat`."""

from .parser import parse, without_bom

__all__ = ["parse", "without_bom"]
