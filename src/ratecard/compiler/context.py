"""State shared by the compiler passes: symbol tables, spans, diagnostics.

Passes read the syntax tree and the tables earlier passes filled, and add to
them; none of them raise on user errors. The spans table maps model ids (rule
ids, grant ids, names) back to where they were written, for diagnostics that
are found after the model is built (ambiguity, lint).

`unresolved` holds the model ids the compiler could not build as written,
because of an error it reported: a plan with a `charge` of an unknown meter
(`plan:pro`), a rate card missing a rule whose price was rejected
(`plan:pro/charge:M`), a rule whose condition names an unknown key
(`meter:M/rates/2`). Later checks draw no conclusion from them -- "plan `pro`
does not charge `M`", "no rule prices this line", "these rules are ambiguous"
would report consequences of the one error instead of the error itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Diagnostic, Span
from ..model import Contract, Issuing, Meter, Plan
from ..syntax import nodes as n


@dataclass
class Context:
    files: list[n.SourceFile]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    # project settings
    currency: str = "USD"
    rounding: str = "half_up"
    issuing: Issuing = field(default_factory=Issuing)  # `grace`, `numbering` (the ledger's settings)

    # symbols (first definition wins; duplicates are reported)
    meter_nodes: dict[str, n.MeterBlock] = field(default_factory=dict)
    plan_nodes: dict[str, n.PlanBlock] = field(default_factory=dict)
    contract_nodes: dict[str, n.ContractBlock] = field(default_factory=dict)
    test_nodes: list[n.TestBlock] = field(default_factory=list)

    # built model parts
    meters: dict[str, Meter] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    contracts: dict[str, Contract] = field(default_factory=dict)

    # model id -> where it was written
    spans: dict[str, Span] = field(default_factory=dict)

    # model ids built incompletely because of a reported error (see the module docstring)
    unresolved: set[str] = field(default_factory=set)

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def origin(self, model_id: str, span: Span) -> None:
        self.spans[model_id] = span

    def origins(self) -> dict[str, str]:
        """model id -> `file:line` (a JSON contract's: `file:$json.path`), for explanations."""
        return {k: s.where if s.path is not None else f"{s.file}:{s.line}"
                for k, s in sorted(self.spans.items())}
