"""`ratecard credits PATH... --usage FILE... --through DATE`: each credit grant's history.

For every grant given by the `--through` date: when it was granted, for how
much and at what price; every invoice that drew on it with the balance after;
and how it ended (breakage) or when it expires. Text by default, or the
`CreditLedger` JSON document (ratecard.report.credit_history) with `--format json`.
"""

from __future__ import annotations

import sys

from ..progress import Progress
from .common import EXIT_INPUT, EXIT_OK, add_evaluation_args, evaluate_from_args, print_diagnostics
from .invoice import add_rendering_args, check_rendering_args


def register(sub) -> None:
    p = sub.add_parser("credits", help="show each credit grant's history: grant, draw-downs, breakage",
                       description="Bill usage as `invoice` does and show each credit grant given by "
                                   "--through: when and for how much it was granted, every invoice that "
                                   "drew on it with the balance after, and how it ended or when it expires.")
    add_evaluation_args(p)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text (default) or json")
    add_rendering_args(p, issuer=False)
    p.set_defaults(run=run)


def run(args) -> int:
    # (here: other commands need not import them)
    from ..report.credit_history import credit_ledger, ledger_view
    from ..report.render import TemplateProblem, render

    check_rendering_args(args)
    with Progress("billing") as progress:
        result = evaluate_from_args(args, args.format, progress=progress)
    if result is None:
        return EXIT_INPUT
    evaluation, plan = result
    ledger = credit_ledger(evaluation, plan, args.contract)
    if args.format == "json":
        sys.stdout.write(ledger.model_dump_json(indent=2) + "\n")
        return EXIT_OK
    view = ledger_view(ledger, args.locale)
    try:
        text = render("credits.txt.j2", args.template_dir, through=view.through, currency=view.currency,
                      contracts=view.contracts, widths=view.widths, note_pad=view.note_pad)
    except TemplateProblem as exc:
        print_diagnostics([exc.diagnostic], None)
        return EXIT_INPUT
    sys.stdout.write(text)
    return EXIT_OK
