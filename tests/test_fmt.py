"""`ratecard fmt`: golden layouts, round trips over every example, and random projects.

What fmt promises, each checked here on the conformance files, the examples and
the golden inputs (and on random projects by hypothesis):

- idempotent: fmt(fmt(x)) == fmt(x);
- same meaning: the output compiles to the same rating plan;
- layout only: the tokens (as Lark lexes them) and the comments are unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark

from ratecard.cli import main
from ratecard.compiler import compile_sources
from ratecard.syntax import fmt
from ratecard.syntax import nodes as n
from ratecard.syntax import parse
from ratecard.syntax.fmt.printers import PRINTERS
from ratecard.syntax.fmt.rows import FormatBug
from ratecard.syntax.grammar import grammar_text

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "fmt"
CONFORMANCE = ROOT.parent / "shared" / "conformance"
EXAMPLES = ROOT / "examples"


def _fmt(text: str, path: str = "t.pricing") -> str:
    out, diags = fmt.format_source(text, path)
    assert out is not None, diags
    return out


# ----------------------------------------------------------------- every node has a printer


def _node_classes() -> set[type]:
    """The node types of `syntax.nodes`, Part 2's (`syntax.price_list_nodes`, which it re-exports) included."""
    modules = {n.__name__, n.__name__.rsplit(".", 1)[0] + ".price_list_nodes"}
    return {cls for cls in vars(n).values()
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ in modules}


def test_every_node_type_has_a_printer():
    missing = sorted(cls.__name__ for cls in _node_classes() - PRINTERS)
    assert not missing, f"fmt has no printer for: {', '.join(missing)}"


def _walk(node, seen: set[type]) -> None:
    if isinstance(node, tuple):
        for x in node:
            _walk(x, seen)
    elif dataclasses.is_dataclass(node):
        seen.add(type(node))
        for f in dataclasses.fields(node):
            _walk(getattr(node, f.name), seen)


def test_golden_inputs_use_every_node_type():
    """Every printer runs in the golden tests, not just exists."""
    seen: set[type] = set()
    for path in GOLDEN.glob("*.input.pricing"):
        tree, diags = parse(path.read_text(encoding="utf-8"), str(path))
        assert tree is not None, diags
        _walk(tree, seen)
    missing = sorted(cls.__name__ for cls in _node_classes() - seen)
    assert not missing, f"no golden input uses: {', '.join(missing)}"


# ----------------------------------------------------------------- golden files


GOLDEN_CASES = sorted(p.name.removesuffix(".input.pricing") for p in GOLDEN.glob("*.input.pricing"))


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden(name, update_golden):
    source = (GOLDEN / f"{name}.input.pricing").read_text(encoding="utf-8")
    expected_path = GOLDEN / f"{name}.expected.pricing"
    actual = _fmt(source, f"{name}.input.pricing")
    if update_golden:
        expected_path.write_text(actual, encoding="utf-8")
        return
    assert expected_path.exists(), f"no {expected_path.name}; run `pytest --update-golden` and review it"
    assert actual == expected_path.read_text(encoding="utf-8")


def test_golden_expected_files_are_formatted():
    for path in GOLDEN.glob("*.expected.pricing"):
        text = path.read_text(encoding="utf-8")
        assert _fmt(text) == text, path.name


# ----------------------------------------------------------------- round trips over every example


def _projects() -> list[tuple[str, list[Path]]]:
    """Each conformance case and example directory is a project; each golden input is one."""
    out = []
    for case in sorted(CONFORMANCE.glob("*/")) + sorted(EXAMPLES.glob("*/")):
        files = sorted(case.glob("*.pricing"))
        if files and all(parse(f.read_text(encoding="utf-8"), str(f))[0] for f in files):
            out.append((case.name, files))
    out += [(p.name, [p]) for p in sorted(GOLDEN.glob("*.input.pricing"))]
    return out


PROJECTS = _projects()


@functools.cache
def _lexer() -> tuple[Lark, list]:
    comments: list = []
    lark = Lark(grammar_text(), parser="lalr", lexer="contextual", keep_all_tokens=True,
                lexer_callbacks={"COMMENT": comments.append})
    return lark, comments


