"""Dimension values that cannot be shown as they are (docs/invoices.md, "Values that
cannot be shown"): `report.visible` escapes them, every view shows them escaped, the JSON
keeps them exact, and printable values are unchanged."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratecard.report.visible import dimensions_text, visible
from billing_helpers import TOKENS_PROJECT
from render_helpers import run_cli

# ----------------------------------------------------------------- the function

PRINTABLE = ["sonnet", "", "gpt-4o mini", "café", "Ünïcödé", "中文モデル", "😀", "مرحبا", "שלום",
             "👨\u200d👩\u200d👧",  # a ZWJ sequence
             "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # a tag sequence (Scotland)
             "क्\u200dष",  # a joiner inside an Indic word
             "C:\\data", "a\\b\\", "\\", "x\\n", "<td>&amp;</td>", "a | b *c*"]


@pytest.mark.parametrize("value", PRINTABLE)
def test_a_value_that_shows_is_unchanged(value):
    assert visible(value) == value


@pytest.mark.parametrize("value, shown", [
    ("gpt\x00x", "gpt\\u0000x"),
    ("evil\u202e0.01$", "evil\\u202e0.01$"),
    ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
    ("tab\there", "tab\\u0009here"),
    ("line\nbreak\r", "line\\u000abreak\\u000d"),
    ("\x1b[31mred", "\\u001b[31mred"),
    ("del\x7f c1\x85\x9f", "del\\u007f c1\\u0085\\u009f"),
    ("a\u2028b\u2029", "a\\u2028b\\u2029"),
    ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
    ("lone \ud800", "lone \\ud800"),
    ("tag \U000e0001", "tag \\U000e0001"),
    # a space other than the space prints as one: `us east` is another value, billed apart
    ("us\u00a0east", "us\\u00a0east"),
    ("narrow\u202fno-break\u3000ideographic", "narrow\\u202fno-break\\u3000ideographic"),
    # a backslash is doubled once anything is escaped, or where it would read as an escape
    ("\\u0000", "\\\\u0000"),
    ("\\U000e0001", "\\\\U000e0001"),
    ("C:\\data\x00", "C:\\\\data\\u0000"),
    ("\\\x00", "\\\\\\u0000"),
])
def test_a_value_that_does_not_show_is_escaped(value, shown):
    assert visible(value) == shown


def _read_back(shown: str) -> str:
    """What a reader takes `visible`'s text for: as it is, unless it holds an escape."""
    if not re.search(r"\\[uU]", shown):
        return shown
    return re.sub(r"\\(\\|u[0-9a-f]{4}|U[0-9a-f]{8})",
                  lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), shown)


@given(st.text(alphabet=st.characters(), max_size=30))
def test_the_shown_text_reads_back_to_one_value(value):
    shown = visible(value)
    assert _read_back(shown) == value
    assert all(_shows(c) for c in shown)


_HIDDEN_CATEGORIES = {"Cc", "Cs", "Cf", "Zl", "Zp"}
_KEPT = {0x200C, 0x200D, *range(0xE0020, 0xE0080)}


def _shows(char: str) -> bool:
    category = unicodedata.category(char)
    if category == "Zs":  # a space separator shows as the space: only the space itself is kept
        return char == " "
    return category not in _HIDDEN_CATEGORIES or ord(char) in _KEPT


@pytest.mark.skipif(sys.maxunicode < 0x10FFFF, reason="narrow build")
def test_what_is_escaped_is_what_unicode_says_does_not_show():
    """The escaped class is written out (building it at import would walk every code point
    on each run): checked here against this Python's Unicode database. Escaped: Cc, Cs, Cf,
    Zl, Zp but the joiners and the tag characters, and Zs but the space; nothing else but unassigned code points
    (the class covers U+13439-U+1343F, format controls from Unicode 15 on)."""
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        escaped = visible(char) != char
        category = unicodedata.category(char)
        if not _shows(char):
            assert escaped, f"U+{code:04X} ({category}) is shown raw"
        elif escaped:
            assert category == "Cn", f"U+{code:04X} ({category}) is escaped"


def test_dimensions_text_escapes_each_value():
    assert dimensions_text([("model", "a\x00"), ("region", "eu")]) == "model: a\\u0000, region: eu"
    assert dimensions_text([("model", "a\u202e")], quoted=True) == 'model = "a\\u202e"'
    assert dimensions_text([]) == ""


# ----------------------------------------------------------------- every view

PROJECT = TOKENS_PROJECT.replace("  starts 2026-01-01\n", """  starts 2026-01-01
  discount 10% {
    description "Launch discount"
  }
""")

