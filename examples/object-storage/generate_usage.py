"""Writes usage.jsonl: January to March 2026 of three object-storage customers (seeded, ~800 events).

Deterministic: a `random.Random(1515)` draws every figure. Two kinds of events:

- `storage.reported` (`bucket`, `gigabytes`): a bucket's size, reported about
  once a day at a random hour; about one report in seven is missing, so the
  last size holds longer (time-weighting integrates what was reported, it does
  not interpolate). Acme's `backups` bucket is emptied on 2026-02-20 (a report
  of 0 GB) and stays empty: no report and nothing held in March, so no March line.
- `storage.requests` (`bucket`, `operation`, `requests`): a request count
  summary every third day, one for GET and one for PUT.

Also, on purpose: one report is delivered twice (same id: it counts once), and
two reports of acme's `logs` bucket carry the same timestamp (the greater id
wins, as for `latest`; docs/part2-decisions.md).

    python examples/object-storage/generate_usage.py
"""

import datetime as dt
import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("usage.jsonl")
BUCKETS = (
    # customer, bucket, first day, last day (exclusive), GB at start, GB added a day
    ("cus_acme", "logs", dt.date(2026, 1, 1), dt.date(2026, 4, 1), 26_000, 120),
    ("cus_acme", "media", dt.date(2026, 1, 1), dt.date(2026, 4, 1), 21_500, 40),
    ("cus_acme", "backups", dt.date(2026, 1, 1), dt.date(2026, 4, 1), 9_000, 0),
    ("cus_globex", "web", dt.date(2026, 1, 15), dt.date(2026, 3, 15), 1_800, 15),
    ("cus_globex", "uploads", dt.date(2026, 1, 20), dt.date(2026, 3, 15), 350, 22),
    ("cus_initech", "cold-2025", dt.date(2026, 1, 1), dt.date(2026, 4, 1), 14_000, 0),
    ("cus_initech", "cold-2026", dt.date(2026, 1, 1), dt.date(2026, 4, 1), 500, 95),
)
EMPTIED = ("cus_acme", "backups", dt.date(2026, 2, 20))


def main() -> None:
    rng = random.Random(1515)
    rows = []

    def add(customer: str, type_: str, at: dt.datetime, **properties) -> None:
        rows.append({"id": f"{type_.split('.')[1][:3]}-{len(rows) + 1:05d}", "type": type_,
                     "customer": customer, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "properties": properties})

    for customer, bucket, first, last, size, growth in BUCKETS:
        day = first
        while day < last:
            n = (day - first).days
            at = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=rng.randrange(86_400))
            if n == 0:
                at = dt.datetime.combine(day, dt.time())     # the first report opens the bucket
            gigabytes = size + growth * n + rng.randrange(0, 50)
            if (customer, bucket) == EMPTIED[:2] and day >= EMPTIED[2]:
                gigabytes = 0
                if day > EMPTIED[2]:
                    day += dt.timedelta(days=1)
                    continue                                # no more reports once empty
                at = dt.datetime.combine(day, dt.time(12))
            if n == 0 or gigabytes == 0 or rng.random() > 0.15:
                add(customer, "storage.reported", at, bucket=bucket, gigabytes=gigabytes)
            if n % 3 == 0:
                noon = dt.datetime.combine(day, dt.time(12, 30))
                add(customer, "storage.requests", noon, bucket=bucket, operation="GET",
                    requests=rng.randrange(200_000, 3_000_000))
                add(customer, "storage.requests", noon, bucket=bucket, operation="PUT",
                    requests=rng.randrange(20_000, 400_000))
            day += dt.timedelta(days=1)
    # Two reports of one bucket at the same instant: the greater id holds.
    logs = [r for r in rows if r["customer"] == "cus_acme" and r["properties"].get("bucket") == "logs"
            and r["type"] == "storage.reported" and r["time"].startswith("2026-02-10")][0]
    rows.append({**logs, "id": logs["id"] + "b",
                 "properties": {**logs["properties"], "gigabytes": logs["properties"]["gigabytes"] + 3_000}})
    rows.append(dict(rows[5]))    # a repeated delivery: same id, counted once
    rows.sort(key=lambda r: (r["time"], r["id"]))
    with open(OUT, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
