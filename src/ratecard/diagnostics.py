"""One diagnostic type for every user-facing problem, and its two renderings.

Every stage (syntax, compiler, lint, usage, billing) reports problems as
`Diagnostic` values instead of raising; the CLI prints them all in one place,
either rustc-style text with the source line and a caret, or JSON for editors
and CI. Source text is looked up through a `SourceMap` so the stages that
produce diagnostics never have to carry file contents around.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, NamedTuple, Sequence


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


class Span(NamedTuple):
    """A region of one source file. Lines and columns are 1-based; `end_col` is exclusive.

    A named tuple rather than a frozen dataclass: the parser makes one per
    syntax node, and a tuple is built faster (figures: docs/scale.md,
    "Histories: syntax and compiler").

    A place in a JSON contracts file is named by its JSON `path`
    (`$[0].rateOverrides.LLM_TOKENS["model=gpt-4"]`) instead of a line and a
    column (both 0): the compiler checks JSON contracts with the same passes as
    `contract` blocks, and reports their problems at the value that caused them.
    """

    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    path: str | None = None

    @classmethod
    def json(cls, file: str, path: str) -> "Span":
        return cls(file, 0, 0, 0, 0, path)

    @classmethod
    def point(cls, file: str, line: int, col: int, width: int = 1) -> "Span":
        return cls(file, line, col, line, col + max(width, 1))

    def through(self, other: "Span") -> "Span":
        """The span from the start of `self` to the end of `other` (same file)."""
        return Span(self.file, self.line, self.col, other.end_line, other.end_col)

    @property
    def where(self) -> str:
        if self.path is not None:
            return f"{self.file}:{self.path}"
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Note:
    """A secondary location: 'first defined here', 'the other rule'."""

    message: str
    span: Span


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    severity: Severity = Severity.ERROR
    hints: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, "", self.code, self.message)
        return (self.span.file, self.span.line, self.span.col, self.span.path or "", self.code, self.message)

    def to_json(self) -> dict:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "span": _span_json(self.span),
            "hints": list(self.hints),
            "notes": [{"message": n.message, "span": _span_json(n.span)} for n in self.notes],
        }


def _span_json(span: Span | None) -> dict | None:
    if span is None:
        return None
    out = {
        "file": span.file,
        "line": span.line,
        "col": span.col,
        "end_line": span.end_line,
        "end_col": span.end_col,
    }
    if span.path is not None:
        out["path"] = span.path
    return out


def error(code: str, message: str, span: Span | None = None, *, hints: Iterable[str] = (),
          notes: Iterable[Note] = ()) -> Diagnostic:
    return Diagnostic(code, message, span, Severity.ERROR, tuple(hints), tuple(notes))


def warning(code: str, message: str, span: Span | None = None, *, hints: Iterable[str] = (),
            notes: Iterable[Note] = ()) -> Diagnostic:
    return Diagnostic(code, message, span, Severity.WARNING, tuple(hints), tuple(notes))


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known name, for "did you mean" hints."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        return lowered.get(name.lower())
    return matches[0]


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a diagnostic about a library's failure.

    Engines and template libraries raise messages of many lines (a query plan, a
    Java stack trace); a diagnostic quotes the line that says what went wrong. An
    exception without a message is named by its type.
    """
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass
class SourceMap:
    """File name -> text, so renderers can quote the offending line."""

    texts: dict[str, str] = field(default_factory=dict)
    _lines: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text
        self._lines.pop(name, None)

    def line(self, name: str, number: int) -> str | None:
        lines = self._lines.get(name)
        if lines is None:
            text = self.texts.get(name)
            if text is None:
                return None
            lines = self._lines[name] = text.splitlines()
        if 1 <= number <= len(lines):
            return lines[number - 1]
        return None


MAX_ERRORS_SHOWN = 50


def render_text(diagnostics: Sequence[Diagnostic], sources: SourceMap | None = None) -> str:
    """rustc-like text: location, severity[code], message, quoted line, caret, help."""
    sources = sources or SourceMap()
    shown = list(diagnostics)[:MAX_ERRORS_SHOWN]
    blocks = [_render_one(d, sources) for d in shown]
    hidden = len(diagnostics) - len(shown)
    if hidden > 0:
        blocks.append(f"... and {hidden} more")
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    if diagnostics:
        parts = []
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        if warnings:
            parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        blocks.append(", ".join(parts))
    return "\n".join(blocks) + ("\n" if blocks else "")


def _render_one(d: Diagnostic, sources: SourceMap) -> str:
    head = f"{d.severity.value}[{d.code}]: {d.message}"
    out = [f"{d.span.where}: {head}" if d.span else head]
    if d.span:
        out.extend(_quote(d.span, sources))
    for note in d.notes:
        out.append(f"{note.span.where}: note: {note.message}")
        out.extend(_quote(note.span, sources))
    for hint in d.hints:
        out.append(f"   = help: {hint}")
    return "\n".join(out)


def _quote(span: Span, sources: SourceMap) -> list[str]:
    text = sources.line(span.file, span.line)
    if text is None:
        return []
    text = text.expandtabs(1)
    gutter = len(str(span.line)) + 1
    end = span.end_col if span.end_line == span.line else len(text) + 1
    width = max(1, end - span.col)
    return [
        f"{span.line:>{gutter + 2}} | {text}",
        f"{'':>{gutter + 2}} | {' ' * (span.col - 1)}{'^' * width}",
    ]


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    payload = {
        "diagnostics": [d.to_json() for d in diagnostics],
        "errors": sum(1 for d in diagnostics if d.is_error),
        "warnings": sum(1 for d in diagnostics if not d.is_error),
    }
    return json.dumps(payload, indent=2, sort_keys=False) + "\n"
