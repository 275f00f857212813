"""The shipped templates' exact bytes on the examples: text, Markdown and HTML invoices
(also one file per invoice with `-o`, and another locale), `explain` and `diff`.

    examples/NAME  ->  tests/golden/views/NAME.{txt,md,html,de.txt,explain.txt,...}

The rendering path is tuned for speed (issue 17: laid-out rows computed once in
Python, fewer template calls); these files were written by the code before that
work, so any byte the speed-ups move fails here. `pytest --update-golden`
rewrites them; review the diff before committing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from golden_check import assert_golden
from ratecard.cli import main

ROOT = Path(__file__).resolve().parent.parent
# example -> (through, the contract `explain` shows)
EXAMPLES = {
    "ai-api": ("2026-04-01", "initrode"),
    "effective-dates": ("2026-06-01", "acme"),
    "enterprise": ("2026-04-01", "globex"),
    "llm-api": ("2026-03-01", "northwind"),
    "object-storage": ("2026-04-01", "globex"),
    "pricing-tests": ("2026-04-01", "acme"),
    "saas-platform": ("2026-04-01", "lumen"),
    "storage": ("2026-04-01", "bergwerk"),
}


def _run(args: list[str], monkeypatch, capsys) -> str:
    monkeypatch.chdir(ROOT)  # paths in the output are relative to the checkout
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in out + err
    return out


def _common(name: str) -> list[str]:
    through, _ = EXAMPLES[name]
    return [f"examples/{name}", "--usage", f"examples/{name}/usage.jsonl", "--through", through]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("fmt,ext", [("text", "txt"), ("markdown", "md"), ("html", "html")])
def test_invoice_documents(name, fmt, ext, monkeypatch, capsys, update_golden):
    out = _run(["invoice", *_common(name), "--format", fmt], monkeypatch, capsys)
    assert out.strip()
    assert_golden(f"views/{name}.{ext}", out, update_golden)


@pytest.mark.parametrize("name", ["ai-api", "enterprise", "storage"])
def test_invoice_text_in_another_locale(name, monkeypatch, capsys, update_golden):
    out = _run(["invoice", *_common(name), "--format", "text", "--locale", "de_DE", "--issuer",
                "Ratecard GmbH, a long issuer name that has to wrap in the header block of the text layout"],
               monkeypatch, capsys)
    assert_golden(f"views/{name}.de.txt", out, update_golden)


@pytest.mark.parametrize("name,fmt,ext", [("ai-api", "html", "html"), ("enterprise", "text", "txt"),
                                          ("object-storage", "markdown", "md")])
def test_invoice_files(name, fmt, ext, tmp_path, monkeypatch, capsys, update_golden):
    """`-o DIR`: one document per invoice; the files, in name order, joined."""
    out_dir = tmp_path / "out"
    _run(["invoice", *_common(name), "--format", fmt, "-o", str(out_dir)], monkeypatch, capsys)
    files = sorted(out_dir.iterdir())
    assert files
    joined = "".join(f"--- {f.name}\n{f.read_text(encoding='utf-8')}" for f in files)
    assert_golden(f"views/{name}.files.{ext}", joined, update_golden)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_explain(name, monkeypatch, capsys, update_golden):
    _, contract = EXAMPLES[name]
    out = _run(["explain", *_common(name), "--contract", contract], monkeypatch, capsys)
    assert f"contract {contract} " in out
    assert_golden(f"views/{name}.explain.txt", out, update_golden)


@pytest.mark.parametrize("name", ["ai-api", "enterprise", "storage"])
@pytest.mark.parametrize("fmt,ext", [("text", "txt"), ("markdown", "md")])
def test_diff(name, fmt, ext, tmp_path, monkeypatch, capsys, update_golden):
    """The example against a copy with every price below 1 given one more digit
    (`$0.50` -> `$0.501`): many lines move."""
    through, _ = EXAMPLES[name]
    new = tmp_path / "new"
    new.mkdir()
    changed = 0
    for source in sorted((ROOT / "examples" / name).glob("*.pricing")):
        text = source.read_text(encoding="utf-8")
        text, n = re.subn(r"(: \$?)0\.(\d+)", r"\g<1>0.\g<2>1", text)
        changed += n
        (new / source.name).write_text(text, encoding="utf-8")
    assert changed
    out = _run(["diff", f"examples/{name}", str(new), "--usage", f"examples/{name}/usage.jsonl",
                "--through", through, "--format", fmt], monkeypatch, capsys)
    out = out.replace(str(new), "NEW")
    assert_golden(f"views/{name}.diff.{ext}", out, update_golden)
