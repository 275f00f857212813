"""A non-editable install loads the grammar shipped inside the wheel.

The grammar lives at the top of the repository and is force-included into the
wheel as `ratecard/grammar/ratecard.lark`. In a source checkout the package
falls back to the repository file, so only a real wheel install proves the
packaged copy is found: build the wheel, check it holds the grammar, install
it into a target directory, and parse from a working directory outside the
repository with only that install (plus the venv's dependencies) importable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys
import ratecard, ratecard.syntax.grammar as g
from ratecard.compiler import compile_sources
compiled = compile_sources([("probe.pricing", open("probe.pricing").read())])
print(json.dumps({
    "package": ratecard.__file__,
    "grammar": str(g.grammar_path()),
    "codes": [d.code for d in compiled.diagnostics],
    "meters": sorted(compiled.plan.meters) if compiled.plan else None,
}))
"""

PROBE_PRICING = """\
meter API_CALLS { event "api.request" count }
plan pro { charge API_CALLS : $0.0001 per call }
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail(f"wheel build failed:\n{build.stdout}\n{build.stderr}")
    (found,) = out.glob("ratecard-*.whl")
    return found


def _install(wheel: Path, site: Path) -> Path:
    """The wheel installed into `site` alone (the venv's dependencies stay importable)."""
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site),
         str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return site


def test_the_wheel_ships_the_grammar(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert "ratecard/grammar/ratecard.lark" in names
        shipped = z.read("ratecard/grammar/ratecard.lark").decode("utf-8")
    assert shipped == (ROOT / "grammar" / "ratecard.lark").read_text(encoding="utf-8")
    assert "ratecard/syntax/parser.py" in names and "ratecard/cli.py" in names


def test_an_installed_wheel_parses_with_its_own_grammar(wheel, tmp_path):
    site = _install(wheel, tmp_path / "site")
    assert (site / "ratecard" / "grammar" / "ratecard.lark").is_file()

    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "probe.pricing").write_text(PROBE_PRICING, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert Path(result["package"]).resolve().is_relative_to(site.resolve())
    assert Path(result["grammar"]).resolve() == (site / "ratecard" / "grammar" / "ratecard.lark").resolve()
    assert result["codes"] == [] and result["meters"] == ["API_CALLS"]

    # and the command line of that install reports syntax errors with the packaged grammar
    (work / "broken.pricing").write_text('meter M {\n  event "e"\n  count\n', encoding="utf-8")
    check = subprocess.run([sys.executable, "-m", "ratecard.cli", "check", "broken.pricing"], cwd=work,
                           env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 1
    assert "broken.pricing:3:8: error[E104]: missing `}`: `meter M {` is never closed" in check.stderr
    assert "Traceback" not in check.stderr


TEMPLATES = ("invoice.txt.j2", "invoice.md.j2", "invoice.html.j2", "credits.txt.j2", "explain.txt.j2",
             "diff.txt.j2", "diff.md.j2")

TEMPLATE_PROBE = r"""
import json, sys
import ratecard.report.render as r
shipped = {name: r.environment().get_template(name).filename for name in sys.argv[1:]}
user = r.environment("mine")
print(json.dumps({
    "shipped": shipped,
    "override": r.render("invoice.txt.j2", "mine", invoices=[1, 2, 3]),
    "fallback": user.get_template("credits.txt.j2").filename,
}))
"""


def test_the_wheel_ships_the_templates(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for template in TEMPLATES:
        assert f"ratecard/report/templates/{template}" in names, template


def test_an_installed_wheel_renders_with_its_own_templates(wheel, tmp_path):
    """The shipped templates load from the install; a `--template-dir` template of the
    same name comes first, and the others still come from the install."""
    site = _install(wheel, tmp_path / "site")
    work = tmp_path / "elsewhere"
    (work / "mine").mkdir(parents=True)
    (work / "mine" / "invoice.txt.j2").write_text("{{ invoices | length }} invoices\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", TEMPLATE_PROBE, *TEMPLATES], cwd=work,
                         env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    shipped = (site / "ratecard" / "report" / "templates").resolve()
    assert {name: Path(path).resolve() for name, path in result["shipped"].items()} == \
        {name: shipped / name for name in TEMPLATES}
    assert result["override"] == "3 invoices\n"
    assert Path(result["fallback"]).resolve() == shipped / "credits.txt.j2"


def test_the_wheel_ships_the_diagnostics_page_the_language_server_links_to(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as z:
        shipped = z.read("ratecard/docs/diagnostics.md").decode("utf-8")
        assert "ratecard/lsp/server.py" in z.namelist()
    assert shipped == (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    site = _install(wheel, tmp_path / "site")
    probe = "from ratecard.lsp.docs import doc_link; print(doc_link('E201'))"
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(site)}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (site / "ratecard" / "docs" / "diagnostics.md").resolve().as_uri() \
        + "#e201--unknown-meter"


def test_the_wheel_ships_the_ledger_migrations(wheel):
    """Alembic's env and versions are run from the package (no alembic.ini the user must have)."""
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for path in ("migrations/env.py", "migrations/script.py.mako", "migrations/versions/0001_ledger.py"):
        assert f"ratecard/ledger/{path}" in names, path


def test_an_installed_wheel_creates_a_ledger_with_its_own_migrations(wheel, tmp_path):
    site = _install(wheel, tmp_path / "site")
    work = tmp_path / "elsewhere"
    work.mkdir()
    probe = ("import json, ratecard.ledger.store as s\n"
             "ledger = s.open_ledger('ledger.db', create=True)\n"
             "print(json.dumps({'module': s.__file__, 'heads': s.schema_heads()}))\n"
             "ledger.dispose()\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", probe], cwd=work, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert Path(result["module"]).resolve().is_relative_to(site.resolve())
    assert result["heads"] == ["0001_ledger"] and (work / "ledger.db").is_file()
