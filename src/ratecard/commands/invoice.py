"""`ratecard invoice PATH... --usage FILE... --through DATE`: usage -> invoices."""

from __future__ import annotations

import sys

from .common import (
    EXIT_INPUT,
    EXIT_OK,
    add_evaluation_args,
    evaluate_from_args,
    reconciliation_note,
)


def register(sub) -> None:
    p = sub.add_parser("invoice", help="evaluate usage into invoices")
    add_evaluation_args(p)
    p.add_argument("--format", choices=("json",), default="json", help="output format")
    p.set_defaults(run=run)


def run(args) -> int:
    result = evaluate_from_args(args, args.format)
    if result is None:
        return EXIT_INPUT
    evaluation, plan = result
    run_doc = evaluation.run
    if args.contract:
        run_doc = run_doc.model_copy(update={
            "invoices": [i for i in run_doc.invoices if i.contract == args.contract],
            "breakage": [b for b in run_doc.breakage if b.contract == args.contract],
        })
    sys.stdout.write(run_doc.model_dump_json(indent=2) + "\n")
    print(reconciliation_note(run_doc), file=sys.stderr)
    return EXIT_OK
