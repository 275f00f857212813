"""Writes usage.jsonl: March to May 2026 of Globex and Acme usage (160 events).

Deterministic (no randomness). Every third day: Globex's gpt-4 and gpt-3.5
tokens and a batch of API calls; Acme's (from April) gpt-4 and claude-3 tokens
and a batch of API calls; every fifteenth day a Globex storage snapshot.

    python examples/effective-dates/generate_usage.py
"""

import datetime as dt
import json
from pathlib import Path

OUT = Path(__file__).with_name("usage.jsonl")
START = dt.datetime(2026, 3, 1, 9)


def main() -> None:
    rows = []

    def add(customer: str, type_: str, at: dt.datetime, **properties) -> None:
        rows.append({"id": f"evt-{len(rows) + 1:05d}", "type": type_, "customer": customer,
                     "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "properties": properties})

    for day in range(0, 92, 3):
        t = START + dt.timedelta(days=day)
        add("cust_globex", "llm.completion", t, model="gpt-4", tokens=200_000 + day * 1000)
        add("cust_globex", "llm.completion", t + dt.timedelta(hours=2), model="gpt-3.5", tokens=900_000)
        add("cust_globex", "api.usage", t + dt.timedelta(hours=1), calls=8_000 + day * 100)
        if t >= dt.datetime(2026, 4, 1):
            add("cust_acme", "llm.completion", t + dt.timedelta(hours=3), model="gpt-4", tokens=150_000)
            add("cust_acme", "api.usage", t + dt.timedelta(hours=4), calls=12_500)
            add("cust_acme", "llm.completion", t + dt.timedelta(hours=5), model="claude-3", tokens=40_000)
        if day % 15 == 0:
            add("cust_globex", "storage.snapshot", t + dt.timedelta(hours=6), gigabytes=300 + day * 5)
    with open(OUT, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
