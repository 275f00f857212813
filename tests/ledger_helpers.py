"""Shared by the ledger tests: a small project, usage written as JSONL, the CLI run
in this process, and the ledger's own sums (what its documents bill)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from ratecard.cli import main

PROJECT = """
currency USD
grace 2 days

meter CALLS {
  title "API calls"
  event "api.call"
  count
  dimensions region
  rates {
    default : $0.10
  }
}

plan pro {
  billing monthly
  payment net 15
  fee "Platform" : $100 per month
  charge CALLS
}

contract acme {
  customer "c_acme"
  plan pro
  starts 2026-01-01
  credit $150 {
    description "Welcome credit"
    expires 2026-03-01
  }
}

contract beta {
  customer "c_beta"
  plan pro
  starts 2026-01-01
  ends 2026-02-28
}
"""


def write_project(folder: Path, text: str = PROJECT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.pricing").write_text(text, encoding="utf-8")
    return folder


def events(customer: str, day: dt.date, n: int, prefix: str, region: str = "eu") -> list[dict]:
    return [{"id": f"{prefix}-{customer}-{day}-{i}", "type": "api.call", "customer": customer,
             "time": f"{day.isoformat()}T{(i % 24):02d}:00:00Z", "properties": {"region": region}}
            for i in range(n)]


def base_usage() -> list[dict]:
    out = []
    for customer in ("c_acme", "c_beta"):
        for day in (dt.date(2026, 1, 5), dt.date(2026, 1, 20), dt.date(2026, 2, 10), dt.date(2026, 3, 3)):
            out += events(customer, day, 30, "base")
    return out


def write_usage(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def issue(capsys, project: Path, usage: str, through: str, ledger: str, *more: str) -> tuple[int, str, str]:
    return cli(capsys, "issue", str(project), "--usage", usage, "--through", through, "--ledger", ledger, *more)


def listed(capsys, ledger: str) -> list[dict]:
    code, out, err = cli(capsys, "ledger", "list", "--ledger", ledger, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def ledger_total(docs: list[dict], contract: str | None = None) -> Decimal:
    """What the ledger's documents bill, all told: invoices minus credit notes."""
    total = Decimal(0)
    for d in docs:
        if contract is not None and d["contract"] != contract:
            continue
        amount = Decimal(d["total"])
        total += -amount if d["kind"] == "credit_note" else amount
    return total


def pricing_total(capsys, project: Path, usage: str, through: str, ledger: str, grace: int = 2,
                  contract: str | None = None) -> Decimal:
    """What the pricing says now of every invoice the ledger should hold: the pure
    function, priced with the ledger's final draws, summed over the invoices that
    are past the grace."""
    from ratecard.billing import evaluate
    from ratecard.compiler import compile_paths
    from ratecard.ledger.state import read_drawn
    from ratecard.ledger.store import open_ledger

    plan = compile_paths([str(project)]).plan
    store = open_ledger(ledger, create=False)
    try:
        with store.reading() as conn:
            drawn = read_drawn(conn)
    finally:
        store.dispose()
    day = dt.date.fromisoformat(through)
    run = evaluate(plan, [usage], day, drawn=drawn).run
    total = Decimal(0)
    for inv in run.invoices:
        if contract is not None and inv.contract != contract:
            continue
        # a credit purchase and the opening invoice of fees in advance bill no usage: no grace
        if inv.kind in ("credit_purchase", "advance") or inv.period.end + dt.timedelta(days=grace) <= day:
            total += inv.total
    return total


def numbers_are_gapless(docs: list[dict]) -> None:
    for prefix in ("INV-", "CN-"):
        seqs = sorted(int(d["number"][len(prefix):]) for d in docs if d["number"].startswith(prefix))
        assert seqs == list(range(1, len(seqs) + 1)), (prefix, seqs)
    assert len({d["number"] for d in docs}) == len(docs)
