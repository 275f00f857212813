"""The views of a run at scale: text and HTML invoices, `explain` and `diff`.

    python benchmarks/views.py --events 1000000 [--format parquet] [--src DIR] [--label NAME]
                               [--price-in engine|python] [--runs 1]

Issue 17 asks for `explain`, text and HTML invoices and `diff` at 1M events
to be at least 2x faster than they were; this script measures each on the
benchmark's data (benchmarks/generate.py, made when missing), each command in
its own process (wall time, peak RSS, as benchmarks/run.py measures):

- `invoice --format text` to a file, `invoice --format html -o DIR`
  (and, with `--only html-stdout`, `invoice --format html` to a file);
- `explain --contract c00000` (the run is billed whole, then one contract shown);
- `diff OLD NEW`: the benchmark's pricing against a copy with one rate
  changed (`gpt-4o` tokens $0.005 -> $0.006), so thousands of lines move.

`--src DIR` runs the `ratecard` package found in DIR (a checkout's `src/`,
e.g. a worktree of an earlier commit) with this venv's libraries: before and
after are then measured in one sitting on the same machine. The figures are
merged into benchmarks/results.json under "views_<events>" -> label (the
commit of --src, or "HEAD"), with DuckDB's version and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from run import RESULTS, THROUGH, digest, measure, with_bytecode

HERE = Path(__file__).resolve().parent
ENTRY = "import sys; from ratecard.cli import entry; sys.exit(entry())"  # the program itself (collector off)
CHANGE = ('model = "gpt-4o"                    : $0.005', 'model = "gpt-4o"                    : $0.006')


def _commit(src: Path) -> str:
    found = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


def changed_pricing(folder: Path) -> Path:
    """A copy of the benchmark's pricing with one rate changed (the `diff` benchmark's new side)."""
    new = folder / "pricing-changed"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    text = (folder / "pricing" / "ai.pricing").read_text(encoding="utf-8")
    if CHANGE[0] not in text:
        raise SystemExit(f"benchmarks/views.py: the generated pricing no longer has {CHANGE[0]!r}")
    (new / "ai.pricing").write_text(text.replace(*CHANGE), encoding="utf-8")
    return new


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--format", default="parquet", help="the usage file's format (default parquet)")
    p.add_argument("--data", default=str(HERE / "data"))
    p.add_argument("--src", default=None, help="run the ratecard package in this src/ directory")
    p.add_argument("--label", default=None, help="the name the figures are kept under (default: the commit)")
    p.add_argument("--price-in", choices=("engine", "python"), default=None)
    p.add_argument("--only", default="text,html,explain,diff", help="which views (comma-separated)")
    p.add_argument("--results", default=str(RESULTS))
    args = p.parse_args(argv)
    import duckdb

    folder = Path(args.data) / str(args.events)
    usage = folder / f"usage.{args.format}"
    if not usage.exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--events", str(args.events),
                        "--out", args.data, "--formats", args.format], check=True)
    env = dict(os.environ)
    if args.src:
        src = Path(args.src).resolve()
        env["PYTHONPATH"] = str(src)
        label = args.label or _commit(src)
    else:
        label = args.label or _commit(HERE.parent)
    with_bytecode(Path(args.src).resolve() if args.src else HERE.parent / "src")
    ratecard = [sys.executable, "-c", ENTRY]
    out = folder / "out" / f"views-{label}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    common = ["--contracts", str(folder / "contracts.json"), "--usage", str(usage), "--through", THROUGH]
    price_in = ["--price-in", args.price_in] if args.price_in else []
    pricing = str(folder / "pricing")
    commands = {
        "text": ([*ratecard, "invoice", pricing, *common, *price_in, "--format", "text"], out / "invoices.txt"),
        "html": ([*ratecard, "invoice", pricing, *common, *price_in, "--format", "html", "-o", str(out / "html")],
                 None),
        "html-stdout": ([*ratecard, "invoice", pricing, *common, *price_in, "--format", "html"],
                        out / "invoices.html"),
        "explain": ([*ratecard, "explain", pricing, *common, *price_in, "--contract", "c00000"], out / "explain.txt"),
        "diff": ([*ratecard, "diff", pricing, str(changed_pricing(folder)), *common, "--format", "json"],
                 out / "diff.json"),
    }
    figures = {"events": args.events, "format": args.format, "machine": platform.machine(),
               "cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
               "price_in": args.price_in, "src": args.src,
               "measured": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "load_average_before": [round(x, 2) for x in os.getloadavg()], "views": {}}
    for name in args.only.split(","):
        cmd, target = commands[name]
        previous = os.environ.copy()
        os.environ.clear()
        os.environ.update(env)  # `measure` starts the process with this environment
        try:
            if target is None:
                row = measure(cmd)
            else:
                with open(target, "wb") as fh:
                    row = measure(cmd, stdout=fh)
        finally:
            os.environ.clear()
            os.environ.update(previous)
        if target is not None:
            row["output_sha256"] = digest(target)
        else:
            row["files"] = sum(1 for _ in (out / "html").iterdir())
        figures["views"][name] = row
        print(f"{label:12} {name:8} {row['seconds']:7.2f}s  {row['peak_rss_mb']:,} MB", flush=True)
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results_path = Path(args.results)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.setdefault(f"views_{args.events}", {})[label] = figures
    results_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {results_path} under views_{args.events} -> {label!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
