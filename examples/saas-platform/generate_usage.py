"""Writes usage.jsonl: January to March 2026 of two platform customers (seeded, ~500 events).

Deterministic: a `random.Random(2026)` draws every figure. One summary event a
day per kind, stamped 23:59:00 UTC so it falls in the day it sums up:

- `compute.usage` (`instance`, `hours`): 24 hours a day of one instance;
  Lumen runs a "small" instance until March 14th and a "medium" one from its
  upgrade to Team on March 15th; Orbit runs a "small" and a "medium" one.
- `network.egress` (`gigabytes`): the day's egress, to the hundredth of a GB.
- `auth.daily_summary` (`monthly_active_users`): the month-to-date MAU count
  (the meter takes the maximum over the period).

    python examples/saas-platform/generate_usage.py
"""

import datetime as dt
import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("usage.jsonl")
END = dt.date(2026, 4, 1)
UPGRADE = dt.date(2026, 3, 15)


def main() -> None:
    rng = random.Random(2026)
    rows = []

    def add(customer: str, type_: str, day: dt.date, **properties) -> None:
        rows.append({"id": f"{customer[4:]}-{len(rows) + 1:04d}", "type": type_, "customer": customer,
                     "time": f"{day.isoformat()}T23:59:00Z", "properties": properties})

    def days(first: dt.date):
        d = first
        while d < END:
            yield d
            d += dt.timedelta(days=1)

    for day in days(dt.date(2026, 1, 10)):
        add("cus_lumen", "compute.usage", day, instance="small" if day < UPGRADE else "medium", hours=24)
        add("cus_lumen", "network.egress", day, gigabytes=round(rng.uniform(5, 22), 2))
        month_day = day.day
        add("cus_lumen", "auth.daily_summary", day,
            monthly_active_users=40_000 + 600 * (day - dt.date(2026, 1, 10)).days // 10 + 900 * month_day)
    for day in days(dt.date(2026, 2, 1)):
        add("cus_orbit", "compute.usage", day, instance="small", hours=24)
        add("cus_orbit", "compute.usage", day, instance="medium", hours=rng.choice((8, 12, 16)))
        add("cus_orbit", "network.egress", day, gigabytes=round(rng.uniform(60, 140), 2))
        add("cus_orbit", "auth.daily_summary", day, monthly_active_users=90_000 + 1_500 * day.day)
    rows.sort(key=lambda r: (r["time"], r["id"]))
    with open(OUT, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
