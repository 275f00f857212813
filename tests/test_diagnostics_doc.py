"""docs/diagnostics.md stays true: every code is documented, every example prints what it shows.

Each ```pricing block followed by a ```text block is an input and the exact
output of `ratecard check pro.pricing` for it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ratecard.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "diagnostics.md"
EXAMPLE = re.compile(r"```pricing\n(.*?)```\n\n```text\n(.*?)```", re.S)


def _examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall(DOC.read_text(encoding="utf-8"))


def _code(output: str) -> str:
    """The code an example is about: its (first) error, else its first warning."""
    found = re.search(r"error\[(E\d{3})\]", output) or re.search(r"warning\[(W\d{3})\]", output)
    return found.group(1)


def test_every_code_in_the_source_is_documented():
    codes = {c for p in (ROOT / "src" / "ratecard").rglob("*.py")
             for c in re.findall(r'"([EW]\d{3})"', p.read_text(encoding="utf-8"))}
    doc = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"(?m)^### ([EW]\d{3})\b|^\| ([EW]\d{3}) \|", doc))
    documented = {a or b for a, b in documented}
    assert codes - documented == set(), "document each code in docs/diagnostics.md"


@pytest.mark.parametrize("text, expected", _examples(),
                         ids=[_code(out) for _, out in _examples()])
def test_documented_example_output(text, expected, tmp_path, monkeypatch, capsys):
    (tmp_path / "pro.pricing").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(["check", "pro.pricing"])
    out, err = capsys.readouterr()
    assert out + err == expected
    assert code == (1 if "error[" in expected else 0)


def test_there_is_an_example_per_compile_time_code():
    shown = {_code(out) for _, out in _examples()}
    expected = {f"E{n}" for n in range(100, 107)} | {f"E{n}" for n in range(200, 209)} \
        | {f"E{n}" for n in range(300, 311)} | {f"E{n}" for n in range(400, 404)} \
        | {f"W00{n}" for n in range(1, 6)}
    assert expected - shown == set()
