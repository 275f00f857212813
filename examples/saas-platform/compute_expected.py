"""Computes expected.json for this example independently of ratecard.

Pure Python with decimal.Decimal; it does not import ratecard. It reads
usage.jsonl and bills it by LANGUAGE.md, "Part 2", in the normative order of an
invoice (usage and fee lines, discounts, spend cap, minimum true-up, prepaid
credits), deciding where the spec is silent as docs/part2-decisions.md says.
The prices are copied here by hand from the .pricing files, so a mistake in the
compiler cannot hide in both sides. The output has the shape of a conformance
case (`{"args": [...], "expect": {...}}`); `notes` adds what the case format
cannot hold (unused allowances and discounts, each line's allocations).

    python examples/saas-platform/compute_expected.py
"""

import datetime as dt
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).parent
CENT = Decimal("0.01")
THROUGH = dt.date(2026, 4, 1)
D = Decimal

COMPUTE = {"micro": D("0.01344"), "small": D("0.0206"), "medium": D("0.0822")}
EGRESS = [(D(250), D(0)), (None, D("0.09"))]
MAU = [(D(100_000), D(0)), (None, D("0.00325"))]
PLANS = {
    "pro": {"fee": ("Pro plan", D(25)), "cap": D(150), "net": 15,
            "allowance": ("Compute credits", D(10), {"COMPUTE_HOURS"})},
    "team": {"fee": ("Team plan", D(599)), "cap": None, "net": 15,
             "allowance": ("Compute credits", D(10), {"COMPUTE_HOURS"})},
}
CONTRACTS = {
    "lumen": {"customer": "cus_lumen", "starts": dt.date(2026, 1, 10),
              "plans": [(dt.date(2026, 1, 10), "pro"), (dt.date(2026, 3, 15), "team")],
              "discounts": [{"description": "Launch discount", "percent": D("0.20"), "periods": 3}],
              "grants": [
                  {"description": "Startup program", "amount": D(200), "priority": 1,
                   "applies_to": {"COMPUTE_HOURS", "EGRESS_GB"}, "expires": dt.datetime(2026, 7, 1)},
                  {"description": "Prepaid balance", "amount": D(500), "price": D(450), "priority": None,
                   "applies_to": None, "expires": dt.datetime(2026, 12, 31, 23, 59, 59)}]},
    "orbit": {"customer": "cus_orbit", "starts": dt.date(2026, 2, 1), "plans": [(dt.date(2026, 2, 1), "pro")],
              "discounts": [{"description": "Discount", "amount": D(40), "periods": 1}], "grants": []},
}


def money(x) -> Decimal:
    return D(x).quantize(CENT, rounding=ROUND_HALF_UP)


def first_of_next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)


def periods(starts: dt.date, count: int):
    """`monthly on day 1`: (start, end, days of the full period) - the first may be short."""
    out, a = [], starts
    while len(out) < count:
        b = first_of_next_month(a)
        out.append((a, b, (b - a.replace(day=1)).days))
        a = b
    return out


def parts(c, start, end):
    """The plan parts of [start, end): (plan, part start, part end)."""
    changes = [(d, p) for d, p in c["plans"] if d < end]
    out = []
    for i, (d, p) in enumerate(changes):
        a = max(d, start)
        b = min(changes[i + 1][0], end) if i + 1 < len(changes) else end
        if a < b:
            out.append((p, a, b))
    return out


def tiered(tiers, q: Decimal) -> Decimal:
    amount, lower = D(0), D(0)
    for upper, price in tiers:
        top = q if upper is None else min(q, upper)
        if top > lower:
            amount += (top - lower) * price
        if upper is not None:
            lower = upper
    return amount


def largest_remainder(total: Decimal, weights: list) -> list:
    """Split `total` (cents) in proportion to `weights`, in cents, adding up exactly; ties to the first."""
    w_sum = sum(weights, D(0))
    if w_sum == 0:
        return [D(0)] * len(weights)
    cents = int(total / CENT)
    exact = [Fraction(cents) * Fraction(w) / Fraction(w_sum) for w in weights]
    floors = [int(e) for e in exact]
    for i in sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))[:cents - sum(floors)]:
        floors[i] += 1
    return [D(f) * CENT for f in floors]


def usage_lines(events, customer, plan, a, b, k):
    """Usage lines of one plan part: plan charge order, then dimension values."""
    compute, egress, mau = defaultdict(D), None, None
    for e in events:
        t = dt.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).replace(tzinfo=None)
        if e["customer"] != customer or not (a <= t.date() < b):
            continue
        p = e["properties"]
        if e["type"] == "compute.usage":
            compute[p["instance"]] += D(str(p["hours"]))
        elif e["type"] == "network.egress":
            egress = (egress or D(0)) + D(str(p["gigabytes"]))
        elif e["type"] == "auth.daily_summary":
            mau = max(mau or D(0), D(p["monthly_active_users"]))
    lines = []
    for inst in sorted(compute):
        lines.append(("COMPUTE_HOURS", {"instance": inst}, compute[inst], compute[inst] * COMPUTE[inst]))
    if egress is not None:
        lines.append(("EGRESS_GB", {}, egress, tiered(EGRESS, egress)))
    if mau is not None:
        lines.append(("MAU", {}, mau, tiered(MAU, mau)))
    return [{"kind": "usage", "charge": ch, "dimensions": dims, "quantity": str(q), "amount": money(x),
             "service": k, "plan": plan, "segment": [a, b]} for ch, dims, q, x in lines]


