"""Usage-evaluation benchmark: ratecard vs DuckDB's own floor vs the reference evaluator.

    python benchmarks/run.py --events 1000000 [--formats jsonl,csv,parquet]
                             [--memory-limit 1GB] [--no-reference] [--spark parquet]

Generates the data when missing (benchmarks/generate.py), then, in one run,
on the same files, each measured in its own process (wall time, peak RSS of
that process):

- `ratecard invoice` end to end (compile, JSON contracts, DuckDB aggregation,
  pricing, the invoice JSON written to a file);
- the DuckDB floor: the same dedup + GROUP BY + five aggregates over the
  same events, in bare DuckDB, nothing else;
- ratecard's usage stage alone (`usage.aggregate_usage`: the whole SQL plan
  with row checks, dedup, classification and every meter's group-by, and the
  aggregates handed to Python), to separate the engine from the pricing;
- the pure-Python reference evaluator (the test oracle) on Parquet;
- with `--spark FORMATS`, `ratecard invoice --engine spark` (local[*], the
  JVM's start included) on those formats: recorded, not targeted, and its
  invoices must be byte-identical to the DuckDB run's.

Prints events/second, ratecard / floor, the speed-up over the reference, peak RSS
(the largest process) and the peak summed RSS of the process tree (pricing runs
in forked processes; an upper bound, as they share pages), checks that ratecard's invoices are byte-identical across formats
and to the reference's, and writes everything under "usage" in
benchmarks/results.json (other keys, e.g. "compile", are kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
THROUGH = "2026-04-01"

FLOOR = """
import sys, duckdb
path, memory = sys.argv[1], sys.argv[2]
kind = path.rsplit('.', 1)[-1]
con = duckdb.connect(config={'memory_limit': memory} if memory else {})
if kind == 'jsonl':
    src = con.read_json(path, format='newline_delimited')
    cols = ("id, type, customer, time, properties.model AS model, properties.region AS region, "
            "properties.tokens AS tokens, properties.gigabytes AS gigabytes, "
            "properties.user AS \\"user\\", properties.seats AS seats")
elif kind == 'csv':
    src = con.read_csv(path, all_varchar=True)
    cols = '*'
else:
    src = con.read_parquet(path)
    cols = '*'
con.register('src', src)
con.sql(f'''
WITH ev AS (SELECT {cols} FROM src),
dd AS (SELECT * FROM ev QUALIFY row_number() OVER (PARTITION BY customer, id ORDER BY time) = 1)
SELECT customer, type, model, region, count(*) AS n,
       sum(CAST(tokens AS DECIMAL(38, 18))) AS tokens,
       max(CAST(gigabytes AS DECIMAL(38, 18))) AS gigabytes,
       count(DISTINCT "user") AS users,
       arg_max(CAST(seats AS DECIMAL(38, 18)), (time, id)) AS seats
FROM dd GROUP BY ALL
''').to_arrow_table()
"""

STAGE = """
import sys, datetime as dt
from ratecard.billing.scope import terms_and_windows
from ratecard.commands.common import load_plan
from ratecard.usage import aggregate_usage
folder, usage, through, memory = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] or None
class Args:
    paths = [folder + '/pricing']
    contracts = [folder + '/contracts.json']
plan, _ = load_plan(Args())
terms, windows = terms_and_windows(plan, dt.date.fromisoformat(through))
report = aggregate_usage(plan, terms, windows, [usage], memory_limit=memory)
assert not report.diagnostics and report.reconciles
print(len(report.aggregates))
"""

REFERENCE = """
import sys, datetime as dt
from ratecard.commands.common import load_plan
from ratecard.billing import evaluate
from ratecard.usage.reference import aggregate_usage
folder, usage, out = sys.argv[1], sys.argv[2], sys.argv[3]
class Args:
    paths = [folder + '/pricing']
    contracts = [folder + '/contracts.json']
