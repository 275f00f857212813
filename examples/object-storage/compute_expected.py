"""Computes expected.json for this example independently of ratecard.

Pure Python (decimal.Decimal for money, fractions.Fraction for the exact
time integral); it does not import ratecard. It reads usage.jsonl and bills it
by LANGUAGE.md's rules, Part 2 (and docs/part2-decisions.md where the spec is
silent), with the prices of the .pricing files copied here by hand, so a
mistake in the compiler cannot hide in both sides. The output has the shape of
a conformance case (`{"args": [...], "expect": {...}}`): diff
`ratecard invoice --format json` against it, or use it as a case.json.

    python examples/object-storage/compute_expected.py
"""

import datetime as dt
import json
from collections import defaultdict
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).parent
CENT = Decimal("0.01")
THROUGH = dt.date(2026, 4, 1)
INF = None

PLANS = {
    "standard": {
        "STORAGE": ("pooled graduated", [(Decimal(50_000), Decimal("0.023")),
                                         (Decimal(500_000), Decimal("0.022")), (INF, Decimal("0.021"))]),
        "WRITE_REQUESTS": ("per 1K", Decimal("0.005")),
        "READ_REQUESTS": ("per 1K", Decimal("0.0004")),
    },
    "archive": {
        "minimum": Decimal(250),
        "STORAGE": ("pooled volume", [(Decimal(20_000), Decimal("0.0125")), (INF, Decimal("0.01"))]),
        "WRITE_REQUESTS": ("per 1K", Decimal("0.01")),
        "READ_REQUESTS": ("per 1K", Decimal("0.001")),
    },
}
CHARGES = ("STORAGE", "WRITE_REQUESTS", "READ_REQUESTS")   # the plans' charge order
CONTRACTS = {
    "acme": {"customer": "cus_acme", "plan": "standard", "starts": dt.date(2026, 1, 1), "net": 30,
             "grants": [  # in contract order
                 {"description": "Outage credit", "amount": Decimal(300), "priority": 2,
                  "applies_to": None, "expires": dt.datetime(2026, 3, 1)},
                 {"description": "Migration credit, storage only", "amount": Decimal(1500),
                  "priority": 1, "applies_to": {"STORAGE"}, "expires": dt.datetime(2026, 3, 1)}]},
    "globex": {"customer": "cus_globex", "plan": "standard", "starts": dt.date(2026, 1, 15), "net": 15,
               "grants": []},
    "initech": {"customer": "cus_initech", "plan": "archive", "starts": dt.date(2026, 1, 1), "net": 30,
                "grants": []},
}


def money(x) -> Decimal:
    return Decimal(x).quantize(CENT, rounding=ROUND_HALF_UP)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def add_month(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    return dt.date(d.year + y, m + 1, 1)


def periods(starts: dt.date):
    """Monthly periods anchored at `starts` (all anchors here are day <= 28)."""
    out, k = [], 0
    while True:
        a = add_month(starts.replace(day=1), k).replace(day=starts.day)
        b = add_month(starts.replace(day=1), k + 1).replace(day=starts.day)
        if b > THROUGH:
            return out
        out.append((a, b))
        k += 1


def month_fraction(a: dt.datetime, b: dt.datetime) -> Fraction:
    """[a, b) in months: each second divided by the length of its calendar month."""
    total = Fraction(0)
    while a < b:
        first = dt.datetime(a.year, a.month, 1)
        nxt = dt.datetime.combine(add_month(first.date(), 1), dt.time())
        piece_end = min(b, nxt)
        total += Fraction(int((piece_end - a).total_seconds()), int((nxt - first).total_seconds()))
        a = piece_end
    return total


def to_decimal(f: Fraction, places: str) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(f.numerator) / Decimal(f.denominator)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def weighted_lines(reports, start: dt.date, end: dt.date) -> dict:
    """GB-months per bucket in [start, end): each report holds until the next one."""
    a, b = dt.datetime.combine(start, dt.time()), dt.datetime.combine(end, dt.time())
    out = {}
    for bucket, rs in reports.items():
        rs = sorted(rs, key=lambda r: (r[0], r[1]))     # time, then id: the greater id holds
        integral, has_report = Fraction(0), False
        for i, (t, _id, value) in enumerate(rs):
            until = rs[i + 1][0] if i + 1 < len(rs) else b
            lo, hi = max(t, a), min(until, b)
            if lo < hi:
                integral += value * month_fraction(lo, hi)
            has_report |= a <= t < b
        if integral != 0 or has_report:
            out[bucket] = to_decimal(integral, "0.000000001")
    return out


def tiered(mode: str, tiers, q: Decimal) -> Decimal:
    if mode == "pooled volume":
        for upper, p in tiers:
            if upper is None or q <= upper:
                return q * p
    amount, lower = Decimal(0), Decimal(0)
    for upper, p in tiers:
        top = q if upper is None else min(q, upper)
        if top > lower:
            amount += (top - lower) * p
        lower = upper if upper is not None else lower
    return amount


def share_pool(total: Decimal, quantities: list) -> list:
    """Largest remainder: shares of the rounded total, in cents, adding up exactly."""
    q_sum = sum(quantities, Decimal(0))
    if q_sum == 0:
        return [Decimal("0.00")] * len(quantities)
    cents = int(total / CENT)
    exact = [Fraction(cents) * Fraction(q) / Fraction(q_sum) for q in quantities]
    floors = [int(e) for e in exact]
    left = cents - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(f) * CENT for f in floors]


