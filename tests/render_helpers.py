"""Running `ratecard invoice` / `credits` on the conformance cases, in process.

The command's usage engine is swapped for the pure-Python reference
aggregator, which implements the same contract (results are identical by
design), so rendering tests do not depend on the DuckDB engine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import ratecard.commands.common as common
from ratecard.cli import main
from ratecard.report.render import EXTENSIONS
from ratecard.usage.reference import aggregate_usage

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT.parent / "shared" / "conformance"
EXAMPLES = ROOT / "examples"


def invoice_cases() -> list[Path]:
    """The conformance cases that bill (their case.json runs `invoice`)."""
    cases = []
    for case in sorted(CONFORMANCE.glob("0*/")):
        spec = json.loads((case / "case.json").read_text(encoding="utf-8"))
        if spec["args"][0] == "invoice" and not spec["expect"].get("exit_nonzero"):
            cases.append(case)
    return cases


CASES = invoice_cases()
# the rendered formats and their extensions (JSON is not rendered by a template)
FORMATS = {fmt: ext for fmt, ext in EXTENSIONS.items() if fmt != "json"}
needs_conformance = pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")


def case_args(case: Path, command: str = "invoice", fmt: str | None = None) -> list[str]:
    """The case's own arguments, for `command`, with `--format` replaced."""
    args = json.loads((case / "case.json").read_text(encoding="utf-8"))["args"][1:]
    if "--format" in args:
        i = args.index("--format")
        del args[i:i + 2]
    return [command, *args] + (["--format", fmt] if fmt else [])


@pytest.fixture
def reference_engine(monkeypatch):
    monkeypatch.setattr(common, "AGGREGATOR", aggregate_usage)


def run_cli(args: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def normalise_html(text: str) -> str:
    """HTML compared without caring about indentation and line breaks."""
    text = re.sub(r"\s+", " ", text)
    return re.sub(r">\s+<", "><", text).strip()