plan, _ = load_plan(Args())
ev = evaluate(plan, [usage], dt.date.fromisoformat(sys.argv[4]), aggregator=aggregate_usage)
open(out, 'w').write(ev.run.model_dump_json(indent=2) + '\\n')
"""


def tree_rss_kb(pid: int) -> int:
    """Summed resident set size of a process and its descendants (Linux), in KB.

    An upper bound of what a run holds when it prices in forked processes:
    pages they share are counted once per process. Read from /proc/PID/status,
    which costs the measured process nothing (smaps, for PSS, walks its page
    tables under a lock its allocations need: measured, 20% slower runs).
    """
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            pass
    return total


def measure(cmd: list[str], stdout=None) -> dict:
    """Run one process; its wall time, the peak RSS of its largest process (wait4)
    and the peak of its process tree's summed RSS (sampled every 0.2 s)."""
    import threading

    import tempfile

    errors = tempfile.TemporaryFile()  # not a pipe: a chatty process (Spark's JVM) never blocks on it
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout or subprocess.DEVNULL, stderr=errors)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    errors.seek(0)
    err = errors.read().decode(errors="replace")
    errors.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{err[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "peak_tree_rss_mb": round(peak[0] / 1024)}


def with_bytecode(src: Path) -> None:
    """Compile the measured `ratecard` package's bytecode (`src/ratecard/__pycache__`), as
    installing a wheel does. A checkout installed in editable mode gets it on first import,
    unless PYTHONDONTWRITEBYTECODE is set (it is on the machines these figures come from):
    then every run compiled ratecard's sources again, ~0.1-0.2 s of each process."""
    import compileall

    compileall.compile_dir(str(src / "ratecard"), quiet=1)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--formats", default="jsonl,csv,parquet")
    p.add_argument("--memory-limit", default=None, help="passed to ratecard and to the floor")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--no-stage", action="store_true",
                   help="skip the usage-stage-alone measurement (e.g. at 100M events)")
    p.add_argument("--spark", default="", metavar="FORMATS",
                   help="also run `--engine spark` (local[*]) on these formats, e.g. parquet: its time "
                        "is recorded, not targeted, and its invoices must be DuckDB's")
    p.add_argument("--data", default=str(HERE / "data"))
    p.add_argument("--results", default=str(RESULTS),
                   help="the JSON file the figures are merged into (default benchmarks/results.json)")
    p.add_argument("--price-in", choices=("engine", "python"), default=None,
                   help="passed to `ratecard invoice` (default: its own default)")
    args = p.parse_args(argv)
    import duckdb  # the engine's version goes with its figures: the floor is DuckDB's own speed

    folder = Path(args.data) / str(args.events)
    if not all((folder / f"usage.{fmt}").exists() for fmt in args.formats.split(",")):
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--events", str(args.events),
                        "--out", args.data, "--formats", args.formats], check=True)
    ratecard = str(Path(sys.executable).with_name("ratecard"))
    with_bytecode(HERE.parent / "src")
    out_dir = folder / "out"
    out_dir.mkdir(exist_ok=True)
    n = args.events
    figures: dict = {"events": n, "customers": 10_000, "through": THROUGH,
                     "memory_limit": args.memory_limit, "machine": platform.machine(),
                     "cpus": os.cpu_count(), "python": platform.python_version(),
                     "measured": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "duckdb": duckdb.__version__, "price_in": args.price_in,
                     # the machine is shared: what else ran is part of the figures (1, 5, 15 minutes)
                     "load_average_before": [round(x, 2) for x in os.getloadavg()],
                     "formats": {}}
    digests = {}
    for fmt in args.formats.split(","):
        usage = folder / f"usage.{fmt}"
        out = out_dir / f"invoices-{fmt}.json"
        cmd = [ratecard, "invoice", str(folder / "pricing"), "--contracts", str(folder / "contracts.json"),
               "--usage", str(usage), "--through", THROUGH, "--format", "json"]
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        if args.price_in:
            cmd += ["--price-in", args.price_in]
        with open(out, "wb") as fh:
            ours = measure(cmd, stdout=fh)
        floor = measure([sys.executable, "-c", FLOOR, str(usage), args.memory_limit or ""])
        stage = None if args.no_stage else measure(
            [sys.executable, "-c", STAGE, str(folder), str(usage), THROUGH, args.memory_limit or ""])
        digests[fmt] = digest(out)
        row = {
            "ratecard": ours, "duckdb_floor": floor,
            "ratecard_events_per_second": round(n / ours["seconds"]),
            "floor_events_per_second": round(n / floor["seconds"]),
            "ratio_to_floor": round(ours["seconds"] / floor["seconds"], 2),
            "invoices_sha256": digests[fmt],
            "invoice_json_mb": round(out.stat().st_size / 1e6, 1),
        }
        if stage is not None:
            row["usage_stage"] = stage
            row["usage_stage_ratio_to_floor"] = round(stage["seconds"] / floor["seconds"], 2)
        if fmt in args.spark.split(","):
            spark_out = out_dir / f"invoices-{fmt}-spark.json"
            with open(spark_out, "wb") as fh:
                row["spark"] = measure(cmd + ["--engine", "spark", "--spark-master", "local[*]"], stdout=fh)
            row["spark_identical"] = digest(spark_out) == digests[fmt]
            row["spark_ratio_to_floor"] = round(row["spark"]["seconds"] / floor["seconds"], 2)
        figures["formats"][fmt] = row
        print(f"{fmt:8} ratecard {ours['seconds']:7.2f}s ({row['ratecard_events_per_second']:,} ev/s, "
              f"{ours['peak_rss_mb']:,} MB, tree {ours['peak_tree_rss_mb']:,} MB)  floor {floor['seconds']:6.2f}s ({floor['peak_rss_mb']:,} MB)  "
              f"ratio {row['ratio_to_floor']:.2f}x" + ("" if stage is None else
              f"; usage stage alone {stage['seconds']:.2f}s ({row['usage_stage_ratio_to_floor']:.2f}x floor)"),
              flush=True)
        if "spark" in row:
            print(f"{fmt:8} spark    {row['spark']['seconds']:7.2f}s (tree {row['spark']['peak_tree_rss_mb']:,} MB) "
                  f"ratio {row['spark_ratio_to_floor']:.2f}x; identical to DuckDB's: {row['spark_identical']}",
                  flush=True)
    figures["identical_across_formats"] = len(set(digests.values())) == 1
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    if not args.no_reference:
        usage = folder / "usage.parquet"
        out = out_dir / "invoices-reference.json"
        ref = measure([sys.executable, "-c", REFERENCE, str(folder), str(usage), str(out), THROUGH])
        figures["reference"] = ref
        figures["reference_identical"] = digest(out) == digests.get("parquet", digest(out))
        if "parquet" in figures["formats"]:
            ours = figures["formats"]["parquet"]["ratecard"]["seconds"]
            figures["speedup_over_reference"] = round(ref["seconds"] / ours, 2)
        print(f"reference {ref['seconds']:.2f}s ({ref['peak_rss_mb']:,} MB); speed-up "
              f"{figures.get('speedup_over_reference', '?')}x; identical: {figures['reference_identical']}")
    print(f"identical across formats: {figures['identical_across_formats']}")

    results_path = Path(args.results)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    key = f"usage_{n}" + (f"_limit_{args.memory_limit}" if args.memory_limit else "") \
        + (f"_price_in_{args.price_in}" if args.price_in else "")
    results[key] = figures
    results_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {results_path} under {key!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
