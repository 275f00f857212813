"""The language server's parts without a client: positions, parser context, analysis, docs links."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from lark import Lark
from lsprotocol import types

from ratecard.compiler import compile_paths, compile_sources
from ratecard.lsp import docs, wins
from ratecard.lsp.analysis import Analyzer, Debouncer
from ratecard.lsp.hover import hover_text
from ratecard.lsp.positions import Positions, prefer_code_points
from ratecard.lsp.project import Project, Projects
from ratecard.lsp.report import publishable, uri_of
from ratecard.lsp.session import Options
from ratecard.lsp.symbols import build_index
from ratecard.syntax.grammar import grammar_text, keywords
from ratecard.syntax.prefix import expected_after

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- grammar words and parser context


def test_keywords_are_the_words_lark_lexes_as_keywords():
    lark = Lark(grammar_text(), parser="lalr")
    words = set()
    for t in lark.terminals:
        if t.pattern.type == "str" and t.pattern.value.isalpha():
            words.add(t.pattern.value)
        elif t.pattern.type == "re" and re.fullmatch(r"\(\?:[a-z|]+\)", t.pattern.value):
            words.update(t.pattern.value[3:-1].split("|"))
    assert keywords() == words


@pytest.mark.parametrize("text, expected, words", [
    ("", {"METER", "PLAN", "CONTRACT", "CURRENCY", "ROUNDING", "TEST", "GRACE", "NUMBERING"}, None),
    ("plan p {\n  ", None, {"charge", "fee", "billing", "payment", "autopay", "minimum", "title",
                                  "cap", "allowance"}),
    ("meter M { rates { default : ", {"DOLLARS", "NUMBER", "FREE", "PACKAGE", "TIER_MODE", "PERCENT",
                                      "POOLED"},
     {"free", "package", "graduated", "volume", "pooled"}),
    ("contract c { credit $5 { ", None, {"description", "price", "granted", "expires", "priority",
                                                 "applies"}),
    ("plan p {\n  charg\n  charge ", {"NAME"}, set()),
])
def test_expected_after(text, expected, words):
    prefix = expected_after(text)
    if expected is not None:
        assert prefix.expected == expected
    if words is not None:
        assert prefix.words == words


def test_expected_after_recovers_from_an_earlier_broken_line():
    prefix = expected_after('plan p {\n  charg\n  charge ')
    assert prefix.recovered
    assert [getattr(t, "type", None) for t in prefix.stack[-2:]] == ["LBRACE", "CHARGE"]


# ---------------------------------------------------------------- positions


LINE = 'title "Café 🚀 x" charge API'


@pytest.mark.parametrize("encoding, column", [("utf-16", 25), ("utf-8", 28), ("utf-32", 24)])
def test_code_points_to_client_units_and_back(encoding, column):
    positions = Positions(encoding)
    col = LINE.index("API") + 1  # 1-based code points, as Lark counts
    assert positions.position([LINE], 1, col) == types.Position(0, column)
    assert positions.point([LINE], types.Position(0, column)) == (1, col)
    # past the end of the line: clamped
    assert positions.point([LINE], types.Position(0, 500)) == (1, len(LINE) + 1)


def test_the_server_prefers_code_points():
    caps = types.ClientCapabilities(general=types.GeneralClientCapabilities(
        position_encodings=["utf-16", "utf-8", "utf-32"]))
    prefer_code_points(caps)
    assert caps.general.position_encodings == ["utf-32", "utf-8", "utf-16"]
    caps = types.ClientCapabilities(general=types.GeneralClientCapabilities(position_encodings=["utf-16"]))
    prefer_code_points(caps)
    assert caps.general.position_encodings == ["utf-16"]


# ---------------------------------------------------------------- docs links and options


def test_every_documented_code_links_to_its_section():
    text = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    codes = {a or b for a, b in re.findall(r"(?m)^### ([EW]\d{3})\b|^\| ([EW]\d{3}) \|", text)}
    headings = {docs.slug(h) for h in re.findall(r"(?m)^#{2,3} (.+)$", text)}
    for code in codes:
        link = docs.doc_link(code)
        assert link is not None and link.split("#")[1] in headings, code
    assert docs.doc_link("E201").endswith("#e201--unknown-meter")
    assert docs.doc_link("E201", "https://docs.example.com/diagnostics") == \
        "https://docs.example.com/diagnostics#e201--unknown-meter"


def test_options_ignore_what_they_do_not_understand():
    assert Options.of(None) == Options()
    assert Options.of({"projects": ["a", "b"], "debounce": 0.1, "diagnosticsDocs": "https://x"}) == \
        Options(("a", "b"), "https://x", 0.1)
    assert Options.of({"projects": "a", "debounce": -1, "diagnosticsDocs": 3}) == Options()


# ---------------------------------------------------------------- projects and analysis


def test_the_innermost_project_holds_a_file(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    projects = Projects([tmp_path, tmp_path / "a"])
    assert projects.for_path(tmp_path / "a" / "b" / "x.pricing").root == (tmp_path / "a").resolve()
    assert projects.for_path(tmp_path / "y.pricing").root == tmp_path.resolve()
    loose = Projects([tmp_path / "a"]).for_path(tmp_path / "z.pricing")
    assert loose.root == tmp_path.resolve() and not loose.recursive


def test_analyses_are_cached_by_content_and_match_check(tmp_path):
    for name, text in (("m.pricing", 'meter M { event "e" count rates { default : $1 } }\n'),
                       ("p.pricing", "plan p { charge M }\n")):
        (tmp_path / name).write_text(text, encoding="utf-8")
    project = Project(tmp_path.resolve())
    analyzer = Analyzer()
    first = analyzer.analyse(project, {})
    assert analyzer.analyse(project, {}) is first
    assert [d.code for d in first.compiled.diagnostics] == \
        [d.code for d in compile_paths([str(tmp_path)]).diagnostics] == []
    edited = analyzer.analyse(project, {(tmp_path / "p.pricing").resolve(): "plan p { charge N }\n"})
    assert edited is not first
    assert [d.code for d in edited.compiled.diagnostics] == ["E201"]  # the root cause once: no W001 for the meter the typo meant
    assert analyzer.analyse(project, {}) is not edited  # the buffer was closed: the disk again


def test_an_unreadable_file_is_e001_in_the_compilers_words(tmp_path):
    (tmp_path / "bad.pricing").write_bytes(b"meter \xff")
    analysis = Analyzer().analyse(Project(tmp_path.resolve()), {})
    (diag,) = analysis.diagnostics_by_file()["bad.pricing"]
    assert diag.code == "E001"
    assert diag.message == "bad.pricing is not UTF-8 text (invalid start byte at byte 6)"


def test_hover_uses_the_last_plan_that_compiled_while_a_file_does_not_parse(tmp_path):
    (tmp_path / "m.pricing").write_text('meter M { event "e" count }\n', encoding="utf-8")
    (tmp_path / "p.pricing").write_text("plan p { charge M : $1 }\n", encoding="utf-8")
    project = Project(tmp_path.resolve())
    analyzer = Analyzer()
    analyzer.analyse(project, {})
    broken = analyzer.analyse(project, {(tmp_path / "m.pricing").resolve(): 'meter M { event "e" count }\nplan {'})
    assert broken.compiled.plan is None and broken.plan_is_stale
    text, _span = hover_text(broken, "p.pricing", 1, 18)
    assert "**meter `M`**" in text and "last version of the project that compiled" in text


def test_where_keys_that_are_not_dimensions_are_event_fields():
    compiled = compile_sources([("m.pricing", 'meter M { event "e" count dimensions model '
                                              'where env != "test", model = "a" }\n')])
    index = build_index(compiled.files)
    assert [o.symbol for o in index.occurrences] == [("meter", "M"), ("dimension", "M", "model"),
                                                     ("dimension", "M", "model")]
    assert [w.role for w in index.words] == ["field"]


def test_a_rule_of_a_project_without_contracts_is_explained_for_each_plan():
    compiled = compile_sources([("t.pricing", 'meter M { event "e" count dimensions tier in ("a", "b")\n'
                                              '  rates { tier = "a" : $1\n default : $2 } }\n'
                                              'plan p { charge M }\nplan q { charge M { default : $3 } }\n')])
    lines = wins.outcomes(compiled.plan, "meter:M/rates/1")
    assert lines == [
        '- tier = "a" for a contract on plan p: less specific; priced by t.pricing:2 [meter M] '
        '`tier = "a" : $1 per unit`',
        '- tier = "b" for a contract on plan p: **wins**: the `default` rule of meter M: no more specific '
        'rule matched',
        '- tier = "a" for a contract on plan q: lower layer; priced by t.pricing:5 [plan q] `default : $3 per unit`',
        '- tier = "b" for a contract on plan q: lower layer; priced by t.pricing:5 [plan q] `default : $3 per unit`',
    ]


def test_the_debouncer_runs_once_after_a_burst():
    runs = []

    async def burst():
        debouncer = Debouncer(0.05)

        async def action():
            runs.append(1)

        for _ in range(5):
            debouncer.call("k", action)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)

    asyncio.run(burst())
    assert runs == [1]


# ---------------------------------------------------------------- robustness


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ratecard.lsp import actions, completion, navigation, outline, tokens  # noqa: E402

_EXAMPLE = ROOT / "examples" / "enterprise"
_PIECES = st.sampled_from(["{", "}", '"', "#", ":", "=", "in (", "per", "charge ", "meter ", "plan ",
                           "$1", "1K", "2026-01-01", "é🚀", "\n", " ", "default", "contract x {", ","])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(p.name for p in _EXAMPLE.glob("*.pricing"))), st.data())
def test_every_feature_answers_on_mangled_text(name, data):
    """Whatever the buffer holds, no feature raises: the editor gets an answer or nothing."""
    text = (_EXAMPLE / name).read_text(encoding="utf-8")
    cut = data.draw(st.integers(0, len(text)))
    length = data.draw(st.integers(0, 40))
    insert = "".join(data.draw(st.lists(_PIECES, max_size=4)))
    mangled = text[:cut] + insert + text[cut + length:]
    project = Project(_EXAMPLE.resolve())
    analysis = Analyzer().analyse(project, {(_EXAMPLE / name).resolve(): mangled})
    positions = Positions("utf-16")
    lines = mangled.split("\n")
    for _ in range(5):
        line = data.draw(st.integers(1, len(lines)))
        col = data.draw(st.integers(1, len(lines[line - 1]) + 1))
        hover_text(analysis, name, line, col)
        completion.complete(analysis, mangled, line, col)
        navigation.definitions(analysis, name, line, col)
        navigation.references(analysis, name, line, col, True)
        actions.code_actions(analysis, name, (line, col, line, col), positions)
    tokens.semantic_tokens(analysis, name, mangled, positions)
    tree = analysis.tree(name)
    if tree is not None:
        outline.document_symbols(tree, mangled, positions)


# ---------------------------------------------------------------- completion at points found by typing


def _labels(text: str, analysis=None) -> list[str]:
    lines = text.split("\n")
    return [i.label for i in completion.complete(analysis, text, len(lines), len(lines[-1]) + 1)]


def test_completion_after_weighted_per_offers_the_time_units():
    """`weighted F per` takes month, day or hour (the compiler's TIME_UNITS), not a price's unit."""
    assert _labels('meter X {\n  weighted gb per ') == ["month", "day", "hour"]
    assert _labels('meter X {\n  sum gb\n  rates per ') == []  # a price's unit: the project's units (none here)


def test_a_file_on_disk_with_a_byte_order_mark_is_placed_as_an_editor_shows_it(tmp_path):
    """Editors drop the BOM from the text they show (and count positions in); so do the compiler's
    spans. The file read from disk must be too: the diagnostic's range and its quick fix on line 1."""
    (tmp_path / "m.pricing").write_text('\ufeffplan p { title "é" charge Mx }\r\n'
                                        'meter M { event "e" count rates { default : $1 } }\r\n',
                                        encoding="utf-8")
    analysis = Analyzer().analyse(Project(tmp_path.resolve()), {})
    shown = 'plan p { title "é" charge '
    for encoding, column in (("utf-8", len(shown.encode("utf-8"))), ("utf-16", len(shown))):
        positions = Positions(encoding)
        (diags,) = publishable(analysis, positions).values()
        assert [(d.code, d.range) for d in diags] == \
            [("E201", types.Range(types.Position(0, column), types.Position(0, column + 2)))]
        at = len(shown) + 2  # the cursor on `Mx`, in code points
        (fix,) = actions.code_actions(analysis, "m.pricing", (1, at, 1, at), positions)
        (edit,) = next(iter(fix.edit.changes.values()))
        assert (edit.range, edit.new_text) == (diags[0].range, "M")


@pytest.mark.parametrize("text, words, names", [
    # a rule left without its price: the next line's condition starts a new rule
    ('meter M { event "e" count dimensions tier in ("a", "b")\n  rates {\n    tier = "a" :\n    tier = "b" : $1\n'
     '    ', {"default"}, None),
    # a charge left without its price: the next `charge` takes a meter
    ('plan p {\n  charge M :\n  charge ', set(), {"NAME"}),
    # a string left open: the next lines are the meter's statements again
    ('meter X {\n  title "abc\n  sum x\n  ', {"dimensions", "rates", "where", "title"}, None),
    ('plan p {\n  fee "x : $5 per month\n  charge M : $1\n  ', {"charge", "fee", "minimum"}, None),
])
def test_a_statement_left_unfinished_on_an_earlier_line_does_not_hide_the_next(text, words, names):
    """The parser waits for the rest of the unfinished statement and would skip every later token
    (offering a price or a string forever); a token on a later line that only a new statement can
    take drops the unfinished one instead."""
    prefix = expected_after(text)
    assert prefix.recovered
    assert words <= prefix.words
    if names is not None:
        assert names <= prefix.expected


def test_completion_after_a_rule_left_without_a_price():
    compiled = compile_sources([("m.pricing", 'meter M { event "e" count dimensions tier in ("a", "b") }\n'
                                              'plan p { charge M : $1 }\n')])
    analysis = type("A", (), {"names": build_index(compiled.files), "plan": compiled.plan, "index": None})()
    assert _labels('plan q {\n  charge M :\n  charge ', analysis) == ["M"]
    assert _labels('plan q {\n  charge M {\n    tier = "a" :\n    tier = ', analysis) == ['"a"', '"b"']


def test_a_buffer_that_keeps_the_byte_order_mark_is_answered_in_its_own_positions(tmp_path):
    """A client may keep the BOM in the text it sends (and count it in positions); the compiler's
    spans count from after it. Every answer on line 1 must be in the client's units: ranges,
    positions it sends, semantic tokens (names and lexical words alike), quick fixes, completion."""
    (tmp_path / "m.pricing").write_text('meter API_CALLS { event "e" count rates { default : $1 } }\n',
                                        encoding="utf-8")
    path = (tmp_path / "p.pricing").resolve()
    text = '\ufeffplan zz { charge API_CALL }\r\nplan yy { charge API_CALLS }\r\n'
    analysis = Analyzer().analyse(Project(tmp_path.resolve()), {path: text})
    positions = Positions("utf-16")
    lines = text.split("\n")
    client = text.index("API_CALL")  # the client counts the BOM: 18
    (diag,) = publishable(analysis, positions)[uri_of(path)]
    assert diag.range == types.Range(types.Position(0, client), types.Position(0, client + 8))
    line, col = positions.point(lines, types.Position(0, client))
    assert (line, col) == (1, client)  # the span's column (1-based, after the BOM)
    (fix,) = actions.code_actions(analysis, "p.pricing", (line, col, line, col), positions)
    (edit,) = next(iter(fix.edit.changes.values()))
    assert edit.range == diag.range
    assert [i.label for i in completion.complete(analysis, text, line, col)] == ["API_CALLS"]
    data = tokens.semantic_tokens(analysis, "p.pricing", text, positions)
    found, line_no, start = [], 0, 0
    for i in range(0, len(data), 5):
        line_no += data[i]
        start = start + data[i + 1] if data[i] == 0 else data[i + 1]
        found.append((line_no, start, data[i + 2], tokens.TOKEN_TYPES[data[i + 3]]))
    assert found[:2] == [(0, 1, 4, "keyword"), (0, 6, 2, "class")]


def test_completion_after_an_allowances_per_offers_the_cadences():
    """`allowance $10 per month` takes a cadence, as a fee's `per` does (the compiler's CADENCES)."""
    assert _labels('plan p {\n  allowance $10 per ') == _labels('plan p {\n  fee "x" : $5 per ') == \
        ["month", "quarter", "year", "period"]


_PART2 = ('meter A { event "a" count rates { default : $1 } }\nmeter B { event "b" count rates { default : $1 } }\n'
          'plan p { charge A charge B allowance $10 per month { applies to B } }\nplan q { charge A charge B }\n'
          'contract c { customer "x" plan p plan q from 2026-03-01 starts 2026-01-01\n'
          '  discount 20% { applies to A, fees }\n  credit $5 { applies to A, B } }\n')


def test_plan_changes_and_applies_to_are_names_of_the_index():
    """`plan q from DATE` names a plan and `applies to A, B` meters (discounts, credits, allowances):
    definition, references, hover and semantic tokens read them from the index."""
    compiled = compile_sources([("t.pricing", _PART2)])
    assert [d.code for d in compiled.diagnostics if d.code.startswith("E")] == []
    index = build_index(compiled.files)
    used = lambda symbol: [(s.line, s.col) for s in index.references[symbol]]  # noqa: E731
    assert used(("plan", "q")) == [(5, 39)]
    assert used(("meter", "B")) == [(3, 26), (3, 65), (4, 26), (7, 29)]
    assert used(("meter", "A")) == [(3, 17), (4, 17), (6, 29), (7, 26)]
    assert ("meter", "fees") not in index.references


def test_completion_after_applies_to_offers_meters_and_fees():
    compiled = compile_sources([("t.pricing", _PART2)])
    analysis = type("A", (), {"names": build_index(compiled.files), "plan": compiled.plan, "index": None})()
    assert _labels('contract d {\n  discount 5% { applies to ', analysis) == ["A", "B", "fees"]
    assert _labels('contract d {\n  credit $5 { applies to A, ', analysis) == ["A", "B", "fees"]


def test_hover_tells_part_2_contracts_and_credits_as_they_bill():
    """A contract's plan changes, cap and discounts; a credit's priority and `applies to` (with
    priorities, the soonest expiry is not what pays first); a plan's contracts include those that
    change to it."""
    text = _PART2.replace("credit $5 { applies to A, B }", "credit $5 { priority 1 applies to A, B }")
    compiled = compile_sources([("t.pricing", text)])
    analysis = type("A", (), {"index": build_index(compiled.files), "plan": compiled.plan,
                              "plan_is_stale": False, "model_id": lambda self, s: None})()
    contract, _ = hover_text(analysis, "t.pricing", 5, 10)
    assert "on plan `p`, then plan `q` from 2026-03-01" in contract
    assert "- discount 20% on `A`, fees" in contract
    plan_q, _ = hover_text(analysis, "t.pricing", 4, 6)
    assert "contracts: `c` (from 2026-03-01)" in plan_q
    from ratecard.lsp.hover import _credit  # the credit's own hover (found by its compiled span)
    body = _credit(compiled.plan, compiled.plan.contracts["c"].credits[0])
    assert "priority 1" in body and "pays lines of `A`, `B`" in body
    assert "the one that expires soonest pays first" not in body


def test_a_rule_of_a_plan_a_contract_changes_to_is_explained_for_that_contract():
    """`plan q from DATE`: from that day the contract's lines are priced by q's cards, so a rule of q
    wins them (the hover named no contract and fell back to a hypothetical one)."""
    compiled = compile_sources([("t.pricing", _PART2.replace("plan q { charge A", "plan q { charge A : $3"))])
    lines = wins.outcomes(compiled.plan, "plan:q/charge:A/0")
    assert lines == ["- every line for `c` (on plan q from 2026-03-01): **wins**: the `default` rule of plan q: "
                     "no more specific rule matched"]
