"""The compile benchmark's generated project stays valid pricing (the benchmark
refuses to time a compile that reports errors), and its results file merges."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from ratecard.compiler import compile_paths

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "compile.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_compile", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_project_compiles_without_errors(tmp_path):
    bench = _bench()
    lines = bench.generate(tmp_path, target_lines=1500)
    assert 1000 < lines < 2500
    assert len(list(tmp_path.rglob("*.pricing"))) == 8
    compiled = compile_paths([str(tmp_path)])
    assert compiled.ok, [d.message for d in compiled.diagnostics if d.is_error][:5]
    plan = compiled.plan
    assert plan.meters and plan.plans and plan.contracts
    assert any(c.overrides for c in plan.contracts.values())
    assert any(c.credits for c in plan.contracts.values())
    # the same seed gives the same project
    again = tmp_path / "again"
    bench.generate(again, target_lines=1500)
    for p in tmp_path.glob("*.pricing"):
        assert (again / p.name).read_text() == p.read_text()


def test_results_are_merged_under_the_compile_key(tmp_path):
    bench = _bench()
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"billing": {"x": 1}, "compile": {"old": True}}))
    bench.write_results({"compile_seconds": 0.4}, results)
    assert json.loads(results.read_text()) == {"billing": {"x": 1}, "compile": {"compile_seconds": 0.4}}
    results.write_text("not json")
    bench.write_results({"compile_seconds": 0.4}, results)
    assert json.loads(results.read_text()) == {"compile": {"compile_seconds": 0.4}}
