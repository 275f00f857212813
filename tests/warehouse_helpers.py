"""Shared by the warehouse (`ratecard sql`, `--aggregates`) and Spark tests: the
conformance cases, a generated multi-meter scenario, and usage written in every layout."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ratecard.usage.rows import text_value

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
CASES = sorted(p.name for p in CONFORMANCE.glob("0*")) if CONFORMANCE.is_dir() else []


def case_args(name: str) -> list[str]:
    """The `invoice` arguments of a conformance case (paths relative to its folder)."""
    return json.loads((CONFORMANCE / name / "case.json").read_text(encoding="utf-8"))["args"]


def split_args(args: list[str]) -> tuple[list[str], list[str], list[str], str]:
    """(pricing paths, --contracts files, --usage files, --through) of `invoice` arguments."""
    paths, contracts, usage, through = [], [], [], None
    it = iter(args[1:])
    for a in it:
        if a == "--usage":
            usage.append(next(it))
        elif a == "--contracts":
            contracts.append(next(it))
        elif a == "--through":
            through = next(it)
        elif a == "--format":
            next(it)
        else:
            paths.append(a)
    return paths, contracts, usage, through


# ----------------------------------------------------------------- a generated scenario


SCENARIO = """
currency USD

meter TOKENS {
  event "llm.completion"
  sum tokens
  dimensions model, region
  where region != "test"
  rates per 1K tokens {
    model = "gpt-4" : $0.03
    default : $0.01
  }
  rates per 1K tokens from 2026-02-10 {
    model = "gpt-4" : $0.02
  }
}
meter CALLS { event "api.request"  count  dimensions region  rates { default : $0.001 } }
meter PEAK { event "storage.snapshot"  max gigabytes  rates { default : $0.10 } }
meter USERS { event "api.request"  unique user  rates { default : $1 } }
meter SEATS { event "seats.set"  latest seats  rates { default : $5 } }
meter UNUSED { event "other.thing"  count  rates { default : $1 } }

plan all {
  billing monthly
  charge TOKENS
  charge CALLS : graduated per call {
    up to 100 : $0.01
    above : $0.005
  }
  charge PEAK
  charge USERS
  charge SEATS
}
plan calls_only { billing monthly  charge CALLS }

