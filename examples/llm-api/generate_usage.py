"""Writes usage.jsonl: January and February 2026 of two LLM API customers (seeded, ~700 events).

Deterministic: a `random.Random(15)` draws every figure, so re-running writes the
same bytes. Each event is one minute of an application's completions, with `prompt_tokens`, `cached_tokens`
(the part of the prompt read from the prompt cache, never more than the prompt),
`completion_tokens`, `model` and `service_tier` ("standard" or "batch").
Two events are sent twice with the same id (a retried delivery): they count once.

    python examples/llm-api/generate_usage.py
"""

import datetime as dt
import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("usage.jsonl")
START = dt.datetime(2026, 1, 1)
DAYS = 59  # January and February
CUSTOMERS = (
    # customer, completions a day, share of sonnet, share of batch
    ("cus_pixel", 4, 0.5, 0.25),
    ("cus_northwind", 8, 0.75, 0.4),
)


def main() -> None:
    rng = random.Random(15)
    rows = []
    for customer, per_day, sonnet_share, batch_share in CUSTOMERS:
        for day in range(DAYS):
            for k in range(per_day):
                at = START + dt.timedelta(days=day, seconds=rng.randrange(86_400))
                prompt = rng.randrange(50_000, 3_000_000)
                cached = rng.randrange(0, prompt + 1) if rng.random() < 0.6 else 0
                rows.append({
                    "id": f"{customer[4:]}-{day:02d}-{k}",
                    "type": "llm.completion",
                    "customer": customer,
                    "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "properties": {
                        "model": "sonnet" if rng.random() < sonnet_share else "haiku",
                        "service_tier": "batch" if rng.random() < batch_share else "standard",
                        "prompt_tokens": prompt,
                        "cached_tokens": cached,
                        "completion_tokens": rng.randrange(2_500, 200_000),
                    },
                })
    rows.append(dict(rows[10]))   # a retried delivery: same id, counted once
    rows.append(dict(rows[300]))
    rows.sort(key=lambda r: (r["time"], r["id"]))
    with open(OUT, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
