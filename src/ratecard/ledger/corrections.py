"""The pure function's invoices against the ledger: what to issue, and why.

    pure invoices (billing, with the ledger's final draws as input)
      + ledger state (slots: each billed invoice's issued number, its lines as
        last billed, what the ledger's documents bill towards it)
      -> new invoices for periods now finalized (past the grace)
      -> for every issued invoice the pricing now bills differently
         (delta = what it bills now - what the ledger has billed for it):
           delta > 0: adjustment lines on the contract's next invoice issued
                      in this run; a contract that has ended gets a standalone
                      adjustment invoice; otherwise it waits (pending)
           delta < 0: a credit note referencing the invoice, now

Each adjustment line says why, from the line-by-line difference: late (or
withdrawn) events and how many, a price change and which rule. A slot's
differences that no line explains (a voided and re-issued invoice that other
documents had corrected) become one balance line, so the documents always
add up to what the pricing says. Nothing here touches the database: it
returns a `Proposal` that `issue` writes in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from ..billing.documents import Breakage, Invoice, PeriodRange
from ..model import Contract, Issuing, RatingPlan
from ..money import plain
from ..money import zero as money_zero
from .documents import Correction, LedgerDocument
from ..compiler.numbering import parse_format
from .state import LedgerState

ZERO = Decimal(0)
SERIES_OF = {"usage": "invoices", "credit_purchase": "invoices", "advance": "invoices", "adjustment": "invoices",
             "credit_note": "credit_notes"}


def slot_of(inv: Invoice) -> str:
    """The key of the invoice the pure function bills: one per contract period or credit purchase."""
    return f"{inv.kind}:{inv.contract}:{inv.number}"


@dataclass
class Planned:
    """A numbered document to issue, and what it bills towards each slot."""

    doc: LedgerDocument
    series: str
    seq: int
    entries: list[tuple[str, Decimal]]
    fingerprint: str


@dataclass
class Pending:
    """An increase that waits for the contract's next invoice."""

    contract: str
    corrects: str
    amount: Decimal
    reasons: list[str]


@dataclass
class Proposal:
    documents: list[Planned] = field(default_factory=list)
    slots: dict[str, dict] = field(default_factory=dict)  # slot -> row to write (insert or update)
    draws: list[dict] = field(default_factory=list)
    breakage: list[dict] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)  # contracts with documents but not in the pricing
    series: dict[str, int] = field(default_factory=dict)  # series -> last number, after this run

    @property
    def empty(self) -> bool:
        return not self.documents


class _Numbers:
    """Gapless numbers, handed out in the order documents are made."""

    def __init__(self, last: dict[str, int], issuing: Issuing):
        self.last = dict(last)
        self.formats = {"invoices": parse_format(issuing.invoices),
                        "credit_notes": parse_format(issuing.credit_notes)}

    def next(self, series: str) -> tuple[int, str]:
        seq = self.last.get(series, 0) + 1
        self.last[series] = seq
        return seq, self.formats[series].format(seq)


# ----------------------------------------------------------------- lines, digests, reasons


def line_key(d: dict) -> tuple:
    """How one invoice's lines are matched as priced then and now: an advance fee line (or an
    unused-time line) also by the period it is for, so a plan change's two parts stay apart."""
    return (d["kind"], d["charge"], tuple(sorted(d["dimensions"].items())), d["segment"], d.get("service_period"))


def digest(inv: Invoice | None, events: dict[int, int]) -> list[dict]:
    """An invoice's lines as the ledger remembers them (what later reasons are worked out from)."""
    if inv is None:
        return []
    return [_digested(ln, events) for ln in inv.lines]


def _digested(ln, events: dict[int, int]) -> dict:
    d = {
        "kind": ln.kind,
        "charge": ln.charge,
        "description": ln.description,
        "dimensions": dict(ln.dimensions),
        "segment": ln.segment.start.isoformat() if ln.segment is not None else None,
        "quantity": str(ln.quantity),
        "events": events.get(id(ln)),
        "amount": str(ln.amount),
        "rule": ln.rule,
        "modifiers": list(ln.modifiers),
        "unit_price": str(ln.unit_price) if ln.unit_price is not None else None,
        "unit": ln.unit,
    }
    if ln.service_period is not None:  # (only then: the snapshots of other lines stay as they were)
        d["service_period"] = ln.service_period.start.isoformat()
    if ln.pool is not None:  # (likewise) what a pooled line's share moves with
        d["pool"] = str(ln.pool.quantity)
    return d