def _tokens(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Every token Lark's contextual lexer reads (type, text), and the comments."""
    lark, comments = _lexer()
    comments.clear()
    tokens = [(t.type, str(t)) for t in lark.parse_interactive(text).iter_parse()]
    return tokens, [str(c).rstrip() for c in comments]


def _meaning(sources: list[tuple[str, str]]):
    """What a project compiles to, compared by value (or its errors, if it has some)."""
    compiled = compile_sources(sources)
    plan = compiled.plan.without_origins() if compiled.plan is not None else None
    return plan, sorted((d.code, d.message) for d in compiled.diagnostics)


@pytest.mark.parametrize("name,files", PROJECTS, ids=[p[0] for p in PROJECTS])
def test_round_trip(name, files):
    before = [(str(f), f.read_text(encoding="utf-8")) for f in files]
    after = [(path, _fmt(text, path)) for path, text in before]
    for (path, text), (_, out) in zip(before, after):
        assert _fmt(out, path) == out, f"{path}: not idempotent"
        assert _tokens(out) == _tokens(text), f"{path}: tokens or comments changed"
    assert _meaning(after) == _meaning(before)


def test_conformance_corpus_is_found():
    assert len(PROJECTS) >= 10


# ----------------------------------------------------------------- layout decisions, inline


def test_one_line_block_is_expanded():
    assert _fmt('contract a { customer "x"  plan p  starts 2026-03-01 }') == (
        'contract a {\n  customer "x"\n  plan p\n  starts 2026-03-01\n}\n')


def test_rule_colons_align_within_a_rate_block():
    src = 'meter M { event "e" count rates { a = "x" : $1 abc = "yy" : $2 default : $3 } }'
    assert _fmt(src).splitlines()[3:7] == [
        "  rates {",
        '    a = "x"    : $1',
        '    abc = "yy" : $2',
        "    default    : $3",
    ]


def test_comments_stay_where_they_were_written():
    src = "# lead\nmeter M { # open\n  event \"e\" # trail\n  # own\n  count\n  # before close\n} # after\n# end\n"
    assert _fmt(src) == (
        "# lead\nmeter M {  # open\n  event \"e\"  # trail\n  # own\n  count\n  # before close\n}  # after\n"
        "# end\n")


def test_blank_lines_collapse_and_vanish_at_block_edges():
    src = 'meter M {\n\n  event "e"\n\n\n\n  count\n\n}\nmeter N { event "f" count }\n'
    assert _fmt(src) == 'meter M {\n  event "e"\n\n  count\n}\n\nmeter N {\n  event "f"\n  count\n}\n'


def test_keeps_the_users_spelling_of_numbers_money_and_strings():
    src = 'plan p { minimum $1_000 fee "a \\"b\\"" : 12.50   EUR charge M : $0.5 per 1K tokens }'
    out = _fmt(src)
    assert "minimum $1_000" in out and 'fee "a \\"b\\"" : 12.50 EUR' in out and "per 1K tokens" in out


def test_where_keeps_and_or_comma():
    out = _fmt('meter M { event "e" count where a = "x" and b != "y",c in ("z") }')
    assert 'where a = "x" and b != "y", c in ("z")' in out


def test_empty_and_comment_only_files():
    assert _fmt("") == ""
    assert _fmt("\n \n\t\n") == ""
    assert _fmt("# a   \n\n\n# b") == "# a\n\n# b\n"


def test_crlf_and_tabs_become_canonical():
    assert _fmt('meter M {\r\n\tevent "e"\t# x\r\n\tcount\r\n}\r\n') == 'meter M {\n  event "e"  # x\n  count\n}\n'


def test_syntax_error_gives_the_parsers_diagnostic():
    out, diags = fmt.format_source("meter M {\n  count\n", "bad.pricing")
    assert out is None and diags and diags[0].code.startswith("E1")  # a syntax error


@pytest.mark.parametrize("printed, why", [
    (None, "FormatBug: no printer for MeterBlock"),  # a printer that raises
    ('meter M {\n  event "e"\n}\n', "the output differs from the input in more than layout"),
    ("meter M {\n", "missing `}`: `meter M {` is never closed"),  # output that does not parse
])
def test_a_formatter_bug_is_E002_and_no_output(monkeypatch, printed, why):
    def bad_printer(tree, text):
        if printed is None:
            raise FormatBug("no printer for MeterBlock")
        return printed

    monkeypatch.setattr(fmt, "format_tree", bad_printer)
    out, diags = fmt.format_source('meter M { event "e" count }', "m.pricing")
    assert out is None and [d.code for d in diags] == ["E002"]
    assert diags[0].message.startswith("`ratecard fmt` cannot format m.pricing safely and left it unchanged: ")
    assert why in diags[0].message and "a bug in ratecard fmt" in diags[0].hints[0]


def test_fingerprint_ignores_layout_but_not_strings():
    assert fmt.fingerprint('a  "x y" # c\n b') == fmt.fingerprint('a "x y"\n# c\nb')
    assert fmt.fingerprint('"x y"') != fmt.fingerprint('"xy"')


# ----------------------------------------------------------------- the command


UGLY = 'meter M { event "e" count }\n'
PRETTY = 'meter M {\n  event "e"\n  count\n}\n'


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["fmt", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_rewrites_in_place(tmp_path, capsys):
    (tmp_path / "a.pricing").write_text(UGLY)
    (tmp_path / "b.pricing").write_text(PRETTY)
    code, out, _ = _run(capsys, str(tmp_path))
    assert code == 0
    assert out == f"reformatted {tmp_path / 'a.pricing'}\n"
    assert (tmp_path / "a.pricing").read_text() == PRETTY
    assert _run(capsys, str(tmp_path)) == (0, "", "")


def test_cli_check_writes_nothing(tmp_path, capsys):
    f = tmp_path / "a.pricing"
    f.write_text(UGLY)
    code, out, _ = _run(capsys, "--check", str(f))
    assert (code, out) == (1, f"would reformat {f}\n")
    assert f.read_text() == UGLY
    code, out, _ = _run(capsys, "--diff", str(f))
    assert code == 1 and "-meter M { event" in out and "+  count" in out
    assert f.read_text() == UGLY


def test_cli_leaves_a_broken_file_alone(tmp_path, capsys):
    bad, good = tmp_path / "bad.pricing", tmp_path / "good.pricing"
    bad.write_text("meter M {\n  count\n")
    good.write_text(UGLY)
    code, out, err = _run(capsys, str(bad), str(good))
    assert code == 1
    assert "error[E1" in err and "Traceback" not in err
    assert bad.read_text() == "meter M {\n  count\n"
    assert good.read_text() == PRETTY


def test_cli_stdin_and_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(UGLY))
    assert _run(capsys, "-") == (0, PRETTY, "")
    f = tmp_path / "a.pricing"
    f.write_text(UGLY)
    assert _run(capsys, "--stdout", str(f)) == (0, PRETTY, "")
    assert f.read_text() == UGLY


@pytest.mark.parametrize("argv", [
    ["nope.pricing"],
    ["-", "x.pricing"],
    ["--stdout", "--check", "a.pricing"],
])
def test_cli_usage_errors(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.pricing").write_text(UGLY)
    code, _, err = _run(capsys, *argv)
    assert code == 2 and err.startswith("ratecard fmt: ")


def test_cli_not_utf8(tmp_path, capsys):
    f = tmp_path / "a.pricing"
    f.write_bytes(b"meter \xff {}")
    code, _, err = _run(capsys, str(f))
    assert code == 1 and "not UTF-8" in err


# ----------------------------------------------------------------- random projects


_GLUE = {",", ":", "{", "}", "(", ")", "="}
_COMMENT_TEXT = st.text(alphabet="abc xyz#$\"{}", max_size=12)


@st.composite
def _separator(draw, left: str, right: str) -> str:
    """Whitespace between two tokens, sometimes none, sometimes with a comment."""
    choices = [" ", "  ", "\n", "\n\n", "\n\n\n", "\t", "\n    "]
    if left in _GLUE or right in _GLUE:
        choices.append("")
    sep = draw(st.sampled_from(choices))
    if draw(st.integers(0, 9)) == 0:
        text = draw(_COMMENT_TEXT)
        sep = draw(st.sampled_from([f" # {text}\n", f"\n# {text}\n", f"\n  # {text}\n\n"]))
    return sep


@st.composite
def _meter(draw, name: str, tiers: bool) -> list[str]:
    toks = ["meter", name, "{", "event", '"e.' + name.lower() + '"']
    toks += draw(st.sampled_from([["count"], ["sum", "tokens"], ["max", "gb"],
                                  ["sum", "a", "-", "(", "b", "*", "2", ")", "/", "3"],
                                  ["weighted", "gb", "per", "month"]]))
    if draw(st.booleans()):
        toks += ["dimensions", "model"]
        models = draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3))
        rules = [[f"model", "=", f'"{m}"', ":", f"$0.{i + 1}"] for i, m in enumerate(models)]
        if draw(st.booleans()):
            rules.append(["default", ":", "$0.01"])
        if tiers and draw(st.booleans()):
            rules.append(["customer_tier", "=", '"ent"', ":", "50%", "off"])
        if rules:
            per = draw(st.sampled_from([[], ["per", "1K", "tokens"]]))
            toks += ["rates", *per, "{", *[t for r in rules for t in r], "}"]
    return toks + ["}"]


