"""Ctrl-C and SIGTERM while the usage engine runs its query: a clean interruption.

`cli.Signals` turns SIGINT, SIGTERM and SIGHUP into one exception that unwinds
the run (DuckDB answers it with "Query interrupted"; the run is still reported
as interrupted): "interrupted", exit 128 + the signal, and every folder the
run made is gone (the engine's spill folder, the cleaned copies of
`--skip-bad-rows`, `-o DIR`'s staging folder and the directories it created).
Before: Ctrl-C ended as "internal error: RuntimeError: Query interrupted"
(exit 3), and SIGTERM killed the process, leaving all of them behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ai-api"
EVENTS = 500_000  # a query of a second or more on two cores


@pytest.fixture(scope="module")
def big_usage(tmp_path_factory) -> Path:
    """The example's events repeated (fresh ids) up to EVENTS, plus one bad row."""
    events = [json.loads(line) for line in (EXAMPLE / "usage.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    path = tmp_path_factory.mktemp("usage") / "usage.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for n in range(EVENTS):
            event = dict(events[n % len(events)])
            event["id"] = f"{event['id']}-{n // len(events)}"
            fh.write(json.dumps(event) + "\n")
        fh.write("not a JSON object\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, message", [
    (signal.SIGINT, 130, "interrupted\n"),
    (signal.SIGTERM, 143, "interrupted (SIGTERM)\n"),
], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_query_is_a_clean_interruption(signum, code, message, big_usage, tmp_path):
    scratch = tmp_path / "tmp"  # the run's $TMPDIR: its spill and cleaned-copy folders
    scratch.mkdir()
    out_dir = tmp_path / "new" / "a" / "b"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TMPDIR": str(scratch)}
    env.pop("RATECARD_DEBUG", None)
    args = [sys.executable, "-m", "ratecard.cli", "invoice", str(EXAMPLE), "--usage", str(big_usage),
            "--through", "2026-04-01", "--format", "text", "-o", str(out_dir),
            "--skip-bad-rows", str(tmp_path / "skipped.jsonl")]
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(d.name.startswith("ratecard-spill-") for d in scratch.iterdir()):
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.3)  # the engine is reading the events
        assert p.poll() is None, "the query should still be running"
        p.send_signal(signum)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == code, err
    assert err.endswith(message), err
    assert "internal error" not in err and "Traceback" not in err and out == ""
    assert list(scratch.iterdir()) == [], "the spill and cleaned-copy folders are removed"
    assert not (tmp_path / "new").exists(), "no staging folder, no directory the run created"
    assert not (tmp_path / "skipped.jsonl").exists()
