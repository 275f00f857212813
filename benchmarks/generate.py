"""Fixed-seed usage like a real AI-API business, for `benchmarks/run.py`.

    python benchmarks/generate.py --events 1000000 --out benchmarks/data

writes, under OUT/N/:
  pricing/ai.pricing     5 meters (2 dimensions), 3 plans
  contracts.json         10,000 contracts (Monk API shape) with overrides and credits
  usage.jsonl, usage.csv, usage.parquet   the same N events in each format

Events span a quarter (2026-01-01 .. 2026-04-01); 0.1% reuse an earlier id
(duplicates). Every choice is a hash of the event number, so the files are
identical on every machine and every run; DuckDB writes them (fast, and no
float ever touches a quantity: quantities are integers or fixed decimals).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

CUSTOMERS = 10_000
PLANS = ("starter", "pro", "scale")

PRICING = """\
currency USD

meter LLM_TOKENS {
  title "LLM tokens"
  event "llm.completion"
  sum tokens
  dimensions model, region
  rates per 1K tokens {
    model = "gpt-4"                     : $0.03
    model = "gpt-4o"                    : $0.005
    model = "claude-3"                  : $0.015
    model = "llama-3", region = "eu"    : $0.0012
    customer_tier = "enterprise"        : 20% off
    default                             : $0.002
  }
}

meter API_CALLS {
  title "API calls"
  event "api.request"
  count
  dimensions region
  where region != "test"
  rates { default : $0.0001 }
}

meter STORAGE_GB {
  title "Storage"
  event "storage.snapshot"
  max gigabytes
  dimensions region
  rates per GB { default : $0.10 }
}

meter ACTIVE_USERS {
  title "Active users"
  event "api.request"
  unique user
  rates { default : $0.50 }
}

meter SEATS {
  title "Seats"
  event "seats.set"
  latest seats
  rates { default : $12 }
}

plan starter {
  billing monthly
  payment net 30
  charge LLM_TOKENS
  charge API_CALLS
  charge ACTIVE_USERS
}

plan pro {
  billing monthly
  payment net 30
  fee "Platform fee" : $500 per month
  charge LLM_TOKENS
  charge API_CALLS
  charge STORAGE_GB : graduated per GB {
    up to 100  : free
    up to 1000 : $0.10
    above      : $0.08
  }
  charge ACTIVE_USERS
  charge SEATS
}

