"""Writes usage.jsonl: a quarter (Jan-Mar 2026) of object-storage usage.

Deterministic (fixed seed). Per customer and day: a storage snapshot per class
(the meter bills the period's peak), data transfer out per region, and request
counts per operation rolled up per bucket.

    python examples/storage/generate_usage.py
"""

import datetime as dt
import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("usage.jsonl")
UTC = dt.timezone.utc

# customer: (first day, last day, standard GB start->end, archive GB start->end,
#            egress GB/day, read requests/day, write requests/day, buckets)
CUSTOMERS = {
    "cus_nordlicht": ((2026, 1, 1), (2026, 3, 31), (800, 1_600), (2_000, 6_000), 4, 400_000, 40_000, 6),
    "cus_atelier": ((2026, 1, 10), (2026, 3, 20), (150, 260), (0, 0), 1.5, 90_000, 6_000, 3),
    "cus_bergwerk": ((2026, 1, 1), (2026, 3, 31), (30_000, 62_000), (40_000, 90_000), 220, 9_000_000,
                     700_000, 24),
    "cus_dataforge": ((2026, 1, 1), (2026, 3, 31), (110_000, 140_000), (300_000, 420_000), 1_600,
                      35_000_000, 4_000_000, 40),
}
REGIONS = {"eu-central": 3, "eu-west": 1}


def main() -> None:
    rng = random.Random(42)
    rows = []
    for customer, (first, last, std, arc, egress, reads, writes, buckets) in CUSTOMERS.items():
        day, end = dt.date(*first), dt.date(*last)
        span = max((end - day).days, 1)
        start = day
        while day <= end:
            t = (day - start).days / span
            stamp = dt.datetime.combine(day, dt.time(), tzinfo=UTC)
            at = lambda: (stamp + dt.timedelta(minutes=rng.randrange(1440))).strftime("%Y-%m-%dT%H:%M:%SZ")
            for cls, (a, b) in (("standard", std), ("archive", arc)):
                if b:
                    gb = int((a + (b - a) * t) * rng.uniform(0.97, 1.03))
                    rows.append(("storage.snapshot", customer, at(), {"class": cls, "gigabytes": gb}))
            for region, weight in REGIONS.items():
                gb = round(egress * weight / 4 * rng.uniform(0.5, 1.5), 1)
                rows.append(("storage.egress", customer, at(), {"region": region, "gigabytes": gb}))
            for operation, volume in (("read", reads), ("write", writes)):
                bucket = f"bkt-{rng.randrange(buckets):03d}"
                rows.append(("storage.requests", customer, at(), {
                    "operation": operation, "bucket": bucket,
                    "requests": int(volume * rng.uniform(0.6, 1.4))}))
            day += dt.timedelta(days=1)
    rows.sort(key=lambda r: (r[2], r[1], r[0]))
    with OUT.open("w", encoding="utf-8") as fh:
        for n, (kind, customer, time, props) in enumerate(rows, 1):
            fh.write(json.dumps({"id": f"st-{n:05d}", "type": kind, "customer": customer, "time": time,
                                 "properties": props}, separators=(",", ":")) + "\n")
    print(f"wrote {len(rows)} events to {OUT}")


if __name__ == "__main__":
    main()