def fee_lines(c, period, k):
    start, end, full = period
    out = []
    for plan, a, b in parts(c, start, end):
        name, fee = PLANS[plan]["fee"]
        days = (b - a).days
        out.append({"kind": "fee", "charge": name, "dimensions": {}, "quantity": "1" if days == full else str((D(days) / D(full)).quantize(D("0.0000000001"))),
                    "prorated": f"{days}/{full} days",
                    "amount": money(fee * days / full) if days != full else fee,
                    "service": k, "plan": plan, "segment": [a, b]})
    return out


def bill(name, events):
    c = CONTRACTS[name]
    ps = periods(c["starts"], 12)
    closed = [p for p in ps if p[1] <= THROUGH]
    net = PLANS[c["plans"][0][1]]["net"]
    invoices = [{"kind": "advance", "start": c["starts"], "end": c["starts"], "issued": c["starts"],
                 "lines": fee_lines(c, ps[0], 1)}]
    for k, p in enumerate(closed, start=1):
        lines = fee_lines(c, ps[k], k + 1)                    # the next period's fee, in advance
        for plan, a, b in parts(c, p[0], p[1]):
            lines += usage_lines(events, c["customer"], plan, a, b, k)
        invoices.append({"kind": "usage", "start": p[0], "end": p[1], "issued": p[1], "lines": lines})

    budgets = [{k: d["amount"] for k in range(1, d["periods"] + 1)} if "amount" in d else None
               for d in c["discounts"]]
    allowances = {}                                           # (period, part) -> [description, left, scope]
    for k, p in enumerate(ps[:len(closed) + 1], start=1):
        for i, (plan, a, b) in enumerate(parts(c, p[0], p[1])):
            desc, per_month, scope = PLANS[plan]["allowance"]
            allowances[(k, i)] = [desc, money(per_month * (b - a).days / p[2]), scope, D(0)]
    balances = [g["amount"] for g in c["grants"]]
    grant_order = sorted(range(len(c["grants"])), key=lambda i: (
        c["grants"][i]["priority"] is None, c["grants"][i]["priority"] or 0, c["grants"][i]["expires"], i))
    out, lost = [], []
    for inv in invoices:
        lines = inv["lines"]
        for l in lines:
            l["net"] = l["amount"]
        extra = []
        # 1. discounts, in contract order
        for d, budget in zip(c["discounts"], budgets):
            covered = [l for l in lines if l["service"] <= d["periods"]]
            base = sum((l["net"] for l in covered), D(0))
            if "percent" in d:
                amount = money(d["percent"] * sum((l["amount"] for l in covered), D(0)))
            else:
                amount = D(0)
                for k in sorted({l["service"] for l in covered}):
                    # the budget of period k, the covered lines of period k, and the invoice's total
                    room = min(sum((l["net"] for l in covered if l["service"] == k), D(0)),
                               sum((l["net"] for l in lines), D(0)) - amount)
                    amount += min(budget[k], room)
                    budget[k] -= min(budget[k], room)
            if amount:
                for l, share in zip(covered, largest_remainder(amount, [l["net"] for l in covered])):
                    l["net"] -= share
                extra.append({"kind": "discount", "charge": d["description"], "dimensions": {},
                              "amount": -amount})
        # 2. spend cap, per plan part of the period this invoice closes
        if inv["kind"] == "usage":
            p = next(p for p in ps if p[0] == inv["start"])
            for plan, a, b in parts(c, p[0], p[1]):
                cap = PLANS[plan]["cap"]
                if cap is None:
                    continue
                capped = [l for l in lines if l["kind"] == "usage" and l["segment"][0] == a]
                spend = sum((l["net"] for l in capped), D(0))
                limit = cap * (b - a).days / p[2]
                if spend > limit:
                    cut = money(spend - limit)
                    for l, share in zip(capped, largest_remainder(cut, [l["net"] for l in capped])):
                        l["net"] -= share
                    extra.append({"kind": "cap", "charge": "Spend cap", "dimensions": {}, "amount": -cut,
                                  "plan": plan, "limit": str(limit)})
        # 3. credits: the allowances of the periods whose lines are here, then grants
        unpaid = [l["net"] for l in lines]
        credits = []

        def burn(left, scope):
            used = D(0)
            for i, l in enumerate(lines):
                if scope is None or l["charge"] in scope:
                    take = min(unpaid[i], left - used)
                    unpaid[i] -= take
                    used += take
            return used

        for (k, i), a in sorted(allowances.items()):
            if any(l["service"] == k for l in lines):
                saved = list(unpaid)
                used = burn(a[1] - a[3], a[2])
                # an allowance pays only its own period's lines
                for j, l in enumerate(lines):
                    if l["service"] != k:
                        used -= saved[j] - unpaid[j]
                        unpaid[j] = saved[j]
                a[3] += used
                if used:
                    credits.append({"grant": f"allowance {k}", "description": a[0], "applied": str(used)})
        inv_start = dt.datetime.combine(inv["start"], dt.time())
        inv_end = dt.datetime.combine(inv["end"], dt.time())
        for g in grant_order:
            grant, granted = c["grants"][g], dt.datetime.combine(c["starts"], dt.time())
            overlaps = (granted <= inv_start < grant["expires"]) if inv["kind"] == "advance" else \
                (inv_start < grant["expires"] and granted < inv_end)
            if overlaps and balances[g]:
                used = burn(balances[g], grant["applies_to"])
                balances[g] -= used
                if used:
                    credits.append({"grant": grant["description"], "applied": str(used),
                                    "remaining": str(balances[g])})
        all_lines = lines + extra
        subtotal = sum((l["amount"] for l in all_lines), D(0))
        applied = sum((D(x["applied"]) for x in credits), D(0))
        shown = []
        for l in all_lines:
            s = {"kind": l["kind"], "charge": l["charge"], "dimensions": l["dimensions"]}
            for key in ("quantity", "prorated"):
                if key in l:
                    s[key] = l[key]
            s["amount"] = str(money(l["amount"]))
            if "segment" in l:
                s["plan"] = l["plan"]
                s["service_period"] = {"start": l["segment"][0].isoformat(), "end": l["segment"][1].isoformat()}
            if "net" in l and l["net"] != l["amount"]:
                s["net_after_discounts_and_cap"] = str(l["net"])
            shown.append(s)
        out.append({"contract": name, "kind": inv["kind"],
                    "period": {"start": inv["start"].isoformat(), "end": inv["end"].isoformat()},
                    "issued": inv["issued"].isoformat(),
                    "due": (inv["issued"] + dt.timedelta(days=net)).isoformat(),
                    "subtotal": str(money(subtotal)), "credits_applied": str(money(applied)),
                    "total": str(money(subtotal - applied)), "lines": shown, "credits": credits})
        if inv["kind"] == "usage":                          # the period closed: what it left is gone
            k = next(i for i, p in enumerate(ps, start=1) if p[0] == inv["start"])
            for (kk, i), a in allowances.items():
                if kk == k:
                    lost.append({"contract": name, "allowance": f"{a[0]}, period {k}", "granted": str(a[1]),
                                 "unused": str(a[1] - a[3])})
            for d, budget in zip(c["discounts"], budgets):
                if budget and budget.get(k):
                    lost.append({"contract": name, "discount": d["description"], "period": k,
                                 "unused": str(budget[k])})
                    budget[k] = D(0)
    for g in c["grants"]:
        if "price" in g:
            out.insert(0, {"contract": name, "kind": "credit_purchase",
                           "period": {"start": c["starts"].isoformat(), "end": c["starts"].isoformat()},
                           "issued": c["starts"].isoformat(),
                           "due": (c["starts"] + dt.timedelta(days=net)).isoformat(),
                           "subtotal": str(money(g["price"])), "credits_applied": "0.00",
                           "total": str(money(g["price"]))})
    return out, lost, [{"contract": name, "grant": g["description"], "remaining": str(b)}
                       for g, b in zip(c["grants"], balances)]


def main() -> None:
    seen, events = set(), []
    for line in (HERE / "usage.jsonl").read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        if (e["customer"], e["id"]) not in seen:
            seen.add((e["customer"], e["id"]))
            events.append(e)
    invoices, lost, balances = [], [], []
    for name in CONTRACTS:
        i, l, b = bill(name, events)
        invoices += i
        lost += l
        balances += b
    # the conformance runner compares every invoice field it is given: the credits drawn go to notes
    burned = [{"contract": i["contract"], "kind": i["kind"], "period": i["period"]["start"],
               "credits": i.pop("credits")} for i in invoices if "credits" in i]
    case = {"args": ["invoice", "meters.pricing", "plans.pricing", "contracts.pricing",
                     "--usage", "usage.jsonl", "--through", THROUGH.isoformat(), "--format", "json"],
            "expect": {"exact_invoice_set": True, "invoices": invoices},
            "notes": {"unused_allowances_and_discounts": lost, "grant_balances_at_through": balances,
                      "credits_drawn": burned}}
    (HERE / "expected.json").write_text(json.dumps(case, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