def bill(name: str, events: list):
    c = CONTRACTS[name]
    plan = PLANS[c["plan"]]
    reports = defaultdict(list)
    mine = [e for e in events if e["customer"] == c["customer"]]
    for e in mine:
        if e["type"] == "storage.reported":
            p = e["properties"]
            reports[p["bucket"]].append((at(e["time"]), e["id"], Fraction(p["gigabytes"])))
    balances = [g["amount"] for g in c["grants"]]
    order = sorted(range(len(c["grants"])), key=lambda i: (
        c["grants"][i]["priority"] is None, c["grants"][i]["priority"] or 0,
        c["grants"][i]["expires"] is None, c["grants"][i]["expires"] or dt.datetime.max, i))
    invoices, pools = [], []
    for start, end in periods(c["starts"]):
        lines = []
        storage = weighted_lines(reports, start, end)
        buckets = sorted(storage)
        mode, tiers = plan["STORAGE"]
        pool_q = sum((storage[b] for b in buckets), Decimal(0))
        pool_total = money(tiered(mode, tiers, pool_q))
        shares = share_pool(pool_total, [storage[b] for b in buckets])
        pools.append({"contract": name, "period": start.isoformat(), "pool_quantity": str(pool_q),
                      "pool_total": str(pool_total)})
        for b, share in zip(buckets, shares):
            lines.append({"charge": "STORAGE", "dimensions": {"bucket": b},
                          "quantity": str(storage[b]), "amount": str(share)})
        for meter, op_ok in (("WRITE_REQUESTS", {"PUT", "COPY", "POST", "LIST"}), ("READ_REQUESTS", {"GET"})):
            q = defaultdict(Decimal)
            for e in mine:
                t, p = at(e["time"]), e["properties"]
                if e["type"] == "storage.requests" and p["operation"] in op_ok and start <= t.date() < end:
                    q[p["bucket"]] += Decimal(p["requests"])
            price = plan[meter][1]
            for b in sorted(q):
                lines.append({"charge": meter, "dimensions": {"bucket": b}, "quantity": str(q[b]),
                              "unit_price": str(price), "amount": str(money(q[b] / 1000 * price))})
        minimum = plan.get("minimum")
        spend = sum((Decimal(l["amount"]) for l in lines), Decimal(0))
        if minimum is not None and spend < minimum:       # the true-up: never discounted nor capped
            lines.append({"charge": "Minimum spend", "dimensions": {}, "kind": "minimum",
                          "amount": str(money(minimum - spend))})
        subtotal = sum((Decimal(l["amount"]) for l in lines), Decimal(0))
        unpaid = [Decimal(l["amount"]) for l in lines]          # what each line still owes
        credits = []
        for g in order:
            grant = c["grants"][g]
            active = dt.datetime.combine(start, dt.time()) < grant["expires"] and \
                c["starts"] < end                               # granted at the contract start
            if not active or balances[g] == 0:
                continue
            burned = Decimal(0)
            for i, l in enumerate(lines):                       # in invoice line order
                if grant["applies_to"] is None or l["charge"] in grant["applies_to"]:
                    take = min(unpaid[i], balances[g] - burned)
                    unpaid[i] -= take
                    burned += take
            if burned:
                balances[g] -= burned
                credits.append({"description": grant["description"], "applied": str(burned),
                                "remaining": str(balances[g])})
        applied = sum((Decimal(x["applied"]) for x in credits), Decimal(0))
        invoices.append({"contract": name, "kind": "usage",
                         "period": {"start": start.isoformat(), "end": end.isoformat()},
                         "issued": end.isoformat(), "due": (end + dt.timedelta(days=c["net"])).isoformat(),
                         "subtotal": str(money(subtotal)), "credits_applied": str(money(applied)),
                         "total": str(money(subtotal - applied)), "lines": lines, "credits": credits})
    breakage = [{"contract": name, "grant": c["grants"][g]["description"], "amount": str(money(balances[g]))}
                for g in range(len(balances)) if c["grants"][g]["expires"].date() <= THROUGH]
    return invoices, breakage, pools


def main() -> None:
    seen, events = set(), []
    for line in (HERE / "usage.jsonl").read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        if (e["customer"], e["id"]) not in seen:                 # a repeated id counts once
            seen.add((e["customer"], e["id"]))
            events.append(e)
    invoices, breakage, pools = [], [], []
    for name in CONTRACTS:
        i, b, p = bill(name, events)
        invoices += i
        breakage += b
        pools += p
    by_contract = defaultdict(Decimal)
    for b in breakage:
        by_contract[b["contract"]] += Decimal(b["amount"])
    # the conformance runner compares every invoice field it is given: the credits drawn go to notes
    burned = [{"contract": i["contract"], "kind": i["kind"], "period": i["period"]["start"],
               "credits": i.pop("credits")} for i in invoices if "credits" in i]
    case = {"args": ["invoice", "meters.pricing", "plans.pricing", "contracts.pricing",
                     "--usage", "usage.jsonl", "--through", THROUGH.isoformat(), "--format", "json"],
            "expect": {"exact_invoice_set": True, "invoices": invoices,
                       "breakage": [{"contract": k, "amount": str(v)} for k, v in by_contract.items()]},
            "notes": {"breakage_by_grant": breakage, "pools": pools, "credits_drawn": burned}}
    (HERE / "expected.json").write_text(json.dumps(case, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
