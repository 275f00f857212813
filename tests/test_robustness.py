"""No input makes the compiler raise: anything it is given comes back as diagnostics.

Hypothesis feeds `compile_sources` arbitrary text (random unicode, braces,
quotes, keywords) and mutations of the conformance `.pricing` files (delete,
insert, duplicate and swap characters and tokens); every result must render,
and a compiled plan must serialise. A few real `ratecard check` runs confirm
no traceback reaches the terminal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratecard.compiler import compile_sources
from ratecard.diagnostics import Diagnostic, render_json, render_text

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT.parent / "shared" / "conformance"
GOLDEN = ROOT / "tests" / "golden"


def _seeds() -> list[str]:
    files = sorted(CONFORMANCE.rglob("*.pricing")) if CONFORMANCE.is_dir() else []
    files += sorted(GOLDEN.rglob("*.pricing"))
    return [p.read_text(encoding="utf-8") for p in files]


SEEDS = _seeds()
TOKEN = re.compile(r'\s+|"[^"\n]*"|#[^\n]*|[A-Za-z_]\w*|\$?-?\d[\d_.]*[%KM]?|.', re.S)
WORDS = ["{", "}", '"', "'", ":", ",", "$", "%", "#", "(", ")", "=", "!=", "+", "\n", "\t", "\\",
         "meter", "plan", "contract", "test", "default", "count", "sum x", "rates", "charge M",
         "override M", "credit $1", "from 2026-01-01", "until 2025-01-01", "per 1K tokens", "free",
         "above", "up to 0", "50% off", "200% off", "-5% up", "9999-12-31", "0000-01-01", "2026-02-30",
         "2026-12-31T23:59:59+14:00", "1M USD", "12.50 JPY", "currency EUR", "rounding half_even",
         "package $1 per 0 calls", "graduated {", "volume per x {", "dimensions m in (\"a\")",
         "ends 9999-12-31", "€", "é", "\x00", "\u202e", "🙂"]


def assert_compiles_to_diagnostics(sources: list[tuple[str, str]]) -> None:
    compiled = compile_sources(sources)  # must not raise
    assert all(isinstance(d, Diagnostic) for d in compiled.diagnostics)
    render_text(compiled.diagnostics, compiled.sources)
    render_json(compiled.diagnostics)
    for d in compiled.diagnostics:
        assert d.code and d.message
        if d.span is not None:
            assert d.span.file in dict(sources)
            assert d.span.line >= 1 and d.span.col >= 1
    if compiled.plan is not None:
        compiled.plan.model_dump_json()


@st.composite
def mutated(draw) -> str:
    toks = TOKEN.findall(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not toks:
            toks = [""]
        k = draw(st.integers(0, len(toks) - 1))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "swap", "char", "cut"]))
        if op == "delete":
            del toks[k]
        elif op == "insert":
            toks.insert(k, draw(st.sampled_from(WORDS)))
        elif op == "duplicate":
            toks.insert(k, toks[k])
        elif op == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[k], toks[j] = toks[j], toks[k]
        elif op == "char":  # insert, delete or replace one character inside a token
            t = toks[k]
            i = draw(st.integers(0, len(t)))
            toks[k] = t[:i] + draw(st.sampled_from(["", draw(st.characters())])) + t[i + 1:]
        else:  # drop a run of characters across tokens
            text = "".join(toks)
            i = draw(st.integers(0, len(text)))
            toks = TOKEN.findall(text[:i] + text[i + draw(st.integers(1, 40)):])
    return "".join(toks)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.one_of(st.none(), mutated()))
def test_mutated_pricing_files_only_give_diagnostics(text, other):
    sources = [("a.pricing", text)]
    if other is not None:
        sources.append(("b.pricing", other))
    assert_compiles_to_diagnostics(sources)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_only_gives_diagnostics(text):
    assert_compiles_to_diagnostics([("a.pricing", text)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(alphabet='{}":$%#\n abc019', max_size=4)),
                max_size=40).map(" ".join))
def test_keyword_soup_only_gives_diagnostics(text):
    assert_compiles_to_diagnostics([("a.pricing", text)])


def _check(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("RATECARD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ratecard.cli", "check", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_check_never_prints_a_traceback(tmp_path):
    (tmp_path / "binary.pricing").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff{")
    (tmp_path / "noise.pricing").write_text('meter { "  }} $$$ 12.50 EUR %% \u202e 🙂 \n plan', encoding="utf-8")
    (tmp_path / "deep.pricing").write_text("meter M {" * 2000, encoding="utf-8")
    (tmp_path / "dates.pricing").write_text(
        'meter M { event "e" count }\nplan p { charge M : $1 }\n'
        'contract c { customer "x" plan p starts 2026-01-01 ends 9999-12-31 '
        'credit $1 { expires 9999-12-31T23:59:59-05:00 } }\n', encoding="utf-8")
    for name in ["binary.pricing", "noise.pricing", "deep.pricing", "dates.pricing"]:
        p = _check([name], tmp_path)
        out = p.stdout + p.stderr
        assert "Traceback" not in out and "internal error" not in out, out
        assert p.returncode == 1, out
        assert out.startswith(name) or name in out
    p = _check([str(tmp_path / "missing.pricing")], tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "no such file or directory" in p.stderr
    p = _check(["--format", "json", "noise.pricing"], tmp_path)
    assert p.returncode == 1 and p.stdout.lstrip().startswith("{") and "Traceback" not in p.stderr
