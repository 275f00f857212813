"""Writes usage.jsonl: a quarter (Jan-Mar 2026) of AI API traffic.

Deterministic (fixed seed): run it again and the file is byte-identical. Each
event is an hourly roll-up a gateway would emit, so a few thousand events carry
realistic monthly volumes. A handful of events are there to be rejected: a
sandbox call (filtered by the meters' `where`), a duplicate id and a customer
nobody signed.

    python examples/ai-api/generate_usage.py
"""

import datetime as dt
import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("usage.jsonl")
START, END = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)

# customer -> (LLM roll-ups per day, models and weights, tokens per roll-up, images/day, embedding roll-ups/day)
CUSTOMERS = {
    "cus_hooli": (1, {"gpt-4o-mini": 3, "gpt-4o": 1}, 120_000, 0.3, 0),
    "cus_piedpiper": (2, {"llama-70b": 5, "gpt-4o": 2, "claude-sonnet": 1}, 1_800_000, 2, 1),
    "cus_initrode": (4, {"gpt-4o": 4, "claude-sonnet": 3, "gpt-4o-mini": 2, "mistral-large": 1},
                     4_500_000, 4, 1),
    "cus_massive": (5, {"gpt-4o": 5, "gpt-4o-mini": 3, "llama-70b": 2}, 14_000_000, 6, 1),
}
SIZES = {"1024x1024": 4, "1792x1024": 1}


def pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def events(rng: random.Random):
    n = 0
    day = START
    while day < END:
        for customer, (llm, models, tokens, images, embeds) in CUSTOMERS.items():
            if customer == "cus_piedpiper" and day < dt.datetime(2026, 1, 15, tzinfo=dt.timezone.utc):
                continue  # signed on Jan 15
            for _ in range(llm):
                n += 1
                size = int(tokens * rng.uniform(0.4, 1.6))
                yield n, "llm.completion", customer, day + dt.timedelta(minutes=rng.randrange(1440)), {
                    "model": pick(rng, models),
                    "input_tokens": size,
                    "output_tokens": int(size * rng.uniform(0.15, 0.45)),
                    "environment": "production",
                }
            count = int(images) + (1 if rng.random() < images - int(images) else 0)
            for _ in range(count):
                n += 1
                yield n, "image.generation", customer, day + dt.timedelta(minutes=rng.randrange(1440)), {
                    "size": pick(rng, SIZES)}
            for _ in range(embeds):
                n += 1
                yield n, "embedding.request", customer, day + dt.timedelta(minutes=rng.randrange(1440)), {
                    "tokens": rng.randrange(2_000_000, 9_000_000)}
        day += dt.timedelta(days=1)
    # to be rejected, and counted as such
    yield n + 1, "llm.completion", "cus_initrode", dt.datetime(2026, 2, 2, 9, tzinfo=dt.timezone.utc), {
        "model": "gpt-4o", "input_tokens": 50_000, "output_tokens": 9_000, "environment": "test"}
    yield n + 2, "llm.completion", "cus_unknown", dt.datetime(2026, 2, 3, 9, tzinfo=dt.timezone.utc), {
        "model": "gpt-4o", "input_tokens": 10_000, "output_tokens": 2_000, "environment": "production"}


def main() -> None:
    rng = random.Random(2026)
    rows = []
    for n, kind, customer, time, props in events(rng):
        rows.append({"id": f"ai-{n:06d}", "type": kind, "customer": customer,
                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "properties": props})
    rows.append(dict(rows[10]))  # a retried delivery: same id, counted once
    rows.sort(key=lambda r: (r["time"], r["id"]))
    OUT.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} events to {OUT}")


if __name__ == "__main__":
    main()