@st.composite
def _price(draw) -> list[str]:
    return draw(st.sampled_from([
        [":", "$0.001", "per", "call"],
        [":", "$2"],
        [":", "package", "$5", "per", "1000", "calls"],
        [":", "graduated", "per", "unit", "{", "up", "to", "100", ":", "free", "above", ":", "$0.1", "}"],
        [":", "volume", "{", "up", "to", "1_000", ":", "$1", "+", "$5", "above", ":", "$0.5", "}"],
        ["{", "default", ":", "$3", "}"],
        [":", "pooled", "graduated", "per", "GB", "-", "month", "{", "up", "to", "10", ":", "$1", "above", ":",
         "$0.5", "}"],
    ]))


@st.composite
def _project(draw) -> str:
    names = draw(st.lists(st.sampled_from(["API", "TOKENS", "STORAGE"]), min_size=1, max_size=3, unique=True))
    toks: list[str] = ["currency", "USD"] if draw(st.booleans()) else []
    tiers = draw(st.booleans())  # contracts set `customer_tier`, so rate cards may test it
    for name in names:
        toks += draw(_meter(name, tiers))
    toks += ["plan", "pro", "{", "billing", "monthly", *draw(st.sampled_from([[], ["on", "day", "1"]])),
             "payment", "net", "30"]
    if draw(st.booleans()):
        toks += ["fee", '"Platform"', ":", "$500", "per", "month", *draw(st.sampled_from([[], ["in", "advance"]]))]
    toks += draw(st.sampled_from([[], ["cap", "$100"], ["allowance", "$5", "per", "month", "{", "applies", "to",
                                                       names[0], "}"]]))
    for name in names:
        toks += ["charge", name, *draw(_price())]
    toks += ["}"]
    for i in range(draw(st.integers(1 if tiers else 0, 2))):
        toks += ["contract", f"c{i}", "{", "customer", f'"cust_{i}"', "plan", "pro", "starts", "2026-01-01"]
        if tiers:
            toks += ["dimensions", "customer_tier", "=", '"ent"']
        if draw(st.booleans()):
            toks += ["override", names[0], ":", "10%", "off"]
        if draw(st.booleans()):
            toks += ["credit", "$100", "{", "expires", "2026-12-31",
                     *draw(st.sampled_from([[], ["priority", "2"], ["applies", "to", "fees"]])), "}"]
        toks += draw(st.sampled_from([[], ["discount", "10%", "once"], ["discount", "$5", "{", "applies", "to",
                                                                         names[0], "for", "2", "periods", "}"]]))
        toks += ["}"]
    out = [toks[0]]
    for left, right in zip(toks, toks[1:]):
        out.append(draw(_separator(left, right)))
        out.append(right)
    return draw(st.sampled_from(["", "\n", "# head\n"])) + "".join(out) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_project())
def test_random_projects_format_idempotently_to_the_same_plan(text):
    out = _fmt(text)
    assert _fmt(out) == out
    assert _tokens(out) == _tokens(text)
    assert _meaning([("t.pricing", out)]) == _meaning([("t.pricing", text)])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_project())
def test_a_byte_order_mark_is_dropped_and_the_plan_stays(text):
    """A file saved with a BOM (Windows editors) formats to the same text as without one,
    and that output re-parses to the same plan."""
    out = _fmt("\ufeff" + text)
    assert out == _fmt(text) and not out.startswith("\ufeff")
    assert _meaning([("t.pricing", out)]) == _meaning([("t.pricing", "\ufeff" + text)])
