"""`ratecard issue PATH... --usage FILE... --through DATE --ledger URL`: invoices into the ledger.

Prices exactly as `ratecard invoice` does (the same evaluation), with the
credit draws the ledger has made final as an input, then in one transaction
issues every invoice whose period ended at least the grace before DATE
(`grace N days` in the pricing, or `--grace`), numbered gaplessly, and
corrects invoices issued earlier with new documents where the pricing now
bills them differently (docs/ledger.md). Running it again on the same inputs
issues nothing and says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

from ..diagnostics import error, warning
from ..progress import Progress
from ..report.visible import visible
from .common import (
    EXIT_INPUT,
    EXIT_OK,
    UsageError,
    add_evaluation_args,
    evaluate_from_args,
    parse_date,
    print_diagnostics,
    reconciliation_note,
)

LEDGER_ENV = "RATECARD_LEDGER"


def add_ledger_arg(p) -> None:
    p.add_argument("--ledger", metavar="URL", default=os.environ.get(LEDGER_ENV),
                   help=f"the ledger: sqlite:///FILE (or a file path) or postgresql://USER@HOST/DB "
                        f"(default: ${LEDGER_ENV})")


def ledger_url(args) -> str:
    if not args.ledger:
        raise UsageError(f"name the ledger with --ledger URL (or set ${LEDGER_ENV})")
    return args.ledger


def register(sub) -> None:
    p = sub.add_parser("issue", help="issue ended invoices into the ledger: numbered, final, corrected by "
                                     "new documents",
                       description="Price the usage as `ratecard invoice` does, then, in one transaction, "
                                   "issue every invoice whose period ended at least the grace before "
                                   "--through into the ledger: gaplessly numbered and final. Invoices "
                                   "issued earlier that the pricing now bills differently are corrected "
                                   "by adjustment lines and credit notes, never rewritten "
                                   "(docs/ledger.md).")
    add_evaluation_args(p)
    add_ledger_arg(p)
    p.add_argument("--grace", type=int, metavar="DAYS",
                   help="issue a period this many days after it ends (default: the pricing's `grace`, else 0)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="how to report what was issued")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..ledger.store import LedgerError

    if args.grace is not None and args.grace < 0:
        raise UsageError(f"--grace {args.grace}: a grace period cannot be negative")
    url = ledger_url(args)
    _refuse_an_input_as_ledger(args, url)
    through = parse_date(args.through)
    opened: dict = {}
    try:
        return _run(args, url, through, opened)
    except LedgerError as exc:
        compiled = opened.get("compiled")  # a diagnostic at a `numbering` statement shows its line
        print_diagnostics([exc.diagnostic], compiled.sources if compiled is not None else None, args.format)
        return EXIT_INPUT
    finally:
        if "ledger" in opened:
            opened["ledger"].dispose()


def _refuse_an_input_as_ledger(args, url: str) -> None:
    """A SQLite ledger is written to: like every output, it must not be an input of the run."""
    from ..ledger.store import LedgerError, parse_url
    from .common import run_inputs

    try:
        target = parse_url(url)
    except LedgerError:
        return  # reported when the ledger is opened
    if target.path is not None:
        owner = run_inputs(args).owner(str(target.path))
        if owner is not None:
            raise UsageError(f"--ledger {url} is {owner}, an input of this run; name another file")


def _run(args, url: str, through: dt.date, opened: dict) -> int:
    from sqlalchemy.exc import DBAPIError

    from ..billing import evaluate
    from ..ledger.issue import Priced, check_currency, issue
    from ..ledger.state import read_drawn, read_generation
    from ..ledger.store import open_ledger

    def drawn_for(plan, compiled):
        ledger = opened["ledger"] = open_ledger(url, create=True)  # before pricing: a bad URL fails at once
        opened["compiled"] = compiled
        with ledger.reading() as conn:
            _, currency = read_generation(conn)
            check_currency(ledger, currency, plan.currency)
            opened["drawn"] = read_drawn(conn)
        return opened["drawn"]

    priced = Priced()
    with Progress("billing") as progress:
        result = evaluate_from_args(args, args.format, progress=progress, drawn_for=drawn_for, sink=priced)
    if result is None:
        return EXIT_INPUT
    evaluation, plan = result
    priced.breakage = evaluation.run.breakage
    ledger, compiled = opened["ledger"], opened["compiled"]
    grace = args.grace if args.grace is not None else compiled.issuing.grace_days

    def reprice(drawn) -> Priced:
        fresh = Priced()
        again = evaluate(plan, [], through, aggregator=lambda *a, **k: evaluation.usage, drawn=drawn,
                         only=args.contract, sink=fresh)
        if not again.ok:  # the same usage priced before; only the draws differ
            from ..ledger.store import LedgerError

            raise LedgerError(again.diagnostics[0] if again.diagnostics else
                              error("E966", "could not price again with the draws another run made final"))
        fresh.breakage = again.run.breakage
        return fresh

    try:
        done = issue(ledger, plan, compiled.issuing, priced, opened["drawn"], reprice, through, grace,
                     args.contract, _inputs(args, grace), _numbering_spans(compiled))
    except DBAPIError as exc:
        from ..ledger.store import driver_message

        print_diagnostics([error("E966", f"nothing was issued: the ledger {ledger.target.shown} failed: "
                                         f"{driver_message(exc)}")], None, args.format)
        return EXIT_INPUT
    warnings = [warning("W960", f"contract `{c}` has documents in the ledger but is not in the pricing: "
                                "its documents are left as issued",
                        hints=["price it (or void its documents) to correct them"]) for c in done.unpriced]
    if warnings:
        print_diagnostics(warnings, None)
    _report(args, ledger, done, through, grace, plan.currency)
    print(reconciliation_note(evaluation.run), file=sys.stderr)
    return EXIT_OK


def _numbering_spans(compiled) -> dict:
    """Where each series' `numbering` is written (series -> the format's span), for E967."""
    from ..syntax import nodes as n

    return {item.series.name: item.format.span for f in compiled.files for item in f.items
            if isinstance(item, n.NumberingDecl)}


def _inputs(args, grace: int) -> dict:
    """What the run was given, kept with it in the ledger (`runs.inputs`)."""
    from ..compiler import pricing_files

    def sha(path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    return {
        "pricing": [[str(p), sha(p)] for p in pricing_files(args.paths)],
        "contracts": [[p, sha(p)] for p in args.contracts],
        "usage": list(args.usage or []),
        "aggregates": list(getattr(args, "aggregates", None) or []),
        "usage_tables": list(getattr(args, "usage_table", None) or []),
        "through": args.through,
        "grace_days": grace,
        "contract": args.contract,
    }


def _report(args, ledger, done, through: dt.date, grace: int, currency: str) -> None:
    from ..ledger.records import Listed
    from ..report.formatter import Formatter

    issued = [Listed(number=d.number, kind=d.kind, contract=d.contract, customer=d.customer, period=d.period,
                     issued=d.issued, due=d.due, currency=d.currency, total=d.total, status="issued",
                     corrects=d.corrects, voided_by=None) for d in done.documents]
    if args.format == "json":
        doc = {
            "ledger": ledger.target.shown,
            "through": through.isoformat(),
            "grace_days": grace,
            "issued": [json.loads(x.model_dump_json()) for x in issued],
            "pending": [{"contract": p.contract, "corrects": p.corrects, "amount": str(p.amount),
                         "reasons": p.reasons} for p in done.pending],
            "breakage": [{"contract": b["contract"], "grant": b["grant_id"], "amount": b["amount"],
                          "closed_on": b["closed_on"].isoformat(), "invoice": b["number"]} for b in done.breakage],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    fmt = Formatter(currency)
    cutoff = through - dt.timedelta(days=grace)
    if not done.documents:
        print(f"nothing to issue: every invoice ended by {cutoff.isoformat()} (through {through.isoformat()}, "
              f"grace {grace} day{'s' if grace != 1 else ''}) is in the ledger and agrees with the pricing")
    else:
        print(f"issued {len(issued)} document{'s' if len(issued) != 1 else ''} into {ledger.target.shown}:")
        for row in list_rows(issued, fmt):
            print("  " + row)
    for p in done.pending:
        print(f"pending: {fmt.money(p.amount)} more for {p.corrects} ({visible(p.contract)}: "
              f"{'; '.join(dict.fromkeys(p.reasons))}), carried on the contract's next invoice")
    for b in done.breakage:
        print(f"breakage: {visible(b['contract'])} grant {visible(b['grant_id'])}: {fmt.money(Decimal(b['amount']))} unused, "
              f"recognised with {b['number']}")


KIND_WORDS = {"usage": "invoice", "credit_purchase": "credit purchase", "advance": "opening invoice",
              "adjustment": "adjustment", "credit_note": "credit note"}


def list_rows(listed, fmt, header: bool = False) -> list[str]:
    """The columns of `ledger list` (and of `issue`'s report), aligned."""
    cells = [["Number", "Kind", "Contract", "Period", "Issued", "Total", "Status", "Corrects"]] if header else []
    for d in listed:
        last = max(d.period.end - dt.timedelta(days=1), d.period.start)
        period = fmt.date(d.period.start) if d.kind in ("credit_purchase", "advance") else fmt.days(d.period.start, last)
        cells.append([d.number, KIND_WORDS.get(d.kind, d.kind), visible(d.contract), period, fmt.date(d.issued),
                      fmt.money(d.total), d.status + (f" ({d.voided_by})" if d.voided_by else ""),
                      d.corrects or ""])
    if not cells:
        return []
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    right = {5}
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in cells]
