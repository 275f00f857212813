#!/usr/bin/env python3
"""Compile benchmark: a generated ~10,000-line pricing project, parsed and compiled.

    .venv/bin/python benchmarks/compile.py [--lines N] [--runs 5] [--keep DIR]

Generates (fixed seed, so every run measures the same text) a project of
several `.pricing` files in a temporary directory: hundreds of meters with
dimension rate cards (some with declared value sets, modifiers and
effective-dated versions), plans charging them (inherited, inline, tiered and
package prices), and contracts with overrides, terms and credit grants. Then
it measures, best of `--runs`:

- parse: every file through `ratecard.syntax.parse` (Lark plus the tree builder);
- compile: `compile_paths` on the directory (read, parse, passes, checks, lint).

It prints lines/second for both and merges the figures into
`benchmarks/results.json` under the key "compile" (other keys are kept).
The project must compile without errors; the benchmark fails otherwise, so
it never times a compiler that gave up early.

Then two contract books that stress the checks over rules rather than the
parser (`--books`, on by default; `--books-only` runs just these), timed as
`ratecard check` does (`compile_paths`, checks and lint), under the key
"compile_books":

- grid: one rate card of 3,000 price rules over 60 keys (500 products, each
  with a fallback and 5 variants on one of 59 attribute keys), which the
  ambiguity check must compare without trying every pair;
- versions: a plan charge with 3,000 dated versions (a price a day), which
  closing versions, the ambiguity check and the version lints must handle
  without comparing every version with every other.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
SEED = 20260101
BUDGET_SECONDS = 0.5

MODELS = ["gpt-4", "gpt-4o", "gpt-3.5", "claude-3", "claude-3.5", "llama-3", "mistral", "gemini"]
REGIONS = ["us", "eu", "apac", "latam"]
TIERS = ["standard", "enterprise", "partner", "startup"]
UNITS = [("1K", "tokens"), ("", "call"), ("", "GB"), ("1M", "bytes"), ("", "minute")]


def _money(rng: random.Random, lo: int = 1, hi: int = 9999, places: int = 4) -> str:
    cents = rng.randint(lo, hi)
    return f"${cents / 10 ** places:.{places}f}"


def _meter(rng: random.Random, i: int) -> tuple[str, list[str]]:
    name = f"METER_{i:04d}"
    size, unit = rng.choice(UNITS)
    per = f"per {size} {unit}".replace("  ", " ")
    closed = i % 3 == 0
    models = rng.sample(MODELS, 4)
    lines = [f"meter {name} {{",
             f'  title "Meter number {i}"',
             f'  event "event.type_{i % 97}"',
             rng.choice(["  count", "  sum quantity", "  max gigabytes", "  unique user_id",
                         "  latest seats"])]
    if closed:
        quoted = ", ".join(f'"{m}"' for m in models)
        lines.append(f"  dimensions model in ({quoted}), region in (\"us\", \"eu\")")
    else:
        lines.append("  dimensions model, region")
    lines.append('  where environment != "test"')
    # every tenth meter changes its prices mid-year: two dated versions of its card
    dated = " until 2026-07-01" if i % 10 == 0 else ""
    lines.append(f"  rates {per}{dated} {{")
    for m in models:
        lines.append(f'    model = "{m}"{" " * (12 - len(m))}: {_money(rng)}')
    lines.append(f'    model = "{models[0]}", region = "eu" : {_money(rng)}')
    lines.append(f'    model = "{models[1]}", customer_tier = "partner" : {_money(rng)}')
    lines.append(f'    customer_tier = "{rng.choice(TIERS[1:])}" : {rng.randint(5, 60)}% off')
    lines.append(f'    region in ("apac", "latam") : {rng.randint(1, 20)}% up')
    lines.append(f"    default : {_money(rng)}")
    lines.append("  }")
    if i % 10 == 0:
        lines.append(f"  rates {per} from 2026-07-01 {{")
        lines.append(f'    model = "{models[0]}" : {_money(rng)}')
        lines.append(f"    default : {_money(rng)}")
        lines.append("  }")
    lines.append("}")
    lines.append("")
    return name, lines


def _plan(rng: random.Random, i: int, meters: list[str]) -> tuple[str, list[str]]:
    name = f"plan_{i:03d}"
    charged = rng.sample(meters, 16)
    lines = [f"plan {name} {{",
             f'  title "Plan {i}"',
             f"  billing {rng.choice(['monthly', 'quarterly', 'annual'])}",
             f"  payment net {rng.choice([15, 30, 45, 60])}",
             f"  autopay {rng.choice(['on', 'off'])}",
             f'  fee "Platform fee" : ${rng.randint(1, 50) * 100} per month',
             f'  fee "Support" : ${rng.randint(1, 20) * 50}']
    for k, m in enumerate(charged):
        kind = k % 8
        if kind == 0:
            lines.append(f"  charge {m} : {_money(rng)} per call")
        elif kind == 1:
            lines.append(f"  charge {m} : graduated per unit {{")
            lines.append(f"    up to 1_000 : free")
            lines.append(f"    up to 100K : {_money(rng)}")
            lines.append(f"    above : {_money(rng)} + $5")
            lines.append("  }")
        elif kind == 2:
            lines.append(f"  charge {m} : package {_money(rng, 100, 900, 2)} per 1000 calls")
        elif kind == 3:
            lines.append(f"  charge {m} : {rng.randint(5, 30)}% off")
        elif kind == 4:
            lines.append(f"  charge {m} : {_money(rng)} per call until 2026-04-01")
            lines.append(f"  charge {m} : {_money(rng)} per call from 2026-04-01")
        else:
            lines.append(f"  charge {m}")
    lines.append(f"  minimum ${rng.randint(1, 20) * 100}")
    lines.append("}")
    lines.append("")
    return name, lines


def _contract(rng: random.Random, i: int, plans: dict[str, list[str]]) -> list[str]:
    plan = rng.choice(sorted(plans))
    charged = plans[plan]
    start = f"2026-{rng.randint(1, 12):02d}-01"
    lines = [f"contract customer_{i:04d} {{",
             f'  customer "cust_{i:04d}"',
             f"  plan {plan}",
             f"  starts {start}",
             f'  dimensions customer_tier = "{rng.choice(TIERS)}", region = "{rng.choice(REGIONS)}"']
    if i % 2:
        lines.append(f"  billing {rng.choice(['monthly', 'quarterly'])}")
        lines.append(f"  payment net {rng.choice([30, 45])}")
    for m in rng.sample(charged, 2):
        lines.append(f"  override {m} {{")
        lines.append(f'    model = "{rng.choice(MODELS)}" : {_money(rng)}')
        lines.append(f"    default : {rng.randint(5, 40)}% off")
        lines.append("  }")
    if i % 3 == 0:
        lines.append(f"  credit ${rng.randint(1, 100) * 1000} {{")
        lines.append(f'    description "Commitment {i}"')
        lines.append(f"    price ${rng.randint(1, 50) * 1000}")
        lines.append("    expires 2027-12-31T23:59:59Z")
        lines.append("  }")
    lines.append("}")
    lines.append("")
    return lines


def generate(directory: Path, target_lines: int = 10_000, seed: int = SEED) -> int:
    """Write the project into `directory`; return its line count."""
    rng = random.Random(seed)
    # proportions measured on the generator's output: ~21 lines per meter,
    # ~28 per plan, ~15 per contract; aim for roughly half the text in meters
    n_meters = max(20, target_lines // 42)
    n_plans = max(2, target_lines // 330)
    n_contracts = max(4, target_lines // 36)

    meter_files: list[list[str]] = [["currency USD", "rounding half_up", ""]] + [[] for _ in range(3)]
    meters = []
    for i in range(n_meters):
        name, lines = _meter(rng, i)
        meters.append(name)
        meter_files[i % 4].extend(lines)
    plans: dict[str, list[str]] = {}
    plan_lines: list[str] = ["# plans bundle meters"]
    for i in range(n_plans):
        name, lines = _plan(rng, i, meters)
        plans[name] = list(dict.fromkeys(ln.split()[1] for ln in lines if ln.startswith("  charge ")))
        plan_lines.extend(lines)
    contract_files: list[list[str]] = [[] for _ in range(3)]
    for i in range(n_contracts):
        contract_files[i % 3].extend(_contract(rng, i, plans))

    total = 0
    outputs = {f"meters_{k}.pricing": lines for k, lines in enumerate(meter_files)}
    outputs["plans.pricing"] = plan_lines
    outputs.update({f"contracts/contracts_{k}.pricing": lines for k, lines in enumerate(contract_files)})
    for rel, lines in outputs.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        total += len(lines)
    return total


def _best(fn, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(directory: Path, runs: int) -> dict:
    from ratecard.compiler import compile_paths, pricing_files
    from ratecard.syntax import parse

    files = [(str(p), p.read_text(encoding="utf-8")) for p in pricing_files([str(directory)])]
    lines = sum(text.count("\n") for _, text in files)

    # build the cached parser, and check the project is valid, outside the timings
    compiled = compile_paths([str(directory)])
    errors = [d for d in compiled.diagnostics if d.is_error]
    if errors or compiled.plan is None:
        for d in errors[:10]:
            print(f"{d.span.where if d.span else ''}: {d.code} {d.message}", file=sys.stderr)
        raise SystemExit("benchmark project does not compile cleanly")

    def parse_all():
        for path, text in files:
            tree, diags = parse(text, path)
            assert tree is not None and not diags

    parse_s = _best(parse_all, runs)
    compile_s = _best(lambda: compile_paths([str(directory)]), runs)
    plan = compiled.plan
    return {
        "lines": lines,
        "files": len(files),
        "meters": len(plan.meters),
        "plans": len(plan.plans),
        "contracts": len(plan.contracts),
        "warnings": len(compiled.diagnostics),
        "runs": runs,
        "parse_seconds": round(parse_s, 4),
        "parse_lines_per_second": round(lines / parse_s),
        "compile_seconds": round(compile_s, 4),
        "compile_lines_per_second": round(lines / compile_s),
        "budget_seconds": BUDGET_SECONDS,
        "within_budget": compile_s < BUDGET_SECONDS,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


BOOK_RULES = 3000
BOOK_KEYS = 60


def generate_grid_book(directory: Path, rules: int = BOOK_RULES, keys: int = BOOK_KEYS) -> int:
    """A rate card of `rules` price rules over `keys` keys; returns its rule count."""
    rng = random.Random(SEED)
    attributes = [f"k{j:02d}" for j in range(1, keys)]
    products = rules // 6
    lines = ['meter BOOK {', '  event "book.item"', '  sum quantity',
             "  dimensions product, " + ", ".join(attributes), "  rates per unit {"]
    for p in range(products):
        key = attributes[p % len(attributes)]
        lines.append(f'    product = "p{p:04d}" : {_money(rng)}')
        for v in range(5):
            lines.append(f'    product = "p{p:04d}", {key} = "v{v}" : {_money(rng)}')
    lines += ["    default : $1", "  }", "}", "plan pro {", "  charge BOOK", "}",
              'contract acme {', '  customer "cust_acme"', "  plan pro", "  starts 2026-01-01", "}"]
    (directory / "grid.pricing").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return products * 6


def generate_versions_book(directory: Path, versions: int = BOOK_RULES) -> int:
    """A plan charge with `versions` dated versions, one a day; returns the version count."""
    import datetime as dt

    rng = random.Random(SEED)
    first = dt.date(2018, 1, 1)
    lines = ['meter BOOK {', '  event "book.item"', '  sum quantity', "}", "plan pro {"]
    for i in range(versions):
        lines.append(f"  charge BOOK : {_money(rng)} per unit from {first + dt.timedelta(days=i)}")
    lines += ["}", 'contract acme {', '  customer "cust_acme"', "  plan pro", "  starts 2026-01-01", "}"]
    (directory / "versions.pricing").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return versions


def measure_books(runs: int) -> dict:
    from ratecard.compiler import compile_paths

    out: dict = {"runs": runs, "python": platform.python_version(), "machine": platform.machine()}
    for name, make in (("grid", generate_grid_book), ("versions", generate_versions_book)):
        with tempfile.TemporaryDirectory(prefix=f"ratecard-book-{name}-") as tmp:
            count = make(Path(tmp))
            path = str(next(Path(tmp).glob("*.pricing")))
            compiled = compile_paths([path])
            errors = [d for d in compiled.diagnostics if d.is_error]
            if errors or compiled.plan is None:
                for d in errors[:10]:
                    print(f"{d.span.where if d.span else ''}: {d.code} {d.message}", file=sys.stderr)
                raise SystemExit(f"the {name} book does not compile cleanly")
            seconds = _best(lambda: compile_paths([path]), runs)
            out[name] = {"rules": count, "check_seconds": round(seconds, 4),
                         "rules_per_second": round(count / seconds)}
    out["grid"]["keys"] = BOOK_KEYS
    return out


def write_results(figures: dict, path: Path = RESULTS, key: str = "compile") -> None:
    data: dict = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
    data[key] = figures
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000, help="approximate project size")
    ap.add_argument("--runs", type=int, default=5, help="best of this many runs")
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    ap.add_argument("--no-write", action="store_true", help="do not update results.json")
    ap.add_argument("--no-books", action="store_true", help="skip the contract-book checks")
    ap.add_argument("--books-only", action="store_true", help="time only the contract-book checks")
    args = ap.parse_args(argv)
    if not args.books_only:
        _project_benchmark(args)
    if not args.no_books:
        books = measure_books(args.runs)
        for name in ("grid", "versions"):
            b = books[name]
            print(f"check {name} book: {b['rules']:,} rules in {b['check_seconds']:.3f} s "
                  f"({b['rules_per_second']:,} rules/s, best of {args.runs})")
        if not args.no_write:
            write_results(books, key="compile_books")
    return 0


def _project_benchmark(args) -> None:

    with tempfile.TemporaryDirectory(prefix="ratecard-bench-") as tmp:
        directory = Path(args.keep) if args.keep else Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        generate(directory, args.lines)
        figures = measure(directory, args.runs)

    print(f"project: {figures['lines']} lines in {figures['files']} files "
          f"({figures['meters']} meters, {figures['plans']} plans, {figures['contracts']} contracts)")
    print(f"parse:   {figures['parse_seconds']:.3f} s  "
          f"{figures['parse_lines_per_second']:>9,} lines/s  (best of {args.runs})")
    print(f"compile: {figures['compile_seconds']:.3f} s  "
          f"{figures['compile_lines_per_second']:>9,} lines/s  (best of {args.runs}; "
          f"budget {BUDGET_SECONDS} s: {'ok' if figures['within_budget'] else 'OVER'})")
    if not args.no_write:
        write_results(figures)
        print(f"written to {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.exit(main())
