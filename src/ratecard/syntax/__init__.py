"""Text -> syntax tree: grammar loading, parsing, positions, syntax errors."""

from .parser import parse, without_bom

__all__ = ["parse", "without_bom"]
