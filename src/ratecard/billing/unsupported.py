"""What the pricer does not bill yet: the one list, and the refusal that reads it.

The language (LANGUAGE.md "Part 2") is compiled whole -- `check`, `compile` and
`fmt` accept every construct -- before the pricer bills all of it. Until it
does, a construct it would ignore must not give a bill: that would be a wrong
bill with exit 0. So `evaluate` (every command that prices: invoice, explain,
credits, diff, test, issue) and `sql` (whose query feeds `invoice
--aggregates`) first ask `unsupported(plan)`, and stop with one E970 per use,
at the place it is written.

When the pricer learns a construct, delete its entry from `FEATURES` (and its
test in tests/test_part2_refusal.py turns into a pricing test).
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

from ..diagnostics import Diagnostic, Span, error
from ..model import Expression, Operation, RatingPlan


def _nested_quotients(plan: RatingPlan) -> Iterator[str]:
    """`*` and `/` are billed; a quotient inside an operand of another `/` (`a / b / c`) is
    not yet. The reason was the size of the SQL (each division written out as a long
    division repeating its operands: megabytes for a division of a division); the query
    now computes each node once, as a column (usage/derived_sql.py, `Nodes`), so lifting
    this refusal is a change of its own (docs/usage.md, "Derived quantities")."""
    for meter in plan.meters.values():
        if meter.aggregation.expression is not None and _divides_a_quotient(meter.aggregation.expression):
            yield f"meter:{meter.name}/aggregation"


def _divides_a_quotient(expr: Expression) -> bool:
    if not isinstance(expr, Operation):
        return False
    if expr.op == "/" and (_divides(expr.left) or _divides(expr.right)):
        return True
    return _divides_a_quotient(expr.left) or _divides_a_quotient(expr.right)


def _divides(expr: Expression) -> bool:
    return isinstance(expr, Operation) and (expr.op == "/" or _divides(expr.left) or _divides(expr.right))


# What the pricer does not bill yet: (the construct as the user writes it, where it is used).
# Later engineers: remove an entry when the pricer bills that construct.
FEATURES: tuple[tuple[str, Callable[[RatingPlan], Iterator[str]]], ...] = (
    ("a quotient inside an operand of `/` in a derived quantity", _nested_quotients),
)


def unsupported(plan: RatingPlan, spans: Mapping[str, Span] | None = None) -> list[Diagnostic]:
    """One E970 per use of a construct the pricer does not bill yet, at its place: `spans`
    (the compiler's, to the column) or else the plan's `origins` (file and line)."""
    out = []
    for construct, uses in FEATURES:
        for model_id in dict.fromkeys(uses(plan)):
            out.append(error(
                "E970", f"{construct} is not billed by this version of ratecard yet",
                _place(plan, spans, model_id),
                hints=["`check`, `compile` and `fmt` accept it; no command prices a project that uses it, "
                       "rather than bill it wrongly"],
            ))
    out.sort(key=Diagnostic.sort_key)
    return out


def _place(plan: RatingPlan, spans: Mapping[str, Span] | None, model_id: str) -> Span | None:
    if spans is not None and model_id in spans:
        return spans[model_id]
    origin = plan.origins.get(model_id)
    if origin is None:
        return None
    if ":$" in origin:  # a JSON contract's: file:$json.path
        file, path = origin.split(":$", 1)
        return Span.json(file, "$" + path)
    file, _, where = origin.rpartition(":")
    return Span.point(file, int(where), 1) if where.isdigit() else None