def _events(n: int) -> str:
    return f"{n} event" + ("" if n == 1 else "s")


def _reason(old: dict | None, new: dict | None) -> str:
    """Why a line changed: late or withdrawn events (how many), a price change (which rule)."""
    if old is None:
        assert new is not None
        if new["kind"] == "usage":
            return f"{_events(new['events'])} late" if new["events"] else "usage billed late"
        return f"{new['description'] or new['charge']} added"
    if new is None:
        if old["kind"] == "usage":
            return f"{_events(old['events'])} withdrawn" if old["events"] else "usage no longer billed"
        return f"{old['description'] or old['charge']} no longer billed"
    parts = []
    quantity_changed = Decimal(old["quantity"]) != Decimal(new["quantity"])
    if old["kind"] == "usage" and quantity_changed:
        before, after = old["events"] or 0, new["events"] or 0
        if after > before:
            parts.append(f"{_events(after - before)} late")
        elif after < before:
            parts.append(f"{_events(before - after)} withdrawn")
        else:
            parts.append("usage corrected")
    price_changed = (old.get("unit_price") != new.get("unit_price")
                     or _bare(old["modifiers"]) != _bare(new["modifiers"])
                     or (not quantity_changed and Decimal(old["amount"]) != Decimal(new["amount"])))
    if price_changed and _share_moved(old, new, quantity_changed):
        parts.append(_share_reason(old, new))
    elif price_changed:
        if new["kind"] in ("usage", "credit"):
            was = old.get("unit_price")
            now = new.get("unit_price")
            change = f" ({was} -> {now} per {new.get('unit') or 'unit'})" if was and now and was != now else ""
            parts.append(f"price change: {_rule(new)}{change}")
        else:
            parts.append(f"{new['description'] or new['charge']} changed")
    return "; ".join(parts) or "recomputed"


def _share_moved(old: dict, new: dict, quantity_changed: bool) -> bool:
    """A pooled line whose amount moved with its quantity, rule and price as they were, in a
    pool whose quantity other lines moved (late usage in another region): its share of the
    pool changed, no price did. (A snapshot from before pools were remembered says nothing.)"""
    was, now = old.get("pool"), new.get("pool")
    return (was is not None and now is not None and Decimal(was) != Decimal(now)
            and new["kind"] == "usage" and not quantity_changed and old["rule"] == new["rule"]
            and old.get("unit_price") == new.get("unit_price")
            and _bare(old["modifiers"]) == _bare(new["modifiers"]))


def _share_reason(old: dict, new: dict) -> str:
    return (f"share of the pool changed: the pool's quantity {plain(Decimal(old['pool']))} -> "
            f"{plain(Decimal(new['pool']))}")


def _bare(modifiers: list[str]) -> list[str]:
    """Modifiers as they price ("20% off"), without where they were written."""
    return [m.split(" (", 1)[0] for m in modifiers]


def _rule(d: dict) -> str:
    text = d["rule"] or d["description"] or d["charge"]
    if d["modifiers"]:
        text += " with " + ", ".join(d["modifiers"])
    return text


def changes(old: list[dict], new: list[dict], corrects: str, period: PeriodRange) -> list[Correction]:
    """Adjustment lines from an invoice's lines as last billed to its lines now."""
    before = {line_key(d): d for d in old}
    after = {line_key(d): d for d in new}
    keys = [line_key(d) for d in new] + [line_key(d) for d in old if line_key(d) not in after]
    out = []
    for key in keys:
        o, n = before.get(key), after.get(key)
        amount = Decimal(n["amount"] if n else 0) - Decimal(o["amount"] if o else 0)
        q_old, q_new = Decimal(o["quantity"]) if o else ZERO, Decimal(n["quantity"]) if n else ZERO
        if amount == 0 and q_old == q_new:
            continue  # the same line (perhaps priced by a rule written elsewhere now)
        d = n or o
        out.append(Correction(
            corrects=corrects,
            period=period,
            charge=d["charge"],
            description=d["description"],
            dimensions=d["dimensions"],
            quantity=(q_new - q_old) if d["kind"] == "usage" else None,
            amount=amount,
            reason=_reason(o, n),
        ))
    return out


