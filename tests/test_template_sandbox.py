"""`--template-dir` templates run in Jinja's sandbox with bounded rendering
(`ratecard.report.sandbox`, docs/invoices.md "The template sandbox").

Before: a user template could run shell commands and read any file through
`lipsum.__globals__`, and `{% for i in range(10**12) %}` never finished. Now
each is diagnostic E704 naming the template and line, exit 1, no file
written; and the shipped templates render byte for byte as before, also when
they run in the sandbox (as the fallback of a template directory).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ratecard.report.sandbox as sandbox
from ratecard.report.render import environment

from golden_check import assert_golden
from render_helpers import (
    CASES,
    FORMATS,
    case_args,
    needs_conformance,
    normalise_html,
    reference_engine,  # noqa: F401 - a fixture
    run_cli,
)

pytestmark = pytest.mark.usefixtures("reference_engine")

ROOT = Path(__file__).resolve().parents[1]
LEAD = "{{ invoices | length }} invoices\nline two\n"  # the attack is on line 3


@pytest.fixture(autouse=True)
def fresh_environments():
    environment.cache_clear()  # the environments are cached per template directory
    yield
    environment.cache_clear()


def _render_with(body: str, tmp_path: Path, monkeypatch, capsys, *, fmt: str = "text",
                 extra: list[str] = ()) -> tuple[int, str, str]:
    case = CASES[0]
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    (templates / f"invoice.{FORMATS[fmt]}.j2").write_text(body, encoding="utf-8")
    return run_cli(case_args(case, fmt=fmt) + ["--template-dir", str(templates), *extra], case, monkeypatch,
                   capsys)


ESCAPES = {
    "read a file": "{{ lipsum.__globals__['os'].popen('cat /etc/passwd').read() }}",
    "run a command": "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
    "walk the classes": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "a function's globals": "{{ joiner.__init__.__globals__ }}",
    "change the view model": "{{ invoices.append(1) }}{{ invoices[0].lines.clear() }}",
    "format escape": "{{ '{0.__class__}'.format(1) }}",
}


@needs_conformance
@pytest.mark.parametrize("attack", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_template_cannot_escape_the_sandbox(attack, tmp_path, monkeypatch, capsys):
    pwned = tmp_path / "pwned"
    for extra in ([], ["-o", str(tmp_path / "out")]):
        code, out, err = _render_with(LEAD + attack.replace("PWNED", str(pwned)) + "\n", tmp_path, monkeypatch,
                                      capsys, extra=extra)
        assert code == 1, err
        assert "error[E704]: template " in err and "invoice.txt.j2:3: " in err and "unsafe" in err, err
        assert out == "" and "Traceback" not in err and "root:" not in err
        assert not (tmp_path / "out").exists()
    assert not pwned.exists()


BOUNDS = {
    "a huge range": ("{% for i in range(10**12) %}x{% endfor %}", "the number 1000000000000 is too large"),
    "a long range": ("{% for i in range(100001) %}{% endfor %}", "range() of 100,001 numbers (at most 100,000)"),
    "nested loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                     "steps (loop iterations, range numbers, and 10 per call) for one document"),
    "nested loops over a string": ("{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}"
                                   "{% endfor %}", "steps (loop iterations"),
    "macro recursion": ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
                        "{{ f(60) }}", "steps (loop iterations"),
    "a huge string": ("{{ 'x' * 10**9 }}", "a value of 1,000,000,000 characters or items"),
    "a huge power": ("{{ 10 ** 100000 }}", "10 ** 100000 is too large for a template"),
    "doubling": ("{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                 "{% endfor %}", "a value of 134,217,728 characters"),
    "doubling with +": ("{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
                        "{% endfor %}", "a value of 134,217,728 characters or items"),
    "a wide printf field": ("{{ '%0999999999d' % 1 }}", "a field wider than 10,000,000 characters"),
    "a wide format field": ("{{ '{:>999999999}'.format(1) }}", "a field wider than 10,000,000 characters"),
    "a wide filter": ("{{ 'x' | center(10**9) }}", "the number 1000000000 is too large"),
    "a wide method": ("{{ 'x'.ljust(10**9) }}", "the number 1000000000 is too large"),
    "many slices": ("{{ [1] | slice(10**9) | list }}", "the number 1000000000 is too large"),
    "lipsum": ("{{ lipsum(10**9) }}", "the number 1000000000 is too large"),
}


@needs_conformance
@pytest.mark.parametrize("body, message", BOUNDS.values(), ids=BOUNDS.keys())
def test_rendering_is_bounded(body, message, tmp_path, monkeypatch, capsys):
    """Each would hang or take the machine's memory without the sandbox's bounds.
    (The step budget is made smaller so that the test is quick; the subprocess test
    below runs with the real one.)"""
    monkeypatch.setattr(sandbox, "MAX_STEPS", 2_000_000)
    code, out, err = _render_with(LEAD + body + "\n", tmp_path, monkeypatch, capsys)
    assert code == 1, err
    assert "error[E704]: template " in err and "invoice.txt.j2:3: " in err, err
    assert message in err, err
    assert out == "" and "Traceback" not in err


@needs_conformance
def test_output_is_bounded(tmp_path, monkeypatch, capsys):
    """Printed text counts, what a `{% set %}` block captures included."""
    monkeypatch.setattr(sandbox, "MAX_OUTPUT", 50_000)
    monkeypatch.setattr(sandbox, "OUTPUT_PER_ITEM", 10)
    body = "{% set block %}{% for i in range(10000) %}template text{% endfor %}{% endset %}ok\n"
    code, out, err = _render_with(LEAD + body, tmp_path, monkeypatch, capsys)
    assert code == 1 and "error[E704]" in err and "characters for one document" in err, err
    code, out, err = _render_with(LEAD + "{% for i in range(100000) %}{{ i }}{% endfor %}\n", tmp_path,
                                  monkeypatch, capsys)
    assert code == 1 and "characters for one document" in err, err


@needs_conformance
def test_a_template_symlinked_out_of_the_directory_is_not_read(tmp_path, monkeypatch, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("the database password\n", encoding="utf-8")
    templates = tmp_path / "templates"
    templates.mkdir()
    os.symlink(secret, templates / "invoice.txt.j2")
    os.symlink(secret, templates / "included.j2")
    case = CASES[0]
    code, out, err = run_cli(case_args(case, fmt="text") + ["--template-dir", str(templates)], case, monkeypatch,
                             capsys)
    assert code == 1 and "error[E704]" in err and "leads out of the template directory" in err, err
    assert "password" not in out + err
    (templates / "invoice.txt.j2").unlink()
    (templates / "invoice.txt.j2").write_text("{% include 'included.j2' %}\n", encoding="utf-8")
    code, out, err = run_cli(case_args(case, fmt="text") + ["--template-dir", str(templates)], case, monkeypatch,
                             capsys)
    assert code == 1 and "error[E704]: template " in err and "invoice.txt.j2:1" in err, err
    assert "password" not in out + err


@needs_conformance
def test_ordinary_user_templates_still_work(tmp_path, monkeypatch, capsys):
    body = ("{% set ns = namespace(n=0) %}{% for inv in invoices %}{% set ns.n = ns.n + 1 %}"
            "{{ '%-20s' | format(inv.number) }}{{ '{:>12}'.format(inv.total) }}"
            "{{ ' (' ~ inv.lines | length ~ ' lines)' }}\n{% endfor %}{{ ns.n }} invoices\n"
            "{% for i in range(3) %}{{ loop.index }}{% endfor %} {{ 'ab' * 3 }} {{ 2 ** 10 }}\n")
    code, out, err = _render_with(body, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert out.splitlines()[-1] == "123 ababab 1024"
    assert out.splitlines()[-2].endswith(" invoices")


@needs_conformance
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_shipped_templates_render_the_same_in_the_sandbox(case, fmt, tmp_path, monkeypatch, capsys):
    """A template directory without the format's template falls back on the shipped
    one, which then runs in the sandbox: byte for byte the golden file."""
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run_cli(case_args(case, fmt=fmt) + ["--template-dir", str(empty)], case, monkeypatch, capsys)
    assert code == 0, err
    if fmt == "html":
        plain = run_cli(case_args(case, fmt=fmt), case, monkeypatch, capsys)[1]
        assert out == plain
    assert_golden(f"render/{case.name}.{FORMATS[fmt]}", out, update=False,
                  normalise=normalise_html if fmt == "html" else None)


@needs_conformance
@pytest.mark.parametrize("command", ["credits", "explain"])
def test_other_shipped_templates_render_the_same_in_the_sandbox(command, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for case in CASES:
        args = case_args(case, command)
        if command == "explain":
            args += ["--contract", _first_contract(case, monkeypatch, capsys)]
        plain = run_cli(args, case, monkeypatch, capsys)
        sandboxed = run_cli(args + ["--template-dir", str(empty)], case, monkeypatch, capsys)
        assert sandboxed == plain and plain[0] == 0, case.name


def _first_contract(case, monkeypatch, capsys) -> str:
    import json

    out = run_cli(case_args(case), case, monkeypatch, capsys)[1]
    return json.loads(out)["invoices"][0]["contract"]


@pytest.mark.slow
def test_the_real_bounds_end_a_runaway_template(tmp_path):
    """With the budget as shipped, nested loops of 10^10 iterations stop (E704)
    after 10 million steps instead of running for hours."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "invoice.txt.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n", encoding="utf-8")
    example = ROOT / "examples" / "ai-api"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.run([sys.executable, "-m", "ratecard.cli", "invoice", str(example), "--usage",
                        str(example / "usage.jsonl"), "--through", "2026-04-01", "--format", "text",
                        "--template-dir", str(templates)], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 1, p.stderr
    assert "error[E704]" in p.stderr and "invoice.txt.j2:1" in p.stderr and "steps" in p.stderr
