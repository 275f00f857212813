"""Computes expected.json for this example independently of ratecard.

Pure Python with decimal.Decimal; it does not import ratecard. It reads
usage.jsonl and prices it by LANGUAGE.md's rules (and docs/part2-decisions.md
where the spec is silent), with the prices of meters.pricing, plans.pricing and
contracts.pricing copied here by hand, so a mistake in the compiler cannot hide
in both sides. The output has the shape of a conformance case
(`{"args": [...], "expect": {...}}`): diff `ratecard invoice --format json`
against it, or drop it next to the .pricing files as case.json.

    python examples/llm-api/compute_expected.py
"""

import datetime as dt
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).parent
CENT = Decimal("0.01")
MILLION = Decimal(1_000_000)
THROUGH = dt.date(2026, 3, 1)

# List prices per 1M tokens (meters.pricing); "batch" is 50% off each.
LIST = {
    "INPUT_TOKENS": {"sonnet": Decimal("3.00"), "haiku": Decimal("0.80")},
    "CACHED_TOKENS": {"sonnet": Decimal("0.30"), "haiku": Decimal("0.08")},
    "OUTPUT_TOKENS": {"sonnet": Decimal("15.00"), "haiku": Decimal("4.00")},
}
# Northwind's negotiated prices (contracts.pricing): final, batch stated explicitly.
NORTHWIND = {
    ("INPUT_TOKENS", "sonnet", "standard"): Decimal("2.40"),
    ("INPUT_TOKENS", "sonnet", "batch"): Decimal("1.20"),
    ("CACHED_TOKENS", "sonnet", "standard"): Decimal("0.24"),
    ("CACHED_TOKENS", "sonnet", "batch"): Decimal("0.12"),
    ("OUTPUT_TOKENS", "sonnet", "standard"): Decimal("12.00"),
    ("OUTPUT_TOKENS", "sonnet", "batch"): Decimal("6.00"),
}
CONTRACTS = {
    # name: customer, payment terms, override table, credit grants
    "pixel": ("cus_pixel", 30, {}, []),
    "northwind": ("cus_northwind", 45, NORTHWIND, [
        {"amount": Decimal(300), "applies_to": {"OUTPUT_TOKENS"}, "priority": 1,
         "expires": dt.datetime(2026, 3, 1)}]),
}
PERIODS = [(dt.date(2026, 1, 1), dt.date(2026, 2, 1)), (dt.date(2026, 2, 1), dt.date(2026, 3, 1))]
METERS = ("INPUT_TOKENS", "CACHED_TOKENS", "OUTPUT_TOKENS")


def money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def price(contract: str, meter: str, model: str, tier: str) -> Decimal:
    negotiated = CONTRACTS[contract][2].get((meter, model, tier))
    if negotiated is not None:
        return negotiated                      # a contract price is final
    base = LIST[meter][model]
    return base * Decimal("0.5") if tier == "batch" else base


def quantity(meter: str, props: dict) -> Decimal:
    if meter == "INPUT_TOKENS":
        return Decimal(props["prompt_tokens"]) - Decimal(props["cached_tokens"])
    if meter == "CACHED_TOKENS":
        return Decimal(props["cached_tokens"])
    return Decimal(props["completion_tokens"])


def read_usage():
    seen, events = set(), []
    for line in (HERE / "usage.jsonl").read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        if (e["customer"], e["id"]) in seen:
            continue                             # a repeated id counts once
        seen.add((e["customer"], e["id"]))
        events.append(e)
    return events


def invoices_of(name: str, events: list) -> list:
    customer, terms, _, grants = CONTRACTS[name]
    balances = [g["amount"] for g in grants]
    out = []
    for start, end in PERIODS:
        qty = defaultdict(Decimal)
        for e in events:
            t = dt.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).replace(tzinfo=None)
            if e["customer"] == customer and start <= t.date() < end:
                p = e["properties"]
                for meter in METERS:
                    qty[(meter, p["model"], p["service_tier"])] += quantity(meter, p)
        lines = []
        for meter in METERS:
            for model, tier in sorted({(m, t) for (mt, m, t) in qty if mt == meter}):
                q = qty[(meter, model, tier)]
                unit = price(name, meter, model, tier)
                lines.append({"charge": meter, "dimensions": {"model": model, "service_tier": tier},
                              "quantity": str(q), "unit_price": str(unit.normalize()),
                              "amount": str(money(q / MILLION * unit))})
        subtotal = sum((Decimal(l["amount"]) for l in lines), Decimal(0))
        applied, remaining = Decimal(0), subtotal
        for i, g in enumerate(sorted(range(len(grants)), key=lambda k: grants[k]["priority"])):
            grant = grants[g]
            if not (dt.datetime.combine(start, dt.time()) < grant["expires"]):
                continue
            covered = sum((Decimal(l["amount"]) for l in lines if l["charge"] in grant["applies_to"]),
                          Decimal(0))
            burn = min(balances[g], covered, remaining)
            balances[g] -= burn
            applied += burn
            remaining -= burn
        out.append({"contract": name, "kind": "usage",
                    "period": {"start": start.isoformat(), "end": end.isoformat()},
                    "issued": end.isoformat(), "due": (end + dt.timedelta(days=terms)).isoformat(),
                    "subtotal": str(money(subtotal)), "credits_applied": str(money(applied)),
                    "total": str(money(subtotal - applied)), "lines": lines})
    breakage = [{"contract": name, "amount": str(b)} for b in balances if b > 0]
    return out, breakage


def main() -> None:
    events = read_usage()
    invoices, breakage = [], []
    for name in CONTRACTS:
        inv, br = invoices_of(name, events)
        invoices += inv
        breakage += br
    case = {"args": ["invoice", "meters.pricing", "plans.pricing", "contracts.pricing",
                     "--usage", "usage.jsonl", "--through", THROUGH.isoformat(), "--format", "json"],
            "expect": {"exact_invoice_set": True, "invoices": invoices, "breakage": breakage}}
    (HERE / "expected.json").write_text(json.dumps(case, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