# ----------------------------------------------------------------- fingerprints


class Fingerprints:
    """sha256 of what determined an invoice: the contract's terms, its plan and meters,
    the project's currency and rounding, the period, its usage (per line: meter,
    dimension values, quantity, events) and its credit draws. Not where rules were
    written, not the run's date, not ratecard's version."""

    def __init__(self, plan: RatingPlan):
        self.plan = plan
        self.terms: dict[str, str] = {}

    def _terms(self, contract: Contract) -> str:
        found = self.terms.get(contract.name)
        if found is None:
            plan = self.plan
            plan_obj = plan.plans.get(contract.plan)
            meters = sorted({c.meter for c in plan_obj.charges}) if plan_obj else []
            data = {"currency": plan.currency, "rounding": plan.rounding,
                    "contract": contract.model_dump(mode="json"),
                    "plan": plan_obj.model_dump(mode="json") if plan_obj else None,
                    "meters": {m: plan.meters[m].model_dump(mode="json") for m in meters if m in plan.meters}}
            found = self.terms[contract.name] = _sha(data)
        return found

    def of(self, inv: Invoice | None, contract: Contract | None, events: dict[int, int]) -> str:
        if inv is None or contract is None:
            return _sha(None)
        return _sha({
            "terms": self._terms(contract),
            "kind": inv.kind,
            "period": [inv.period.start.isoformat(), inv.period.end.isoformat()],
            "usage": [[ln.charge, sorted(ln.dimensions.items()), str(ln.quantity), events.get(id(ln)),
                       ln.segment.start.isoformat() if ln.segment else None]
                      for ln in inv.lines if ln.kind == "usage"],
            "drawn": [[c.grant, str(c.applied)] for c in inv.credits],
        })


