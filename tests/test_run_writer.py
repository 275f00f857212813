"""Streaming the invoice run: byte-identical to dumping the whole run at once."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from pathlib import Path

import pytest

from ratecard.billing import evaluate
from ratecard.billing.documents import RunWriter
from ratecard.compiler import compile_paths
from ratecard.reference import aggregate_usage

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
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
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
