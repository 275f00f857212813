"""The `ratecard` program's entry point (`cli.entry`) against `cli.main`."""

from __future__ import annotations

import gc
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_program_runs_without_the_cyclic_collector(monkeypatch):
    """A command is a process of its own: `entry` turns the collector off for it
    (see its docstring for what that measured), then runs `main`."""
    from ratecard import cli

    seen = []
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(gc.isenabled()) or 7)
    was = gc.isenabled()
    try:
        gc.enable()
        assert cli.entry() == 7
        assert seen == [False]
    finally:
        (gc.enable if was else gc.disable)()


def test_main_leaves_the_collector_alone(tmp_path):
    from ratecard.cli import main

    pricing = tmp_path / "p.pricing"
    pricing.write_text('meter API { event "api.request" count }\n', encoding="utf-8")
    assert gc.isenabled()
    assert main(["check", str(pricing)]) == 0
    assert gc.isenabled()


def test_the_console_script_is_the_entry_point():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["ratecard"] == "ratecard.cli:entry"