def _sha(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def combined(fingerprints: list[str]) -> str:
    return _sha(sorted(fingerprints))


# ----------------------------------------------------------------- the reconciliation


def finalizable(inv: Invoice, through: dt.date, grace_days: int) -> bool:
    """A usage invoice once its period ended the grace before `through`; a credit
    purchase once granted, and the opening invoice of fees in advance on `starts` (there
    is no usage to wait for)."""
    if inv.kind in ("credit_purchase", "advance"):
        return inv.issued <= through
    return inv.period.end + dt.timedelta(days=grace_days) <= through


def reconcile(plan: RatingPlan, issuing: Issuing, invoices: list[Invoice], events: dict[int, int],
              breakage: list[Breakage], state: LedgerState, through: dt.date, grace_days: int,
              only: str | None = None) -> Proposal:
    """Everything one run issues. `invoices`, `events` (id of a usage line -> its
    event count) and `breakage` are the pure function's, priced with `state.drawn`
    as its final draws."""
    fps = Fingerprints(plan)
    numbers = _Numbers(state.series, issuing)
    out = Proposal()
    in_scope = {only} if only is not None else set(plan.contracts)
    out.unpriced = sorted(c for c in state.contracts if c not in plan.contracts and only is None)

    pure = {slot_of(inv): inv for inv in invoices if inv.contract in in_scope}
    billed = {s: st.billed for s, st in state.slots.items()}
    original = {s: st.original for s, st in state.slots.items()}

    # 1. invoices for periods (and credit purchases) now final
    made: dict[str, dict] = {}  # slot -> fields of its new document (corrections added below)
    fresh = sorted((inv for inv in pure.values()
                    if finalizable(inv, through, grace_days) and original.get(slot_of(inv)) is None),
                   key=lambda i: (i.issued, i.contract, i.kind != "credit_purchase", i.period.start, i.number))
    for inv in fresh:
        slot = slot_of(inv)
        contract = plan.contracts[inv.contract]
        seq, number = numbers.next("invoices")
        # the invoice's own (validated, frozen) lines and credits, not copies: pydantic takes
        # model instances as they are, so building the document costs no second validation
        fields = {name: getattr(inv, name) for name in Invoice.model_fields}
        fields.update(number=number, plan_title=_plan_title(plan, inv.plan), corrections=[],
                      corrections_total=ZERO, billed_as=inv.number)
        made[slot] = {"fields": fields, "seq": seq, "entries": [(slot, inv.total)], "inv": inv,
                      "fingerprint": fps.of(inv, contract, events)}
        original[slot] = number
        billed[slot] = billed.get(slot, ZERO) + inv.total
        out.slots[slot] = _slot_row(slot, inv, number, digest(inv, events), made[slot]["fingerprint"])
        if inv.kind in ("usage", "advance") and slot not in state.drawn_slots:
            out.draws.extend({"slot": slot, "grant_id": c.grant, "contract": inv.contract,
                              "period_start": inv.period.start, "number": number, "amount": str(c.applied)}
                             for c in inv.credits)

    # 2. what every issued invoice of the contracts priced now bills differently
    increases: dict[str, list[tuple[str, list[Correction], Decimal, str]]] = {}
    decreases: list[tuple[str, str, list[Correction], Decimal, str]] = []
    for slot in sorted(set(state.slots) | set(made)):
        st = state.slots.get(slot)
        contract_name = st.contract if st is not None else made[slot]["inv"].contract
        if contract_name not in in_scope or contract_name not in plan.contracts:
            continue
        number = original.get(slot)
        if number is None:
            continue  # voided, and not (yet) issued again
        inv = pure.get(slot)
        period = inv.period if inv is not None else PeriodRange(start=st.period_start, end=st.period_end)
        if inv is None and _beyond(st, through):
            continue  # a later run's period: the pricing says nothing of it through this date
        contract = plan.contracts[contract_name]
        fingerprint = fps.of(inv, contract, events)
        delta = (inv.total if inv is not None else ZERO) - billed.get(slot, ZERO)
        if delta == 0:
            if slot not in made and st.fingerprint != fingerprint:
                # the inputs moved, the total did not: remember the lines as they are now
                out.slots[slot] = _slot_update(st, digest(inv, events), fingerprint)
            continue
        now = digest(inv, events)
        before = now if slot in made else st.snapshot  # a new invoice bills its lines as they are now
        lines = changes(before, now, number, period)
        rest = delta - sum((c.amount for c in lines), ZERO)
        if rest != 0:
            lines.append(Correction(
                corrects=number, period=period, charge="", description="Balance of the documents issued",
                amount=rest, reason=f"brings what the ledger bills for {number} to what the pricing bills now"))
        if slot in made:
            made[slot]["fingerprint_after"] = fingerprint
        else:
            out.slots[slot] = _slot_update(st, now, fingerprint)
        entry = (slot, lines, delta, fingerprint)
        if delta > 0:
            increases.setdefault(contract_name, []).append(entry)
        else:
            decreases.append((contract_name, *entry))

    # 3. increases: onto the contract's next invoice, or a standalone invoice once it has ended
    standalone = []
    for contract_name, entries in sorted(increases.items()):
        contract = plan.contracts[contract_name]
        carriers = sorted((s for s, m in made.items()
                           if m["inv"].contract == contract_name and m["inv"].kind == "usage"),
                          key=lambda s: made[s]["inv"].period.start)
        for slot, lines, delta, fingerprint in entries:
            carrier = next((c for c in carriers if c != slot), None)
            if carrier is not None:
                m = made[carrier]
                m["fields"]["corrections"].extend(lines)
                m["entries"].append((slot, delta))
                m.setdefault("corrected", []).append(fingerprint)
            elif _ended(contract, pure, original, through):
                standalone.append((contract_name, original[slot], slot, lines, delta, fingerprint))
            else:
                out.pending.append(Pending(contract_name, original[slot], delta, [c.reason for c in lines]))
                if slot not in made:
                    out.slots.pop(slot, None)  # its lines stay as last billed until the increase is carried

    docs: list[Planned] = []
    for slot, m in made.items():
        fields = m["fields"]
        total_corr = sum((c.amount for c in fields["corrections"]), ZERO)
        fields["corrections_total"] = total_corr
        fields["total"] = fields["subtotal"] - fields["credits_applied"] + total_corr
        fp = m["fingerprint"] if "corrected" not in m else combined([m["fingerprint"], *m["corrected"]])
        docs.append(Planned(LedgerDocument(**fields), "invoices", m["seq"], m["entries"], fp))
    docs.sort(key=lambda p: p.seq)

    for contract_name, corrects, slot, lines, delta, fingerprint in sorted(standalone, key=lambda x: (x[0], x[1])):
        seq, number = numbers.next("invoices")
        docs.append(Planned(_correction_doc(plan, contract_name, number, "adjustment", corrects, lines,
                                            delta, through, None),
                            "invoices", seq, [(slot, delta)], fingerprint))
    for contract_name, slot, lines, delta, fingerprint in sorted(decreases, key=lambda x: (x[0], original[x[1]])):
        seq, number = numbers.next("credit_notes")
        reasons = "; ".join(dict.fromkeys(c.reason for c in lines))
        docs.append(Planned(_correction_doc(plan, contract_name, number, "credit_note", original[slot], lines,
                                            delta, through, reasons),
                            "credit_notes", seq, [(slot, delta)], fingerprint))
    out.documents = docs
    out.series = numbers.last

    # 4. breakage, once: a grant closed by an invoice the ledger now holds
    for b in breakage:
        if (b.contract, b.grant) in state.breakage or b.contract not in in_scope:
            continue
        closing = next((s for s, inv in pure.items()
                        if inv.kind == "usage" and inv.contract == b.contract and inv.period.end == b.expired),
                       None)
        if closing is None or original.get(closing) is None:
            continue
        out.breakage.append({"contract": b.contract, "grant_id": b.grant, "amount": str(b.amount),
                             "closed_on": b.expired, "number": original[closing]})
    return out


def _beyond(st, through: dt.date) -> bool:
    if st.kind in ("credit_purchase", "advance"):
        return st.period_start > through
    return st.period_end > through


def _ended(contract: Contract, pure: dict[str, Invoice], original: dict[str, str | None],
           through: dt.date) -> bool:
    """Will the contract issue no further usage invoice? Its last period has ended
    and every usage invoice of it is in the ledger."""
    end = contract.end_exclusive
    if end is None or end > through:
        return False
    usage = [s for s, inv in pure.items() if inv.contract == contract.name and inv.kind == "usage"]
    if not usage or max(pure[s].period.end for s in usage) != end:
        return False
    return all(original.get(s) is not None for s in usage)


def _slot_row(slot: str, inv: Invoice, number: str, snapshot: list[dict], fingerprint: str) -> dict:
    return {"slot": slot, "contract": inv.contract, "kind": inv.kind, "period_start": inv.period.start,
            "period_end": inv.period.end, "original": number, "snapshot": json.dumps(snapshot, sort_keys=True),
            "fingerprint": fingerprint}


def _slot_update(st, snapshot: list[dict], fingerprint: str) -> dict:
    return {"slot": st.slot, "contract": st.contract, "kind": st.kind, "period_start": st.period_start,
            "period_end": st.period_end, "original": st.original,
            "snapshot": json.dumps(snapshot, sort_keys=True), "fingerprint": fingerprint}


def _plan_title(plan: RatingPlan, name: str) -> str:
    """The title `ratecard invoice` shows for plan `name` (its id when it has none)."""
    found = plan.plans.get(name)
    return found.title if found is not None else name


def _correction_doc(plan: RatingPlan, contract_name: str, number: str, kind: str, corrects: str,
                    lines: list[Correction], delta: Decimal, through: dt.date, reason: str | None
                    ) -> LedgerDocument:
    """A standalone adjustment invoice or a credit note, dated the run's `through` date."""
    contract = plan.contracts[contract_name]
    period = lines[0].period
    total_corr = sum((c.amount for c in lines), ZERO)
    days = contract.payment_days if kind == "adjustment" else 0
    zero = money_zero(plan.currency)
    return LedgerDocument(
        number=number, kind=kind, contract=contract.name, customer=contract.customer, plan=contract.plan,
        plan_title=_plan_title(plan, contract.plan), period=period, issued=through, due=through + dt.timedelta(days=days), payment_terms_days=days,
        currency=plan.currency, autopay=contract.autopay, lines=[], subtotal=zero, credits_applied=zero,
        credits=[], corrections=lines, corrections_total=total_corr,
        total=total_corr if kind == "adjustment" else -total_corr, corrects=corrects, reason=reason,
        billed_as=None)