plan scale {
  billing quarterly
  payment net 45
  fee "Platform fee" : $1_500 per quarter
  charge LLM_TOKENS
  charge API_CALLS : volume per call {
    up to 1_000_000 : $0.0001
    above           : $0.00005
  }
  charge STORAGE_GB
  charge ACTIVE_USERS
  charge SEATS
  minimum $2_000
}
"""


def contracts() -> list[dict]:
    out = []
    for i in range(CUSTOMERS):
        plan = PLANS[i % 3]
        c = {
            "contractId": f"c{i:05d}",
            "planId": plan,
            "customerId": f"cust_{i:05d}",
            "startsAt": f"2026-01-{1 + (i % 28):02d}" if i % 10 == 0 else "2026-01-01",
        }
        if i % 7 == 0:
            c["dimensions"] = {"customer_tier": "enterprise"}
        if i % 5 == 0:
            c["rateOverrides"] = {"LLM_TOKENS": {"model=gpt-4": "0.025"}}
        if i % 11 == 0:
            c["creditGrantCents"] = 50_000
            c["creditSettings"] = {"description": "Launch credit", "expiresAt": "2026-12-31T23:59:59Z"}
        if i % 13 == 0:
            c["paymentTermsDays"] = 45
        out.append(c)
    return out


def h(i: str, salt: int, modulo: int) -> str:
    """A deterministic pseudo-random integer in [0, modulo) from the event number."""
    return f"(hash({i}, {salt}) % {modulo})"


def events_sql(n: int) -> str:
    """The N events as a DuckDB SELECT (benchmark data, not product code)."""
    # a duplicate (0.1%) re-sends an earlier event: every field derives from `src`
    dup = f"(CASE WHEN {h('i', 1, 1000)} = 0 AND i > 0 THEN {h('i', 2, 'i')} ELSE i END)"
    i = "src"
    kind = h(i, 3, 100)
    return f"""
    SELECT
      'ev' || src AS id,
      CASE WHEN {kind} < 55 THEN 'llm.completion'
           WHEN {kind} < 90 THEN 'api.request'
           WHEN {kind} < 97 THEN 'storage.snapshot'
           ELSE 'seats.set' END AS type,
      'cust_' || lpad(CAST({h(i, 4, CUSTOMERS)} AS VARCHAR), 5, '0') AS customer,
      strftime(TIMESTAMP '2026-01-01' + to_microseconds(CAST({h(i, 5, 90 * 86400)} AS BIGINT) * 1000000),
               '%Y-%m-%dT%H:%M:%SZ') AS time,
      CASE {h(i, 6, 5)} WHEN 0 THEN 'gpt-4' WHEN 1 THEN 'gpt-4o' WHEN 2 THEN 'claude-3'
                        WHEN 3 THEN 'llama-3' ELSE 'mistral' END AS model,
      CASE {h(i, 7, 20)} WHEN 0 THEN 'test' ELSE (CASE {h(i, 8, 3)} WHEN 0 THEN 'eu' WHEN 1 THEN 'us' ELSE 'ap' END) END AS region,
      CAST(1 + {h(i, 9, 4000)} AS VARCHAR) AS tokens,
      CAST({h(i, 10, 2000)} AS VARCHAR) || '.' || lpad(CAST({h(i, 11, 100)} AS VARCHAR), 2, '0') AS gigabytes,
      'u' || CAST({h(i, 12, 50)} AS VARCHAR) AS user,
      CAST(1 + {h(i, 13, 40)} AS VARCHAR) AS seats
    FROM (SELECT i, {dup} AS src FROM range({n}) t(i))
    """


def generate(n: int, out: Path, formats: tuple[str, ...] = ("jsonl", "csv", "parquet")) -> Path:
    import duckdb

    folder = out / str(n)
    (folder / "pricing").mkdir(parents=True, exist_ok=True)
    (folder / "pricing" / "ai.pricing").write_text(PRICING, encoding="utf-8")
    (folder / "contracts.json").write_text(json.dumps(contracts(), indent=1), encoding="utf-8")
    con = duckdb.connect()
    if len(formats) > 1:
        con.execute(f"CREATE TABLE ev AS {events_sql(n)}")  # computed once, written thrice
        source = "ev"
    else:
        source = f"({events_sql(n)})"  # streamed straight to the file: 100M events fit
    flat = "id, type, customer, time, model, region, tokens, gigabytes, user, seats"
    props = ("{'model': model, 'region': region, 'tokens': CAST(tokens AS BIGINT), "
             "'gigabytes': CAST(gigabytes AS DECIMAL(10,2)), 'user': user, 'seats': CAST(seats AS INTEGER)}")
    started = time.perf_counter()
    if "jsonl" in formats:
        con.execute(f"COPY (SELECT id, type, customer, time, {props} AS properties FROM {source}) "
                    f"TO '{folder / 'usage.jsonl'}' (FORMAT json)")
    if "csv" in formats:
        con.execute(f"COPY (SELECT {flat} FROM {source}) TO '{folder / 'usage.csv'}' (FORMAT csv, HEADER)")
    if "parquet" in formats:
        con.execute(f"COPY (SELECT {flat} FROM {source}) TO '{folder / 'usage.parquet'}' (FORMAT parquet)")
    sizes = {p.name: os.path.getsize(p) for p in sorted(folder.glob("usage.*"))}
    print(f"{n:,} events -> {folder} in {time.perf_counter() - started:.1f}s "
          + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in sizes.items()), file=sys.stderr)
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--out", default=str(Path(__file__).parent / "data"))
    p.add_argument("--formats", default="jsonl,csv,parquet", help="e.g. parquet for 100M events")
    args = p.parse_args(argv)
    generate(args.events, Path(args.out), tuple(args.formats.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
