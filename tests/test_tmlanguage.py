"""The VS Code TextMate grammar scopes what the Lark grammar lexes, on every example project.

`editors/vscode/syntaxes/ratecard.tmLanguage.json` is applied by a small
TextMate tokenizer below, with Oniguruma (the regex engine VS Code runs these
grammars on, through `onigurumacffi`): at each position the earliest match of
the current rules wins, ties going to the rule listed first and to a
`begin` rule's `end` pattern; `include`s are resolved from the repository.
What the grammar must get right is checked against Lark's own tokens (the
contextual lexer of grammar/ratecard.lark, via the parser): every keyword is
scoped `keyword.*`, no name is, strings, numbers and comments are scoped as
such, and defined or referenced meters, plans and contracts and condition
keys get their entity scopes.
"""

from __future__ import annotations

import json
from pathlib import Path

import onigurumacffi
import pytest
from lark import Lark

from ratecard.syntax.grammar import grammar_text, keywords

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "ratecard.tmLanguage.json"
EXAMPLES = sorted((ROOT / "examples").rglob("*.pricing"))


class TextMate:
    """Enough of a TextMate engine for a flat grammar: match, begin/end, captures, include."""

    def __init__(self, data: dict) -> None:
        self.scope = data["scopeName"]
        self.repository = data.get("repository", {})
        self.root = self._flatten(data["patterns"])
        self._sets: dict[tuple, object] = {}

    def _flatten(self, patterns: list[dict]) -> list[dict]:
        out = []
        for p in patterns:
            if "include" in p:
                target = self.repository[p["include"].removeprefix("#")]
                out += self._flatten([target]) if ("match" in target or "begin" in target) \
                    else self._flatten(target["patterns"])
            elif "match" in p or "begin" in p:
                out.append(p)
            else:
                out += self._flatten(p["patterns"])
        return out

    def _regset(self, rules: tuple, end: str | None):
        key = (id(rules), end)
        if key not in self._sets:
            sources = ([end] if end is not None else []) + [r.get("match") or r["begin"] for r in rules]
            self._sets[key] = onigurumacffi.compile_regset(*sources)
        return self._sets[key]

    def tokenize(self, text: str) -> list[tuple[int, int, int, tuple[str, ...]]]:
        """(line 1-based, start col 0-based, end col, scopes) for every piece of every line."""
        tokens = []
        stack: list[tuple[dict, tuple[str, ...], tuple]] = []  # (begin rule, scopes inside, its patterns)
        root = tuple(self.root)
        for number, line in enumerate(text.split("\n"), start=1):
            pos = 0
            while pos <= len(line):
                rule_top, scopes, patterns = stack[-1] if stack else (None, (self.scope,), root)
                end = rule_top["end"] if rule_top else None
                index, m = self._regset(patterns, end).search(line, pos)
                if m is None:
                    if pos < len(line):
                        tokens.append((number, pos, len(line), scopes))
                    break
                if m.start() > pos:
                    tokens.append((number, pos, m.start(), scopes))
                if end is not None and index == 0:
                    tokens += self._captured(number, m, scopes, rule_top.get("endCaptures", {}))
                    stack.pop()
                else:
                    rule = patterns[index - (1 if end is not None else 0)]
                    inner = scopes + ((rule["name"],) if "name" in rule else ())
                    if "match" in rule:
                        tokens += self._captured(number, m, inner, rule.get("captures", {}))
                    else:
                        tokens += self._captured(number, m, inner, rule.get("beginCaptures", {}))
                        stack.append((rule, inner, tuple(self._flatten(rule.get("patterns", [])))))
                if m.end() == pos and (end is None or index != 0):
                    pos += 1  # an empty match: move on
                else:
                    pos = m.end()
            # a begin/end rule whose end is `$` closes at the end of the line
            while stack and stack[-1][0]["end"].endswith("$"):
                stack.pop()
        return tokens

    @staticmethod
    def _captured(number: int, m, scopes: tuple, captures: dict) -> list:
        if m.end() == m.start():
            return []
        names = {int(k): v["name"] for k, v in captures.items()}
        if not names:
            return [(number, m.start(), m.end(), scopes)]
        if 0 in names:
            scopes = scopes + (names.pop(0),)
        pieces, pos = [], m.start()
        for group in sorted(names):
            start, end = m.span(group)
            if start < 0 or start == end:
                continue
            if start > pos:
                pieces.append((number, pos, start, scopes))
            pieces.append((number, start, end, scopes + (names[group],)))
            pos = end
        if pos < m.end():
            pieces.append((number, pos, m.end(), scopes))
        return pieces


@pytest.fixture(scope="module")
def textmate() -> TextMate:
    return TextMate(json.loads(GRAMMAR.read_text(encoding="utf-8")))


