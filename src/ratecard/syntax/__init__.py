"""Text -> syntax tree: grammar loading, parsing, positions, syntax errors."""

from .parser import parse

__all__ = ["parse"]
