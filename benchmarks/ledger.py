"""Ledger benchmark: `ratecard issue` on the usage benchmark's data.

    python benchmarks/ledger.py --events 1000000 [--postgres URL]

On the generated data (benchmarks/generate.py; Parquet is enough), into a new
SQLite ledger in a temp directory (and a PostgreSQL one with `--postgres`),
each step in its own process (wall time, peak RSS):

1. `issue --through 2026-02-03`: January's invoices (10,000 contracts);
2. `issue --through 2026-04-03`: February and March;
3. the same again: nothing to issue (every slot compared, nothing written);
4. `ledger export --format json` of every document;

and, for comparison, `ratecard invoice --format json` on the same inputs.
Prints the figures and writes them under "ledger" in
benchmarks/ledger-results.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import measure  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--data", default=str(HERE / "data"))
    p.add_argument("--postgres", metavar="URL", help="also issue into this (empty) PostgreSQL database")
    args = p.parse_args(argv)
    folder = Path(args.data) / str(args.events)
    usage = folder / "usage.parquet"
    if not usage.exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--events", str(args.events),
                        "--out", args.data, "--formats", "parquet"], check=True)
    ratecard = str(Path(sys.executable).parent / "ratecard")
    inputs = [str(folder / "pricing"), "--contracts", str(folder / "contracts.json"), "--usage", str(usage)]
    figures: dict = {"events": args.events, "usage": "parquet"}
    with tempfile.TemporaryDirectory(prefix="ratecard-ledger-bench-") as tmp:
        figures["invoice_json"] = measure([ratecard, "invoice", *inputs, "--through", "2026-04-03",
                                           "--format", "json"])
        ledgers = {"sqlite": f"sqlite:///{tmp}/ledger.db"}
        if args.postgres:
            ledgers["postgresql"] = args.postgres
        for backend, url in ledgers.items():
            steps = {}
            for name, through in (("issue_january", "2026-02-03"), ("issue_feb_mar", "2026-04-03"),
                                  ("issue_again_nothing", "2026-04-03")):
                steps[name] = measure([ratecard, "issue", *inputs, "--through", through, "--ledger", url])
                print(f"{backend:10} {name:20} {steps[name]['seconds']:7.2f} s  "
                      f"{steps[name]['peak_rss_mb']:6} MB", flush=True)
            out = Path(tmp) / f"export-{backend}"
            steps["export_json"] = measure([ratecard, "ledger", "export", "-o", str(out), "--ledger", url])
            steps["documents"] = len(list(out.iterdir()))
            print(f"{backend:10} {'export_json':20} {steps['export_json']['seconds']:7.2f} s  "
                  f"({steps['documents']} documents)", flush=True)
            figures[backend] = steps
    print(f"invoice --format json (same inputs): {figures['invoice_json']['seconds']} s")
    results = HERE / "ledger-results.json"
    data = json.loads(results.read_text()) if results.exists() else {}
    data["ledger"] = figures
    results.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