def scopes_at(tokens, line: int, col: int) -> tuple[str, ...]:
    """The scopes of the piece covering 0-based column `col` of `line`."""
    for number, start, end, scopes in tokens:
        if number == line and start <= col < end:
            return scopes
    return ()


def has(scopes, prefix: str) -> bool:
    return any(s.startswith(prefix) for s in scopes)


def test_the_grammar_is_valid_for_vs_code():
    data = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    assert data["scopeName"] == "source.ratecard"
    package = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text(encoding="utf-8"))
    (grammar,) = package["contributes"]["grammars"]
    assert grammar["scopeName"] == data["scopeName"] and grammar["language"] == "ratecard"
    assert (ROOT / "editors" / "vscode" / grammar["path"]).resolve() == GRAMMAR
    (language,) = package["contributes"]["languages"]
    assert language["extensions"] == [".pricing"]


@pytest.mark.parametrize("word", sorted(keywords()))
def test_every_keyword_of_the_lark_grammar_is_scoped(textmate, word):
    tokens = textmate.tokenize(word)
    assert [(s, e) for _, s, e, _ in tokens] == [(0, len(word))]
    assert has(tokens[0][3], "keyword."), f"`{word}` is scoped {tokens[0][3]}"


@pytest.fixture(scope="module")
def lark_lexer():
    comments: list = []
    lark = Lark(grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=False,
                lexer_callbacks={"COMMENT": comments.append})
    return lark, comments


def lark_tokens(lark_lexer, text: str):
    """Every token of `text` as the real grammar lexes it, comments included."""
    lark, comments = lark_lexer
    comments.clear()
    tokens = list(lark.parse_interactive(text).iter_parse())
    return sorted(tokens + comments, key=lambda t: t.start_pos)


KEYWORD_TERMINALS = {"COUNT", "AGG_FN", "TIER_MODE", "MOD_DIR", "DEFAULT"}
LITERALS = {"STRING": "string.", "NUMBER": "constant.numeric", "DOLLARS": "constant.numeric",
            "PERCENT": "constant.numeric", "DATE": "constant.numeric", "TIMESTAMP": "constant.numeric",
            "COMMENT": "comment."}
NAME_AFTER = {"METER": "entity.name.type.meter", "CHARGE": "entity.name.type.meter",
              "OVERRIDE": "entity.name.type.meter", "USAGE": "entity.name.type.meter",
              "LINE": "entity.name.type.meter", "PLAN": "entity.name.type.plan",
              "CONTRACT": "entity.name.type.contract", "PER": "support.type.unit",
              "BILLING": "constant.language", "AUTOPAY": "constant.language", "CURRENCY": "constant.language",
              "ROUNDING": "constant.language", "AGG_FN": "variable.other.field"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(ROOT / "examples")) for p in EXAMPLES])
def test_the_examples_are_scoped_as_lark_lexes_them(textmate, lark_lexer, path):
    text = path.read_text(encoding="utf-8")
    tm = textmate.tokenize(text)
    tokens = lark_tokens(lark_lexer, text)
    assert tokens, path
    checked = 0
    previous = None
    previous_previous = None  # the type of the token before `previous`
    for i, tok in enumerate(tokens):
        first = scopes_at(tm, tok.line, tok.column - 1)
        last = scopes_at(tm, tok.end_line, tok.end_column - 2)
        is_keyword = tok.type in KEYWORD_TERMINALS or (tok.type not in LITERALS and tok.type != "NAME"
                                                       and str(tok).isalpha())
        if is_keyword:
            expected = "keyword."
        elif tok.type in LITERALS:
            expected = LITERALS[tok.type]
        elif tok.type == "NAME":
            assert not has(first, "keyword."), f"{path.name}:{tok.line}: name `{tok}` scoped as a keyword"
            following = next((t for t in tokens[i + 1:] if t.type != "COMMENT"), None)
            if previous is not None and previous.type in NAME_AFTER:
                expected = NAME_AFTER[previous.type]
            elif previous is not None and previous.type == "NUMBER" and previous_previous == "PER":
                expected = "support.type.unit"
            elif following is not None and following.type in ("CMP", "IN", "NOT"):
                expected = "variable.other.property"
            else:
                expected = None
        else:
            expected = None
        if expected is not None:
            assert has(first, expected) and has(last, expected), \
                f"{path.name}:{tok.line}:{tok.column}: `{tok}` ({tok.type}) is scoped {first}, not {expected}*"
            checked += 1
        if tok.type != "COMMENT":
            previous_previous = previous.type if previous is not None else None
            previous = tok
    assert checked > len(tokens) // 2
