"""Streaming the invoice run: byte-identical to dumping the whole run at once."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ratecard.billing import evaluate
from ratecard.billing.documents import RunWriter
from ratecard.compiler import compile_paths
from ratecard.usage.reference import aggregate_usage

from billing_helpers import EXAMPLES, EXAMPLE_PROJECTS, example_project, streamed_run

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
CASES = sorted(p for p in CONFORMANCE.glob("0*") if "--contracts" not in
               json.loads((p / "case.json").read_text())["args"]) if CONFORMANCE.exists() else []


def _args(case: Path):
    args = json.loads((case / "case.json").read_text())["args"]
    paths = [str(case / a) for a in args[1:args.index("--usage")]]
    usage = [str(case / args[args.index("--usage") + 1])]
    through = dt.date.fromisoformat(args[args.index("--through") + 1])
    return paths, usage, through


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_streamed_run_is_byte_identical(case):
    paths, usage, through = _args(case)
    plan = compile_paths(paths).plan
    whole = evaluate(plan, usage, through, aggregator=aggregate_usage)
    expected = whole.run.model_dump_json(indent=2) + "\n"
    with tempfile.TemporaryFile() as spool:
        writer = RunWriter(spool)
        streamed = evaluate(plan, usage, through, aggregator=aggregate_usage, sink=writer.add)
        assert streamed.run.invoices == [] and streamed.priced == []
        out = io.StringIO()
        writer.finish(streamed.run, out)
    assert writer.count == len(whole.run.invoices)
    assert out.getvalue() == expected


def test_a_run_without_invoices_streams_the_same():
    writer = RunWriter(io.StringIO())
    from ratecard.billing.documents import InvoiceRun, Reconciliation
    run = InvoiceRun(through=dt.date(2026, 1, 1), currency="USD", invoices=[], breakage=[], rejected={},
                     events=Reconciliation(read=0, billed=0, rejected=0))
    out = io.StringIO()
    writer.finish(run, out)
    assert out.getvalue() == run.model_dump_json(indent=2) + "\n"


PROJECTS = EXAMPLE_PROJECTS
_streamed = streamed_run


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_pricing_in_forked_processes_is_byte_identical(project, workers, monkeypatch):
    """Contracts split over processes (billing.parallel) give the one-process output exactly."""
    from ratecard.billing import parallel
    from ratecard.usage import aggregate_usage as duckdb_usage

    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    plan, through, usage = example_project(project)  # billed through the date its README says
    assert len(plan.contracts) >= 2
    one = _streamed(plan, usage, through, duckdb_usage)
    split = _streamed(plan, usage, through, duckdb_usage, workers=workers)
    assert split == one
    assert json.loads(one[0])["invoices"]


def test_a_part_that_fails_in_its_process_is_priced_again_here():
    import os

    from ratecard.billing.parallel import run_in_parts

    parent = os.getpid()

    def work(index, part):
        if os.getpid() != parent and index == 1:
            raise RuntimeError("a child that fails")
        if os.getpid() != parent and index == 2:
            os._exit(3)  # a child that dies
        return [x * 10 for x in part]

    assert run_in_parts([[1], [2, 3], [4], [5]], work) == [[10], [20, 30], [40], [50]]


def test_a_small_run_is_not_split(monkeypatch):
    from ratecard.billing import parallel

    assert parallel.ranges(list(range(10)), 4, parallel.MIN_LINES - 1) == [list(range(10))]
    assert parallel.ranges([1], 4, parallel.MIN_LINES) == [[1]]


@given(st.lists(st.integers(0, 50), min_size=1, max_size=60), st.integers(1, 6))
@example([0, 0, 0], 2)  # found by hypothesis: no weight at all
def test_ranges_are_contiguous_and_balanced_by_weight(weights, workers):
    from ratecard.billing import parallel

    items = list(range(len(weights)))
    split = parallel.ranges(items, workers, parallel.MIN_LINES, weights)
    assert [i for r in split for i in r] == items  # every item once, in order
    if not any(weights):  # nothing weighs anything: split by count
        weights = [1] * len(weights)
    assert len(split) == min(workers, len(items)) and all(split)
    total, n = sum(weights), len(items)
    for k, r in enumerate(split[1:], 1):
        start = r[0]
        # a range starts once the ranges before it hold their share, or when every later range needs an item
        assert sum(weights[:start]) * workers >= total * k or n - start <= len(split) - k
        last = split[k - 1][-1]
        if last != split[k - 1][0]:  # and not an item later than that
            assert not (sum(weights[:last]) * workers >= total * k or n - last <= len(split) - k)


def test_equal_weights_split_evenly_and_heavy_items_stand_alone():
    from ratecard.billing import parallel

    sizes = [len(r) for r in parallel.ranges(list(range(10)), 4, parallel.MIN_LINES)]
    assert sum(sizes) == 10 and max(sizes) - min(sizes) <= 1
    assert parallel.ranges(list(range(11)), 2, parallel.MIN_LINES, [10] + [1] * 10) == [[0], list(range(1, 11))]


def _unicode_run(n: int):
    from decimal import Decimal

    from ratecard.billing.documents import Invoice, InvoiceRun, Line, PeriodRange, Reconciliation

    day = dt.date(2026, 1, 1)
    invoices = [Invoice(number=f"c{i}", contract=f"c{i}", customer="Zoë", plan="p", kind="usage",
                        period=PeriodRange(start=day, end=day), issued=day, due=day, payment_terms_days=0,
                        currency="EUR", autopay=False, subtotal=Decimal(1), credits_applied=Decimal(0),
                        total=Decimal(1),
                        lines=[Line(kind="fee", charge="f", description="café — 100 € " * 300,
                                    quantity=Decimal(1), amount=Decimal(1))])
                for i in range(n)]
    return InvoiceRun(through=day, currency="EUR", invoices=invoices, breakage=[], rejected={},
                      events=Reconciliation(read=0, billed=0, rejected=0))


@pytest.mark.parametrize("binary", [True, False], ids=["file", "string"])
def test_streamed_bytes_keep_every_character_across_chunks(binary):
    """UTF-8 from the spool reaches a file as bytes, and a StringIO decoded, even
    where a character straddles the 1 MB copy chunks (this run is ~3 MB)."""
    run = _unicode_run(400)
    writer = RunWriter()
    writer.add(run.invoices)
    head = run.model_copy(update={"invoices": []})
    expected = run.model_dump_json(indent=2) + "\n"
    if binary:
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8")
        out.write("")
        writer.finish(head, out)
        out.flush()
        assert raw.getvalue().decode("utf-8") == expected
    else:
        out = io.StringIO()
        writer.finish(head, out)
        assert out.getvalue() == expected
    assert len(expected.encode("utf-8")) > 2 * (1 << 20)


def test_a_child_that_dies_mid_write_leaves_no_trace(monkeypatch):
    """Its range is priced again in the parent, on an emptied spool: same bytes."""
    import os

    from ratecard.billing import parallel
    from ratecard.usage import aggregate_usage as duckdb_usage

    evaluate_module = __import__("sys").modules["ratecard.billing.run"]
    project = EXAMPLES / "enterprise"
    plan = compile_paths([str(p) for p in sorted(project.glob("*.pricing"))]).plan
    usage, through = [str(project / "usage.jsonl")], dt.date(2026, 4, 1)
    one = _streamed(plan, usage, through, duckdb_usage)

    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    parent, real_bill = os.getpid(), evaluate_module._bill

    def dying_bill(run, contracts, sink, progress, total):
        if os.getpid() != parent:
            sink.spool.write(b"half an invoice")
            sink.flush()
            os._exit(9)
        return real_bill(run, contracts, sink, progress, total)

    monkeypatch.setattr(evaluate_module, "_bill", dying_bill)
    assert _streamed(plan, usage, through, duckdb_usage, workers=2) == one


@pytest.mark.parametrize("binary", [True, False], ids=["file", "string"])
def test_absorbed_parts_follow_in_order_without_being_copied(binary):
    """Ranges priced elsewhere (an empty one too) are written after ours by `finish`."""
    run = _unicode_run(7)
    writer, parts = RunWriter(), [RunWriter() for _ in range(3)]
    writer.add(run.invoices[:2])
    parts[0].add(run.invoices[2:5])
    parts[2].add(run.invoices[5:])
    for part in parts:
        part.flush()
        writer.absorb(part, part.count)
    assert writer.parts == [parts[0], parts[2]] and parts[1].spool.closed
    head = run.model_copy(update={"invoices": []})
    expected = run.model_dump_json(indent=2) + "\n"
    if binary:
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8")
        writer.finish(head, out)
        out.flush()
        got = raw.getvalue().decode("utf-8")
    else:
        out = io.StringIO()
        writer.finish(head, out)
        got = out.getvalue()
    assert got == expected
    writer.close()
    assert all(p.spool.closed for p in parts) and writer.spool.closed


def test_only_a_splittable_sink_is_split(monkeypatch):
    """`RunWriter` declares `SplittableSink` and leaves `min_lines` to the run, which reads
    `parallel.MIN_LINES` as it prices; a plain callable sink is never split."""
    from ratecard.billing import parallel
    from ratecard.billing.sinks import PricedLinesSink, SplittableSink
    from ratecard.usage import aggregate_usage as duckdb_usage

    assert isinstance(RunWriter(io.BytesIO()), SplittableSink)
    assert not isinstance(RunWriter(io.BytesIO()), PricedLinesSink)
    assert not isinstance([].extend, SplittableSink)
    splits: list[int] = []
    real = parallel.run_in_parts
    monkeypatch.setattr(parallel, "run_in_parts", lambda parts, work: splits.append(len(parts)) or real(parts, work))
    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    project = EXAMPLES / "enterprise"
    plan = compile_paths([str(p) for p in sorted(project.glob("*.pricing"))]).plan
    usage, through = [str(project / "usage.jsonl")], dt.date(2026, 4, 1)
    _streamed(plan, usage, through, duckdb_usage, workers=2)
    assert splits == [2]
    invoices: list = []
    evaluate(plan, usage, through, aggregator=duckdb_usage, sink=invoices.extend, workers=2)
    assert splits == [2] and invoices


def test_the_usage_engine_draws_no_progress_bar_on_standard_output(tmp_path):
    """DuckDB prints a progress bar on standard output for a query that runs over 2 s:
    the JSON document `ratecard invoice` writes there would begin with it (it did, on a
    loaded machine at 300,000 events). Every connection the usage stage opens has it off."""
    import os
    import subprocess
    import sys

    from ratecard.usage.duckdb import connect

    conn = connect(str(tmp_path))
    assert conn.execute("SELECT current_setting('enable_progress_bar'), "
                        "current_setting('enable_progress_bar_print')").fetchone() == (False, False)
    conn.close()
    # and with the bar forced on (drawn from 0 ms, which turns it on), a query prints nothing
    script = ("import sys; from ratecard.usage.duckdb import connect; c = connect(sys.argv[1]); "
              "c.execute('SET progress_bar_time = 0'); "
              "c.execute('SELECT count(*) FROM range(20000000) t(x) WHERE x % 7 = 3').fetchall()")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