NUL, BIDI, EMOJI, PLAIN = "gpt\x00x", "evil\u202e0.01$", "café 中文 😀", "sonnet"
HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _project(folder: Path, pricing: str = PROJECT) -> Path:
    (folder / "p.pricing").write_text(pricing, encoding="utf-8")
    events = [{"id": f"e{i}", "type": "llm.completion", "customer": "cus_pixel",
               "time": "2026-01-05T00:00:00Z", "properties": {"model": model, "tokens": 1000 * (i + 1)}}
              for i, model in enumerate((NUL, BIDI, EMOJI, PLAIN))]
    (folder / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return folder


def _invoice(folder: Path, fmt: str, monkeypatch, capsys) -> str:
    code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--format", fmt], folder, monkeypatch, capsys)
    assert code == 0, err
    return out


@pytest.mark.parametrize("fmt, nul, bidi", [
    ("text", "model: gpt\\u0000x", "model: evil\\u202e0.01$"),
    # Markdown escapes the backslash once more: the page reads `gpt\u0000x`
    ("markdown", "model: gpt\\\\u0000x", "model: evil\\\\u202e0.01$"),
    ("html", '<td class="label">model: gpt\\u0000x</td>', '<td class="label">model: evil\\u202e0.01$</td>'),
])
def test_invoices_show_a_hidden_character_escaped(fmt, nul, bidi, tmp_path, monkeypatch, capsys):
    out = _invoice(_project(tmp_path), fmt, monkeypatch, capsys)
    assert not HIDDEN.search(out), repr(HIDDEN.search(out))
    assert nul in out and bidi in out
    assert f"model: {EMOJI}" in out and f"model: {PLAIN}" in out  # printable values unchanged


def test_text_columns_count_the_escaped_text(tmp_path, monkeypatch, capsys):
    out = _invoice(_project(tmp_path), "text", monkeypatch, capsys)
    rows = {model: next(r for r in out.splitlines() if f"model: {model}" in r)
            for model in ("gpt\\u0000x", "evil\\u202e0.01$", PLAIN)}
    assert {len(r) for r in rows.values()} == {100}
    assert {r.index("1K tokens") for r in rows.values()} == {rows[PLAIN].index("1K tokens")}


def test_the_json_keeps_the_value_exact(tmp_path, monkeypatch, capsys):
    run = json.loads(_invoice(_project(tmp_path), "json", monkeypatch, capsys))
    models = {ln["dimensions"]["model"] for inv in run["invoices"] for ln in inv["lines"]
              if ln["kind"] == "usage"}
    assert models == {NUL, BIDI, EMOJI, PLAIN}


def test_explain_shows_a_hidden_character_escaped(tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(["explain", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--contract", "pixel"], _project(tmp_path), monkeypatch, capsys)
    assert code == 0, err
    assert not HIDDEN.search(out), repr(HIDDEN.search(out))
    assert 'TOKENS (Tokens), model = "gpt\\u0000x"' in out and 'TOKENS (Tokens), model = "evil\\u202e0.01$"' in out
    assert 'of usage TOKENS [model = "gpt\\u0000x"]' in out  # the discount's allocation notes
    assert f'model = "{EMOJI}"' in out


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_diff_shows_a_hidden_character_escaped(fmt, tmp_path, monkeypatch, capsys):
    project = _project(tmp_path)
    (project / "old").mkdir()
    (project / "new").mkdir()
    (project / "old" / "p.pricing").write_text(PROJECT, encoding="utf-8")
    (project / "new" / "p.pricing").write_text(PROJECT.replace("$1.00 per", "$2.00 per"), encoding="utf-8")
    code, out, err = run_cli(["diff", "old", "new", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--format", fmt], project, monkeypatch, capsys)
    assert code == 0, err
    assert not HIDDEN.search(out), repr(HIDDEN.search(out))
    assert 'TOKENS model = "gpt\\u0000x"' in out and 'TOKENS model = "evil\\u202e0.01$"' in out
    assert f'TOKENS model = "{EMOJI}"' in out


def test_diff_markdown_shows_a_value_with_backticks_and_spaces_exactly(tmp_path, monkeypatch, capsys):
    """The line column is a code span: one fenced with more backticks than the value holds,
    so "a`b" (and a run of spaces) reads as billed, not as a span cut short."""
    project = tmp_path
    (project / "p.pricing").write_text(PROJECT, encoding="utf-8")
    events = [{"id": f"e{i}", "type": "llm.completion", "customer": "cus_pixel", "time": "2026-01-05T00:00:00Z",
               "properties": {"model": model, "tokens": 1000}} for i, model in enumerate(("a`b", "us  east"))]
    (project / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    for side, price in (("old", "$1.00 per"), ("new", "$2.00 per")):
        (project / side).mkdir()
        (project / side / "p.pricing").write_text(PROJECT.replace("$1.00 per", price), encoding="utf-8")
    code, out, err = run_cli(["diff", "old", "new", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--format", "markdown"], project, monkeypatch, capsys)
    assert code == 0, err
    assert '| ``TOKENS model = "a`b"`` |' in out and '| `TOKENS model = "us  east"` |' in out


def test_ledger_documents_show_a_hidden_character_escaped(tmp_path, monkeypatch, capsys):
    """An issued invoice and the adjustment line late events make, shown from the ledger."""
    project = _project(tmp_path)
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    args = ["issue", "p.pricing", "--usage", "u.jsonl", "--ledger", ledger]
    code, _, err = run_cli([*args, "--through", "2026-02-03"], project, monkeypatch, capsys)
    assert code == 0, err
    late = {"id": "late", "type": "llm.completion", "customer": "cus_pixel", "time": "2026-01-25T00:00:00Z",
            "properties": {"model": BIDI, "tokens": 500}}
    with (project / "u.jsonl").open("a", encoding="utf-8") as usage:
        usage.write(json.dumps(late) + "\n")
    code, _, err = run_cli([*args, "--through", "2026-03-03"], project, monkeypatch, capsys)
    assert code == 0, err
    for number, shown in (("INV-000001", "model: gpt\\u0000x"), ("INV-000002", "· model: evil\\u202e0.01$")):
        for fmt in ("text", "html"):
            code, out, err = run_cli(["ledger", "show", number, "--ledger", ledger, "--format", fmt],
                                     project, monkeypatch, capsys)
            assert code == 0, err
            assert not HIDDEN.search(out), repr(HIDDEN.search(out))
            assert shown in out
    code, out, err = run_cli(["ledger", "show", "INV-000002", "--ledger", ledger, "--format", "json"],
                             project, monkeypatch, capsys)
    assert json.loads(out)["corrections"][0]["dimensions"] == {"model": BIDI}


@pytest.mark.parametrize("fmt, shown, other", [
    ("text", "  model: us  east  ", "  model: us east  "),
    # Markdown drops a run of spaces from what it shows: a code span keeps it
    ("markdown", "| &emsp;`model: us  east` |", "| &emsp;model: us east |"),
    # HTML holds it; the label cell's `white-space: pre-wrap` has a browser draw it
    # (tests/test_html_browser.py reads what Chromium draws)
    ("html", '<td class="label">model: us  east</td>', '<td class="label">model: us east</td>'),
])
def test_a_run_of_spaces_is_shown_as_billed(fmt, shown, other, tmp_path, monkeypatch, capsys):
    """`us  east` and `us east` are two lines billed apart: each view shows each as it is
    (they read as one value before: text and Markdown collapsed the run)."""
    (tmp_path / "p.pricing").write_text(PROJECT, encoding="utf-8")
    events = [{"id": f"e{i}", "type": "llm.completion", "customer": "cus_pixel", "time": "2026-01-05T00:00:00Z",
               "properties": {"model": model, "tokens": 1000 * (i + 1)}}
              for i, model in enumerate(("us  east", "us east"))]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    out = _invoice(tmp_path, fmt, monkeypatch, capsys)
    assert shown in out and other in out
    run = json.loads(_invoice(tmp_path, "json", monkeypatch, capsys))
    assert sorted(ln["dimensions"]["model"] for ln in run["invoices"][0]["lines"]
                  if ln["kind"] == "usage") == ["us  east", "us east"]


# names and descriptions from a contracts JSON file

CONTRACT, CUSTOMER, GIFT, LAUNCH = "evil\u202e01", "cus\x1b[31mred", "gift\x00\u202ecard", "launch\x1b[2J"
SHOWN = ("evil\\u202e01", "cus\\u001b[31mred", "gift\\u0000\\u202ecard", "launch\\u001b[2J")


def _json_contract(folder: Path) -> Path:
    """A contract whose id, customer, credit and discount descriptions hold a bidi
    override, an escape sequence and a NUL (`--contracts FILE.json` takes any text)."""
    (folder / "p.pricing").write_text(TOKENS_PROJECT.split("contract pixel")[0], encoding="utf-8")
    contract = {"contractId": CONTRACT, "planId": "api", "customerId": CUSTOMER,
                "startsAt": "2026-01-01T00:00:00Z", "creditGrantCents": 500,
                "creditSettings": {"description": GIFT}, "discounts": [{"percent": 10, "description": LAUNCH}]}
    (folder / "c.json").write_text(json.dumps([contract]), encoding="utf-8")
    events = [{"id": f"e{i}", "type": "llm.completion", "customer": CUSTOMER, "time": "2026-01-05T00:00:00Z",
               "properties": {"model": "m", "tokens": 1000}} for i in range(2)]
    (folder / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return folder


def _shown_escaped(out: str, *shown: str, markdown: bool = False) -> None:
    assert not HIDDEN.search(out), repr(HIDDEN.search(out))
    if markdown:  # what the page reads: Markdown escapes a backslash and `[` once more
        out = re.sub(r"\\([\\\[])", r"\1", out)
    for text in shown:
        assert text in out, text


ARGS = ["p.pricing", "--contracts", "c.json", "--usage", "u.jsonl", "--through", "2026-02-01"]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_names_and_descriptions_from_json_contracts_are_shown_escaped(fmt, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(["invoice", *ARGS, "--format", fmt], _json_contract(tmp_path), monkeypatch, capsys)
    assert code == 0, err
    _shown_escaped(out, *SHOWN, markdown=fmt == "markdown")
    code, out, err = run_cli(["invoice", *ARGS, "--format", "json"], tmp_path, monkeypatch, capsys)
    inv = json.loads(out)["invoices"][0]  # the JSON keeps every text exact
    assert (inv["contract"], inv["customer"]) == (CONTRACT, CUSTOMER)
    assert {ln["description"] for ln in inv["lines"]} >= {LAUNCH} and inv["credits"][0]["description"] == GIFT


def test_explain_credits_and_diff_show_json_contract_names_escaped(tmp_path, monkeypatch, capsys):
    folder = _json_contract(tmp_path)
    code, out, err = run_cli(["explain", *ARGS, "--contract", CONTRACT], folder, monkeypatch, capsys)
    assert code == 0, err
    _shown_escaped(out, *SHOWN)
    code, out, err = run_cli(["credits", *ARGS], folder, monkeypatch, capsys)
    assert code == 0, err
    _shown_escaped(out, SHOWN[0], SHOWN[1], SHOWN[2])
    for side, price in (("old", "$1.00"), ("new", "$2.00")):
        (folder / side).mkdir()
        (folder / side / "p.pricing").write_text(
            (folder / "p.pricing").read_text(encoding="utf-8").replace("$1.00", price), encoding="utf-8")
    for fmt in ("text", "markdown"):
        code, out, err = run_cli(["diff", "old", "new", *ARGS[1:], "--format", fmt], folder, monkeypatch, capsys)
        assert code == 0, err
        _shown_escaped(out, SHOWN[0], SHOWN[3], markdown=fmt == "markdown")
    code, out, err = run_cli(["diff", "old", "new", *ARGS[1:], "--format", "json"], folder, monkeypatch, capsys)
    assert {c["contract"] for c in json.loads(out)["contracts"]} == {CONTRACT}


def test_ledger_documents_show_json_contract_names_escaped(tmp_path, monkeypatch, capsys):
    folder = _json_contract(tmp_path)
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    code, out, err = run_cli(["issue", *ARGS[:-1], "2026-02-03", "--ledger", ledger], folder, monkeypatch, capsys)
    assert code == 0, err
    _shown_escaped(out, SHOWN[0])
    code, out, err = run_cli(["ledger", "void", "INV-000001", "--reason", "sent\x1b[2J", "--date", "2026-02-04",
                              "--ledger", ledger], folder, monkeypatch, capsys)
    assert code == 0, err
    for args in (["list"], ["show", "INV-000001"], ["show", "INV-000001", "--format", "html"],
                 ["show", "CN-000001"], ["show", "CN-000001", "--format", "markdown"]):
        code, out, err = run_cli(["ledger", *args, "--ledger", ledger], folder, monkeypatch, capsys)
        assert code == 0, err
        _shown_escaped(out, SHOWN[0], *(SHOWN[1:] if args[1:2] == ["INV-000001"] else ()),
                       markdown="markdown" in args)
    assert "void: sent\\\\u001b\\[2J" in out  # Markdown: the page reads `void: sent\u001b[2J`
    code, out, err = run_cli(["ledger", "show", "INV-000001", "--format", "json", "--ledger", ledger],
                             folder, monkeypatch, capsys)
    assert (json.loads(out)["contract"], json.loads(out)["customer"]) == (CONTRACT, CUSTOMER)


# ----------------------------------------------------------------- diagnostics


def test_a_diagnostic_quoting_a_usage_row_shows_it_escaped(tmp_path, monkeypatch, capsys):
    """A bad row is named with its text on the terminal: a control sequence or a bidi
    override it holds is shown escaped there, and kept exact in `--format json`."""
    _project(tmp_path)
    bad = {"id": "b1", "type": "llm.completion", "customer": "cus_pixel", "time": "2026-01-05\x1b[2J\u202e",
           "properties": {"model": "x", "tokens": 5}}
    with (tmp_path / "u.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(bad, ensure_ascii=False) + "\n")
    code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01"],
                             tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "u.jsonl:5" in err and "\\u001b[2J\\u202e" in err
    assert not HIDDEN.search(err), repr(HIDDEN.search(err))
    code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--format", "json"], tmp_path, monkeypatch, capsys)
    assert code == 1
    messages = " ".join(d["message"] for d in json.loads(err or out)["diagnostics"])
    assert "\x1b[2J\u202e" in messages
