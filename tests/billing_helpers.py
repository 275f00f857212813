"""Small builders for billing tests: compile inline pricing, write events, evaluate."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from ratecard.billing import evaluate
from ratecard.compiler import compile_sources
from ratecard.usage.reference import aggregate_usage as reference_aggregate


# A tokens meter priced by model that leaves out the `test` region's events: the usage
# tests' projects (test_usage, test_usage_reading, test_empty_text) start with it.
FILTERED_TOKENS_METER = """meter TOKENS {
  event "llm.completion"
  sum tokens
  dimensions model
  where region != "test"
  rates per 1K tokens {
    model = "gpt-4" : $0.03
    default : $0.01
  }
}
"""

# One meter, one plan, one contract: the smallest project that bills tokens by model
# (the tests of what views show and of usage totals past the exact range use it).
TOKENS_PROJECT = """
currency USD

meter TOKENS {
  title "Tokens"
  event "llm.completion"
  sum tokens
  dimensions model
}

plan api {
  billing monthly
  payment net 30
  charge TOKENS : $1.00 per 1K tokens
}

contract pixel {
  customer "cus_pixel"
  plan api
  starts 2026-01-01
}
"""


def compile_text(text: str, name: str = "t.pricing"):
    compiled = compile_sources([(name, text)])
    errors = [d for d in compiled.diagnostics if d.is_error]
    assert not errors, errors
    return compiled.plan


def write_events(path: Path, events: list[dict]) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e, default=str) + "\n")
    return str(path)


def event(i, customer, time, type_="api.request", **props) -> dict:
    return {"id": f"e{i}", "type": type_, "customer": customer, "time": time, "properties": props}


def run(plan, files, through: str, aggregator=reference_aggregate):
    ev = evaluate(plan, files, dt.date.fromisoformat(through), aggregator=aggregator)
    assert ev.ok, ev.diagnostics
    return ev


def invoices(ev, contract=None, kind="usage"):
    return [i for i in ev.run.invoices if (contract is None or i.contract == contract) and i.kind == kind]


def D(x) -> Decimal:
    return Decimal(str(x))


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE_PROJECTS = sorted(p for p in EXAMPLES.iterdir() if (p / "usage.jsonl").exists())


def example_through(folder: Path) -> str:
    """The `--through` date an example project's README bills with (the date its usage ends)."""
    import re

    return re.search(r"--through (\S+)", (folder / "README.md").read_text())[1]


def example_project(folder: Path):
    """An example project compiled: (plan, its README's `--through` date, its usage file)."""
    from ratecard.compiler import compile_paths

    plan = compile_paths([str(p) for p in sorted(folder.glob("*.pricing"))]).plan
    return plan, dt.date.fromisoformat(example_through(folder)), [str(folder / "usage.jsonl")]


def streamed_run(plan, usage, through, aggregator, **kwargs) -> tuple[str, list]:
    """The JSON run as `invoice` streams it (a `RunWriter` sink), and the run's diagnostics
    as (code, message)."""
    import io
    import tempfile

    from ratecard.billing.documents import RunWriter

    with tempfile.TemporaryFile() as spool:
        writer = RunWriter(spool)
        ev = evaluate(plan, usage, through, aggregator=aggregator, sink=writer, **kwargs)
        out = io.StringIO()
        if ev.run is not None:
            writer.finish(ev.run, out)
    return out.getvalue(), [(d.code, d.message) for d in ev.diagnostics]
