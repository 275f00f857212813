"""Writes usage.jsonl: the enterprise contract book's usage, Apr 2025 - Mar 2026.

Deterministic (fixed seed). Compute hours and API calls arrive as daily
roll-ups (weekly for Umbrella, which is billed once a year); active users as
one `user.active` event per user seen, from a pool per customer (the meter
counts distinct `user_id`s per period).

    python examples/enterprise/generate_usage.py
"""

import datetime as dt
import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("usage.jsonl")
UTC = dt.timezone.utc

# customer: (first day, last day, step in days,
#            compute hours per step by instance, API calls per step,
#            (user pool, user events per step))
CUSTOMERS = {
    "cus_globex": ((2025, 10, 1), (2026, 3, 31), 1,
                   {"cpu.small": 500, "cpu.large": 200, "gpu.a100": 20}, 100_000, (260, 2)),
    "cus_soylent": ((2026, 1, 1), (2026, 3, 31), 1,
                    {"cpu.small": 300, "cpu.large": 50}, 40_000, (70, 1.5)),
    "cus_umbrella": ((2025, 4, 1), (2026, 3, 31), 7,
                     {"cpu.small": 8_000, "cpu.large": 3_000, "gpu.a100": 500}, 2_000_000, (420, 12)),
    "cus_tyrell": ((2026, 1, 15), (2026, 3, 14), 1,
                   {"cpu.small": 120, "gpu.a100": 6}, 15_000, (25, 0.7)),
}


def main() -> None:
    rng = random.Random(7)
    rows = []
    for customer, (first, last, step, compute, calls, (pool, per_step)) in CUSTOMERS.items():
        day, end = dt.date(*first), dt.date(*last)
        while day <= end:
            stamp = dt.datetime.combine(day, dt.time(), tzinfo=UTC)
            minutes = 1440 * min(step, (end - day).days + 1)  # never past the last day

            def at() -> str:
                return (stamp + dt.timedelta(minutes=rng.randrange(minutes))).strftime("%Y-%m-%dT%H:%M:%SZ")

            for instance, hours in compute.items():
                rows.append(("compute.usage", customer, at(), {
                    "instance": instance, "hours": round(hours * rng.uniform(0.7, 1.3), 1)}))
            rows.append(("api.request", customer, at(), {"calls": int(calls * rng.uniform(0.6, 1.4))}))
            users = int(per_step) + (1 if rng.random() < per_step - int(per_step) else 0)
            for _ in range(users):
                rows.append(("user.active", customer, at(), {"user_id": f"u{rng.randrange(pool):04d}"}))
            day += dt.timedelta(days=step)
    rows.sort(key=lambda r: (r[2], r[1], r[0]))
    with OUT.open("w", encoding="utf-8") as fh:
        for n, (kind, customer, time, props) in enumerate(rows, 1):
            fh.write(json.dumps({"id": f"ent-{n:05d}", "type": kind, "customer": customer, "time": time,
                                 "properties": props}, separators=(",", ":")) + "\n")
    print(f"wrote {len(rows)} events to {OUT}")


if __name__ == "__main__":
    main()
