"""The example businesses and `make demo`: they compile cleanly, bill, and the demo runs."""

from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from ratecard.billing import evaluate
from ratecard.cli import main
from ratecard.compiler import compile_paths
from ratecard.usage.reference import aggregate_usage

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("ai-api", "storage", "enterprise")
THROUGH = dt.date(2026, 4, 1)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_checks_clean(name, capsys):
    capsys.readouterr()
    code = main(["check", str(ROOT / "examples" / name)])
    out, err = capsys.readouterr()
    assert code == 0 and out + err == "", out + err
    assert (ROOT / "examples" / name / "README.md").exists()


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_bills(name):
    folder = ROOT / "examples" / name
    compiled = compile_paths([str(folder)])
    usage = folder / "usage.jsonl"
    events = usage.read_text(encoding="utf-8").count("\n")
    assert 200 <= events <= 5000
    ev = evaluate(compiled.plan, [str(usage)], THROUGH, aggregator=aggregate_usage)
    assert ev.ok, ev.diagnostics
    run = ev.run
    assert len({i.contract for i in run.invoices}) >= 3
    assert run.events.balanced and run.events.billed > 0.9 * run.events.read
    assert any(i.credits for i in run.invoices), "every example shows credits at work"


@pytest.mark.parametrize("name", EXAMPLES)
def test_usage_generator_is_deterministic(name, tmp_path, monkeypatch):
    script = ROOT / "examples" / name / "generate_usage.py"
    spec = importlib.util.spec_from_file_location(f"gen_{name.replace('-', '_')}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path / "usage.jsonl")
    module.main()
    assert (tmp_path / "usage.jsonl").read_bytes() == (script.parent / "usage.jsonl").read_bytes()


@pytest.mark.slow
def test_make_demo_script_runs(tmp_path):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    lines = done.stdout.rstrip("\n").splitlines()
    assert lines[-1] == str(out.resolve()), "the last line is the HTML folder"
    for name in EXAMPLES:
        assert f"examples/{name}" in done.stdout
        files = list((out / name).glob("*.html"))
        assert files, name
        assert not list((out / name).glob(".*"))  # no temp files left
    assert "INVOICE  " in done.stdout and "Summary: billed through" in done.stdout
    assert "Credit grants billed through" in done.stdout
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.count("<li>") == sum(len(list((out / n).glob("*.html"))) for n in EXAMPLES)
