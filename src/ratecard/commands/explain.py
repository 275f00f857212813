"""`ratecard explain ... --contract NAME`: how every line of a contract was priced."""

from __future__ import annotations

import sys

from .common import EXIT_INPUT, EXIT_OK, add_evaluation_args, evaluate_from_args, print_diagnostics


def register(sub) -> None:
    p = sub.add_parser("explain", help="show how each invoice line of a contract was priced",
                       description="Bill usage as `invoice` does and show, for one contract (--contract), "
                                   "how every line of its invoices was priced: the rule, the rate card, "
                                   "tiers, modifiers, credits and minimums, each with its file:line.")
    add_evaluation_args(p, contract_required=True)
    p.add_argument("--template-dir", metavar="DIR", help="templates that replace the shipped ones")
    p.set_defaults(run=run)


def run(args) -> int:
    # imported here, not with the command list: `ratecard check` need not load billing,
    # the views and Jinja to list `explain` among its siblings
    from ..report.explain import explain_text
    from ..report.heap import frozen
    from ..report.render import TemplateProblem

    result = evaluate_from_args(args)
    if result is None:
        return EXIT_INPUT
    evaluation, plan = result
    try:
        with frozen():  # the run lives until exit: collections while explaining need not walk it
            sys.stdout.write(explain_text(evaluation, plan, args.contract, args.template_dir))
    except TemplateProblem as exc:
        print_diagnostics([exc.diagnostic], None)
        return EXIT_INPUT
    return EXIT_OK
