"""`make demo`: price the three example businesses and show their invoices.

For each example (examples/ai-api, examples/storage, examples/enterprise) it
checks the pricing, prints every invoice as text with the summary table, and
writes the same invoices as HTML (one file per invoice) under `demo-output/`,
with an index page. The enterprise example's credit ledger is printed too.
Then the ledger (docs/ledger.md): the AI API's January is issued into a
temporary SQLite ledger, a late event arrives, February's invoice carries the
correction, and the ledger is listed. The last line printed is the folder of
the HTML invoices.

    python examples/demo.py [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout even without the editable install

from ratecard.cli import main as ratecard  # noqa: E402

THROUGH = "2026-04-01"
EXAMPLES = (
    ("ai-api", "An AI API business: tokens per model, plans, enterprise overrides, credits"),
    ("storage", "An object-storage business in euros: graduated and volume tiers, packages"),
    ("enterprise", "An enterprise contract book: minimums, custom cycles, terms, autopay, credits"),
)


def banner(text: str) -> None:
    print()
    print("#" * 100)
    print(f"#  {text}")
    print("#" * 100)
    print(flush=True)


def run(args: list[str], quiet: bool = False) -> int:
    """`ratecard ARGS` in this process; stdout swallowed when `quiet`."""
    sys.stdout.flush()
    if quiet:
        with contextlib.redirect_stdout(io.StringIO()):
            code = ratecard(args)
    else:
        code = ratecard(args)
    sys.stdout.flush()
    sys.stderr.flush()
    if code != 0:
        raise SystemExit(f"demo: `ratecard {' '.join(args)}` failed with exit code {code}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "demo-output"), help="where the HTML invoices go")
    opts = parser.parse_args(argv)
    out = Path(opts.out).resolve()
    index: list[tuple[str, list[str]]] = []
    for name, title in EXAMPLES:
        folder = HERE / name
        pricing = str(folder)
        usage = str(folder / "usage.jsonl")
        banner(f"examples/{name}: {title}")
        print(f"$ ratecard check examples/{name}", flush=True)
        run(["check", pricing])
        print("no problems found\n")
        print(f"$ ratecard invoice examples/{name} --usage examples/{name}/usage.jsonl "
              f"--through {THROUGH} --format text\n", flush=True)
        run(["invoice", pricing, "--usage", usage, "--through", THROUGH, "--format", "text"])
        target = out / name
        run(["invoice", pricing, "--usage", usage, "--through", THROUGH, "--format", "html",
             "-o", str(target)], quiet=True)
        files = sorted(p.name for p in target.glob("*.html"))
        index.append((name, files))
        if name == "enterprise":
            print(f"\n$ ratecard credits examples/{name} --usage examples/{name}/usage.jsonl "
                  f"--through {THROUGH}\n", flush=True)
            run(["credits", pricing, "--usage", usage, "--through", THROUGH])
    ledger_demo()
    _write_index(out, index)
    print()
    print(f"{sum(len(f) for _, f in index)} HTML invoices, one file each, with an index page "
          f"({out / 'index.html'}):")
    print(out)
    return 0


LATE_EVENT = {
    "id": "ai-late-0001", "type": "llm.completion", "customer": "cus_initrode",
    "time": "2026-01-30T23:10:00Z",
    "properties": {"model": "claude-sonnet", "input_tokens": 4200000, "output_tokens": 350000,
                   "environment": "production"},
}


def ledger_demo() -> None:
    """A month issued into a ledger, a late event corrected by the next invoice, the ledger listed.

    The ledger is a SQLite file in a temporary directory (never under examples/)."""
    name = "ai-api"
    folder = HERE / name
    usage = folder / "usage.jsonl"
    banner("the ledger: January issued, a late event corrected on February's invoice, the ledger listed")
    with tempfile.TemporaryDirectory(prefix="ratecard-demo-") as tmp:
        ledger = str(Path(tmp) / "ledger.db")
        late = Path(tmp) / "usage-with-late-event.jsonl"
        late.write_text(usage.read_text(encoding="utf-8") + json.dumps(LATE_EVENT) + "\n", encoding="utf-8")
        print(f"$ ratecard issue examples/{name} --usage examples/{name}/usage.jsonl --through 2026-02-01 "
              "--ledger $TMP/ledger.db\n", flush=True)
        run(["issue", str(folder), "--usage", str(usage), "--through", "2026-02-01", "--ledger", ledger])
        print("\n# a January event of initrode arrives late, after January was issued:")
        print(f"#   {json.dumps(LATE_EVENT)}")
        print(f"$ ratecard issue examples/{name} --usage $TMP/usage-with-late-event.jsonl --through 2026-03-01 "
              "--ledger $TMP/ledger.db\n", flush=True)
        run(["issue", str(folder), "--usage", str(late), "--through", "2026-03-01", "--ledger", ledger])
        print("\n$ ratecard ledger list --ledger $TMP/ledger.db\n", flush=True)
        run(["ledger", "list", "--ledger", ledger])
        carrier = _carrier(ledger)
        print(f"\n$ ratecard ledger show {carrier} --ledger $TMP/ledger.db\n", flush=True)
        run(["ledger", "show", carrier, "--ledger", ledger])


def _carrier(ledger: str) -> str:
    """The number of the invoice that carries the late event's adjustment lines."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        run(["ledger", "list", "--ledger", ledger, "--format", "json"])
    docs = json.loads(buf.getvalue())
    return next(d["number"] for d in docs if d["contract"] == "initrode" and d["period"]["start"] == "2026-02-01")


def _write_index(out: Path, index: list[tuple[str, list[str]]]) -> None:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>ratecard demo invoices</title>",
             "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:720px;margin:40px auto;"
             "padding:0 16px}h2{margin-top:28px}</style></head><body>",
             "<h1>ratecard demo invoices</h1>",
             f"<p>Billed through {html.escape(THROUGH)}. Each invoice is one self-contained file.</p>"]
    for name, files in index:
        parts.append(f"<h2>{html.escape(name)}</h2><ul>")
        parts.extend(f'<li><a href="{html.escape(name)}/{html.escape(f)}">{html.escape(f[:-5])}</a></li>'
                     for f in files)
        parts.append("</ul>")
    parts.append("</body></html>\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text("\n".join(parts), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