contract acme { customer "c_acme"  plan all  starts 2026-01-01  ends 2026-03-14 }
contract beta {
  customer "c_beta"
  plan calls_only
  starts 2026-01-15
  override CALLS : 20% off from 2026-02-20
}
contract gamma { customer "c_gamma"  plan all  starts 2026-01-10  billing quarterly }
"""
SCENARIO_THROUGH = "2026-04-15"
SCENARIO_KEYS = ("gigabytes", "model", "region", "seats", "tokens", "user")
MODELS = ["gpt-4", "gpt-3.5", "o'brien \"quoted\"", "back\\slash", "ünï ✓", "  spaced  "]


def scenario_events(n: int = 1500, seed: int = 11) -> list[dict]:
    """Events of every type and rejection reason; JSON numbers and strings; duplicates."""
    rng = random.Random(seed)
    events = []
    start = dt.datetime(2025, 12, 28, tzinfo=dt.timezone.utc)
    for i in range(n):
        kind = rng.choice(["llm.completion", "llm.completion", "api.request", "api.request",
                           "storage.snapshot", "seats.set", "other.thing", "nobody.reads"])
        t = start + dt.timedelta(seconds=rng.randint(0, 110 * 86400))
        if rng.random() < 0.05:  # exactly on a period or segment boundary
            t = rng.choice([dt.datetime(2026, 2, 1), dt.datetime(2026, 2, 10), dt.datetime(2026, 2, 20),
                            dt.datetime(2026, 3, 14)]).replace(tzinfo=dt.timezone.utc)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        if rng.random() < 0.1:
            stamp = t.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
        props: dict = {}
        if rng.random() < 0.9:
            props["region"] = rng.choice(["eu", "us", "test"])
        if kind == "llm.completion":
            props["model"] = rng.choice(MODELS)
            if props.get("region") != "test" or rng.random() < 0.5:
                props["tokens"] = rng.choice([rng.randint(1, 10**6), f"{rng.randint(1, 10**5)}.{rng.randint(0, 99):02d}",
                                              Decimal(f"{rng.randint(1, 999)}.50"), "0.000000000000000001"])
        elif kind == "api.request":
            props["user"] = f"u{rng.randint(1, 25)}"
        elif kind == "storage.snapshot":
            props["gigabytes"] = rng.choice([rng.randint(0, 900), Decimal(f"{rng.randint(0, 900)}.25"), "7.0"])
        elif kind == "seats.set":
            props["seats"] = rng.randint(0, 60)
        customer = rng.choice(["c_acme", "c_acme", "c_beta", "c_gamma", "c_gamma", "c_zed"])
        events.append({"id": f"e{rng.randint(0, int(n * 0.9))}", "type": kind, "customer": customer,
                       "time": stamp, "properties": props})
    return events


# ----------------------------------------------------------------- usage in every layout




def write_jsonl(path: Path, events: list[dict]) -> str:
    """JSONL with numbers as JSON numbers (Decimals written exactly as they read)."""
    lines = []
    for e in events:
        raws = {}
        props = {}
        for k, v in e["properties"].items():
            if isinstance(v, Decimal):
                raws[k] = str(v)
                props[k] = f"@@{k}@@"
            else:
                props[k] = v
        text = json.dumps({**e, "properties": props}, ensure_ascii=False)
        for k, raw in raws.items():
            text = text.replace(f'"@@{k}@@"', raw)
        lines.append(text + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def flat_rows(events: list[dict], keys) -> list[list[str | None]]:
    """id, type, customer, time, then each property as the text ratecard compares."""
    return [[e["id"], e["type"], e["customer"], e["time"],
             *[text_value(e["properties"].get(k)) for k in keys]] for e in events]


def write_flat_csv(path: Path, events: list[dict], keys) -> str:
    """The `ratecard sql` table layout as CSV (an absent property is an empty cell)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "type", "customer", "time", *keys])
        for row in flat_rows(events, keys):
            w.writerow(["" if v is None else v for v in row])
    return str(path)


def write_parquet(path: Path, events: list[dict], keys, layout: str) -> str:
    """Parquet with properties as a STRUCT, flat columns, or JSON text; `flat-ts` has a
    TIMESTAMP `time` column."""
    cols = {k: [e[k] for e in events] for k in ("id", "type", "customer")}
    if layout == "flat-ts":
        cols["time"] = pa.array([dt.datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in events],
                                pa.timestamp("us", tz="UTC"))
    else:
        cols["time"] = [e["time"] for e in events]
    text = {k: [text_value(e["properties"].get(k)) for e in events] for k in keys}
    if layout == "struct":
        cols["properties"] = [{k: text[k][i] for k in keys} for i in range(len(events))]
    elif layout == "json":
        cols["properties"] = [json.dumps({k: text[k][i] for k in keys if text[k][i] is not None})
                              for i in range(len(events))]
    else:
        cols.update(text)
    pq.write_table(pa.table(cols), path)
    return str(path)


def layouts(folder: Path, events: list[dict], keys, seed: int = 3) -> list[str]:
    """The events split over JSONL, CSV and three Parquet layouts, shuffled."""
    rng = random.Random(seed)
    shuffled = events[:]
    rng.shuffle(shuffled)
    parts = [shuffled[i::5] for i in range(5)]
    return [write_jsonl(folder / "a.jsonl", parts[0]), write_flat_csv(folder / "b.csv", parts[1], keys),
            write_parquet(folder / "c.parquet", parts[2], keys, "struct"),
            write_parquet(folder / "d.parquet", parts[3], keys, "flat-ts"),
            write_parquet(folder / "e.parquet", parts[4], keys, "json")]
