"""`ratecard diff` in parts: the contracts priced and compared in ranges, one per core,
from each side's usage stage run once (and once for both sides when they read events alike).

The diff of a split run must be the diff of one process and of two separate evaluations,
byte for byte, whether the two sides share their usage stage or not."""

from __future__ import annotations

import json
import os

import pytest

import ratecard.commands.diff as diff_command
from ratecard.billing import parallel
from ratecard.cli import main
from ratecard.usage.reference import aggregate_usage

from test_diff import GPT4, _diff, _project, count_shared_usage, workdir  # noqa: F401  (a fixture)

EDITS = {
    # a price: both sides read events alike, so one usage stage
    "price": (("meters.pricing", GPT4, 'model = "gpt-4"              : $0.025'), 1),
    # how a meter reads events: a filter, an aggregation; each side its own usage stage
    "filter": (("meters.pricing", '  dimensions model\n', '  dimensions model\n  where model != "gpt-3.5"\n'), 2),
    "aggregation": (("meters.pricing", "  max gigabytes", "  sum gigabytes"), 2),
}


@pytest.fixture(autouse=True)
def reference_aggregator(monkeypatch):
    monkeypatch.setattr(diff_command, "AGGREGATOR", aggregate_usage)


def _run(args: list[str], capsys) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def _split_in(monkeypatch, parts: int) -> list[tuple[int, list[list[str]]]]:
    """Diffs from now split into `parts` ranges however small; the ranges each diff was given,
    with the process each range ran in."""
    monkeypatch.setattr(diff_command, "MIN_LINES", 0)
    monkeypatch.setattr(diff_command, "usable_cpus", lambda: parts)
    seen: list = []
    run_in_parts = parallel.run_in_parts

    def spy(ranges, work):
        def traced(index, part):
            return os.getpid(), work(index, part)
        results = run_in_parts(ranges, traced)
        seen.append(([pid for pid, _ in results], [list(r) for r in ranges]))
        return [result for _, result in results]

    monkeypatch.setattr(parallel, "run_in_parts", spy)
    return seen


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_diff_in_parts_is_the_diff_of_one_process_and_of_two_runs(edit, fmt, workdir, monkeypatch, capsys):
    change, runs = EDITS[edit]
    _project(workdir, "old")
    _project(workdir, "new", change)
    args = _diff("old", "new", "--format", fmt)
    whole = _run(args, capsys)  # a small diff: one process

    made = count_shared_usage(monkeypatch)
    seen = _split_in(monkeypatch, 2)
    split = _run(args, capsys)
    (pids, ranges), = seen
    assert ranges[0] == [] and len(ranges) == 3, "this process waits; two ranges"
    assert pids[0] == os.getpid() and os.getpid() not in pids[1:] and pids[1] != pids[2], "each in a child"
    assert [name for r in ranges for name in r] == ["acme", "globex", "initech"]
    assert [u.runs for u in made] == [runs], "the usage stage ran once per distinct query, before the split"
    assert split == whole

    # two separate evaluations: nothing shared between the sides
    monkeypatch.setattr(diff_command, "SharedUsage", lambda aggregator=None: aggregator)
    assert _run(args, capsys) == whole
    if fmt == "json":
        assert json.loads(whole)["lines"], "the edit moved some lines"


def test_a_side_that_cannot_be_priced_in_a_part_stops_the_diff(workdir, monkeypatch, capsys):
    """A pricing error found in a child's range is reported as pricing the side whole reports it."""
    _project(workdir, "old")
    _project(workdir, "new", ("meters.pricing", "    default                      : $0.01\n", ""),
             ("meters.pricing", '    model = "claude-3"           : $0.015\n', ""))  # claude-3 unpriced
    args = _diff("old", "new", "--format", "json")
    assert main(args) == 1
    whole = capsys.readouterr()
    seen = _split_in(monkeypatch, 3)
    assert main(args) == 1
    split = capsys.readouterr()
    assert len(seen[0][1]) == 4
    assert "E502" in whole.err and split.err == whole.err and split.out == whole.out == ""


@pytest.mark.parametrize("doc", [
    {"a": "\x00\x1f\x7f\u2028é\"\\/\t\n", "b": [], "c": {}, "d": [{}], "e": None, "f": True, "g": 10 ** 20},
    {"lines": [{"dimensions": {"model": "gpt-4 ✓"}, "old": None, "reasons": []}], "unchanged": False},
], ids=["awkward", "shape"])
def test_the_json_is_the_text_json_dumps_writes(doc):
    assert diff_command.json_text(doc) == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------- keyed on the query (DuckDB)


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_duckdb_sides_share_the_usage_stage_when_their_queries_are_equal(edit, workdir, monkeypatch, capsys):
    """With DuckDB the key is the query itself (`query_key`): its SQL text, the rows it joins."""
    from ratecard.usage.duckdb import aggregate_usage as duckdb_usage

    monkeypatch.setattr(diff_command, "AGGREGATOR", duckdb_usage)
    change, runs = EDITS[edit]
    _project(workdir, "old")
    _project(workdir, "new", change)
    made = count_shared_usage(monkeypatch)
    _split_in(monkeypatch, 2)
    args = _diff("old", "new", "--format", "json")
    shared = _run(args, capsys)
    assert [u.runs for u in made] == [runs] and made[0].unkeyed == 0
    assert all(key[0] == "query" for key in made[0].reports)
    monkeypatch.setattr(diff_command, "SharedUsage", lambda aggregator=None: aggregator)
    assert _run(args, capsys) == shared


@pytest.mark.parametrize("old, new, equal", [
    ("sum prompt", "sum prompt", True),
    ("sum prompt - cached", "sum prompt + cached", False),
    ("weighted prompt per month", "weighted prompt per day", False),
    ("sum prompt  where model = \"a\"", "sum prompt  where model = \"b\"", False),
    ("sum prompt  dimensions model", "sum prompt  dimensions region", False),
], ids=["same", "derived", "weighted-per", "filter", "dimension"])
def test_the_query_key_is_equal_exactly_when_the_query_is(old, new, equal, tmp_path):
    import datetime as dt

    from ratecard.billing.scope import scope
    from ratecard.compiler import compile_sources
    from ratecard.usage.duckdb import query_key

    usage = tmp_path / "usage.jsonl"
    usage.write_text('{"id": "1", "type": "llm", "customer": "ca", "time": "2026-01-05T00:00:00Z", '
                     '"properties": {"prompt": 3, "cached": 1, "model": "a"}}\n', encoding="utf-8")
    keys = []
    for aggregation, price in ((old, "$1"), (new, "$2")):  # the price differs on every pair
        compiled = compile_sources([("t.pricing", f"""
meter TOK {{ event "llm"  {aggregation}  rates {{ default : {price} }} }}
plan p {{ billing monthly  charge TOK }}
contract a {{ customer "ca"  plan p  starts 2026-01-01 }}
""")])
        assert compiled.ok, compiled.diagnostics
        terms, windows, _, _ = scope(compiled.plan, dt.date(2026, 2, 1))
        keys.append(query_key(compiled.plan, terms, windows, [str(usage)]))
    assert keys[0] is not None
    assert (keys[0] == keys[1]) is equal
