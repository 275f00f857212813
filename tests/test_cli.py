"""The `ratecard` program: its entry point (`cli.entry`) against `cli.main`, and
the command line as a new user meets it (errors that say how to fix them)."""

from __future__ import annotations

import gc
import tomllib
from pathlib import Path

import pytest

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


# What a command that only compiles loads: not billing, the usage engine, the views or
# Jinja (each command's module imports its machinery where it runs). `ratecard check`
# on a small project took 0.29 s with every command's machinery imported, 0.19 s without.
HEAVY = ("ratecard.billing", "ratecard.usage.duckdb", "ratecard.usage.query", "ratecard.report.render",
         "ratecard.report.formatter", "ratecard.ledger", "sqlglot", "duckdb", "jinja2", "sqlalchemy")
LOADED = """
import json, sys
from ratecard.cli import main
code = main(sys.argv[1:])
print(json.dumps([code, sorted(sys.modules)]))
"""


def _loaded(args: list[str]) -> list[str]:
    """The modules `ratecard ARGS` loaded, run in a process of its own (which must succeed)."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True, text=True, env=env,
                          timeout=300)
    code, modules = json.loads(done.stdout.splitlines()[-1])
    assert code == 0, done.stderr
    return modules


@pytest.mark.parametrize("command", [["check"], ["compile"], ["fmt", "--check"], ["check", "--format", "json"]])
def test_a_command_that_only_compiles_loads_no_billing(command, tmp_path):
    pricing = tmp_path / "p.pricing"
    pricing.write_text('meter API {\n  event "api.request"\n  count\n}\n', encoding="utf-8")  # as `fmt` writes it
    modules = _loaded([*command, str(pricing)])
    loaded = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []
    assert "ratecard.compiler" in modules  # (it did compile)


def test_the_invoice_json_loads_no_templates():
    """`invoice --format json` renders nothing: Jinja and the views stay unloaded."""
    folder = ROOT / "examples" / "ai-api"
    modules = _loaded(["invoice", str(folder), "--usage", str(folder / "usage.jsonl"), "--through", "2026-04-01"])
    assert [m for m in modules if m.split(".")[0] == "jinja2" or m.startswith("ratecard.report.render")] == []
    assert "ratecard.billing.run" in modules  # (it did bill)


# ----------------------------------------------------------------- what a new user types


def _main(args: list[str], capsys) -> tuple[int, str, str]:
    from ratecard.cli import main

    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_a_mistyped_command_gets_did_you_mean(capsys):
    code, _, err = _main(["invoce"], capsys)
    assert code == 2
    assert "ratecard: error: unknown command `invoce` (did you mean `invoice`?)" in err
    code, _, err = _main(["check", "x.pricing", "--format", "jsn"], capsys)
    assert code == 2 and "invalid choice: 'jsn'" in err and "(did you mean `json`?)" in err


@pytest.mark.parametrize("args", [
    ["invoice", "--usage", "usage.jsonl", ".", "--through", "2026-04-01"],
    ["explain", "--usage", "usage.jsonl", ".", "--through", "2026-04-01", "--contract", "initrode"],
    ["diff", "--usage", "usage.jsonl", "old.pricing", "new.pricing", "--through", "2026-04-01"],
])
def test_a_path_taken_by_usage_is_named(args, tmp_path, monkeypatch, capsys):
    """`--usage FILE...` takes every word up to the next option, the project's PATH too.
    Before: only "the following arguments are required: PATH"."""
    monkeypatch.chdir(tmp_path)
    took = " ".join(args[2:args.index("--through")][1:])
    code, _, err = _main(args, capsys)
    assert code == 2
    assert "the following arguments are required: PATH" in err
    assert f"(`--usage` took {took} as FILE: it takes every word up to the next option; put PATH first, " in err
    assert f"`ratecard {args[0]} PATH... --usage FILE...`, or `--usage` last)" in err


@pytest.mark.parametrize("command", [
    ["invoice"], ["explain", "--contract", "c"], ["credits"], ["issue", "--ledger", "sqlite:///l.db"],
    ["diff", "p.pricing"],
])
@pytest.mark.parametrize("twice", [["u.jsonl", "u.jsonl"], ["./u.jsonl", "u.jsonl"], ["u.jsonl", "same.jsonl"]])
def test_a_usage_file_named_twice_is_a_command_line_mistake(command, twice, tmp_path, monkeypatch, capsys):
    """The same file given twice to `--usage` (by any spelling, or a hard link) was read
    twice: its bad rows named twice and every event counted twice as read (then as a
    duplicate). It is a mistake on the command line: exit 2, naming both."""
    import os

    monkeypatch.chdir(tmp_path)
    Path("p.pricing").write_text('meter API {\n  event "api.request"\n  count\n}\n'
                                 'plan p {\n  charge API : $1 per call\n}\n'
                                 'contract c {\n  customer "c"\n  plan p\n  starts 2026-01-01\n}\n', encoding="utf-8")
    Path("u.jsonl").write_text('{"id": "e1", "type": "api.request", "customer": "c", "time": "2026-01-05T00:00:00Z"}\n'
                               'not json\n', encoding="utf-8")
    os.link("u.jsonl", "same.jsonl")
    code, out, err = _main([command[0], "p.pricing", *command[1:], "--usage", *twice, "--through", "2026-02-01"],
                           capsys)
    assert (code, out) == (2, "")
    assert f"--usage names the same file twice: `{twice[0]}` and `{twice[1]}`" in err
    assert not Path("l.db").exists()


def test_every_command_has_help_and_a_description(capsys):
    from ratecard.cli import build_parser
    from ratecard.commands import COMMANDS

    parser = build_parser()
    listing = parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert len(sub.choices) == len(COMMANDS)
    for name, command in sub.choices.items():
        helps = [c.help for c in sub._choices_actions if c.dest == name]
        assert helps and helps[0] and f"    {name}" in listing and helps[0][:30] in listing
        assert command.description and len(command.description) > len(helps[0]), name
        assert " ".join(command.description.split()) in " ".join(command.format_help().split())


def test_explain_says_its_contract_is_required(capsys):
    from ratecard.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    explain = " ".join(sub.choices["explain"].format_help().split())
    credits = " ".join(sub.choices["credits"].format_help().split())
    assert "--contract NAME the contract to explain (required)" in explain
    assert "only this contract's invoices" not in explain
    assert "--contract NAME only this contract's invoices" in credits


# ----------------------------------------------------------------- sql --table


def _sql(args, tmp_path, capsys) -> tuple[int, str, str]:
    from warehouse_helpers import SCENARIO, SCENARIO_THROUGH

    (tmp_path / "t.pricing").write_text(SCENARIO, encoding="utf-8")
    return _main(["sql", str(tmp_path / "t.pricing"), "--through", SCENARIO_THROUGH, *args], capsys)


@pytest.mark.parametrize("dialect, table, written", [
    ("bigquery", "my-proj.billing.events", "`my-proj`.billing.events"),
    ("bigquery", "`my-proj.billing.events`", "`my-proj`.`billing`.`events`"),
    ("bigquery", "`my-proj`.billing.events", "`my-proj`.billing.events"),
    ("spark", "my-catalog.billing.events", "`my-catalog`.billing.events"),
    ("snowflake", "my-db.billing.events", '"my-db".billing.events'),
    ("postgres", '"Usage Events"', '"Usage Events"'),
    ("postgres", "x; DROP TABLE y", '"x; DROP TABLE y"'),
    ("duckdb", "usage_events", "usage_events"),
])
def test_sql_reads_a_table_named_as_the_dialect_names_it(dialect, table, written, tmp_path, capsys):
    """Before: `--table my-proj.billing.events` (a BigQuery project id) was refused:
    only letters, digits and `_` were allowed. Every part the dialect can quote is
    quoted by sqlglot, so no name can inject SQL."""
    import sqlglot
    from sqlglot import exp

    code, out, err = _sql(["--dialect", dialect, "--table", table], tmp_path, capsys)
    assert code == 0, err
    assert f"FROM {written}\n" in out
    tables = {t.sql(dialect=dialect) for t in sqlglot.parse_one(out, read=dialect).find_all(exp.Table)}
    assert written in tables
    assert len(sqlglot.parse(out, read=dialect)) == 1, "one statement"


def test_sql_with_a_quoted_table_runs_in_duckdb(tmp_path, capsys):
    """The query reads a table whose schema and name need quoting, with the same
    result as from the plain `usage_events`."""
    import duckdb
    from warehouse_helpers import SCENARIO_KEYS, scenario_events, write_flat_csv

    table = write_flat_csv(tmp_path / "table.csv", scenario_events(200), SCENARIO_KEYS)
    plain = _sql([], tmp_path, capsys)[1]
    code, quoted, err = _sql(["--table", "my-billing.usage events"], tmp_path, capsys)
    assert code == 0, err and 'FROM "my-billing"."usage events"' in quoted
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute('CREATE SCHEMA "my-billing"')
    for name in ("usage_events", '"my-billing"."usage events"'):
        conn.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, header = true, all_varchar = true)",
                     [table])
    rows = conn.execute(plain).fetchall()
    assert rows and conn.execute(quoted).fetchall() == rows


UNPRICED = ('meter API {\n  event "api.request"\n  count\n  dimensions region\n'
            '  rates per call {\n    region = "us" : $0.01\n  }\n}\n'
            'plan p {\n  charge API\n}\n'
            'contract c {\n  customer "c"\n  plan p\n  starts 2026-01-01\n}\n')


@pytest.mark.parametrize("command", [["invoice", "--format", "text"], ["explain", "--contract", "c"], ["credits"]])
def test_unpriced_usage_shows_the_rate_card_to_edit(command, tmp_path, monkeypatch, capsys):
    """A new user's first E502 named contract, meter and period, and no place in the
    pricing: now a note shows the meter's rate card, where the `default` rule goes, with
    `file:line:col`, the line and a caret, as every other note is shown."""
    monkeypatch.chdir(tmp_path)
    Path("p.pricing").write_text(UNPRICED, encoding="utf-8")
    Path("u.jsonl").write_text('{"id": "e1", "type": "api.request", "customer": "c", "time": "2026-01-05T00:00:00Z",'
                               ' "properties": {"region": "eu"}}\n', encoding="utf-8")
    code, out, err = _main([command[0], "p.pricing", *command[1:], "--usage", "u.jsonl", "--through", "2026-02-01"],
                           capsys)
    assert (code, out) == (1, "")
    assert ("p.pricing:6:5: note: meter `API`'s rate card, where a `default` rule would go\n"
            '   6 |     region = "us" : $0.01\n'
            "     |     ^^^^^^^^^^^^^^^^^^^^^\n") in err


def test_unpriced_usage_in_json_carries_the_note(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.chdir(tmp_path)
    Path("p.pricing").write_text(UNPRICED, encoding="utf-8")
    Path("u.jsonl").write_text('{"id": "e1", "type": "api.request", "customer": "c", "time": "2026-01-05T00:00:00Z",'
                               ' "properties": {"region": "eu"}}\n', encoding="utf-8")
    code, _, err = _main(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                          "--format", "json"], capsys)
    (diag,) = json.loads(err)["diagnostics"]
    assert code == 1 and diag["code"] == "E502" and diag["span"] is None
    assert diag["notes"] == [{"message": "meter `API`'s rate card, where a `default` rule would go",
                              "span": {"file": "p.pricing", "line": 6, "col": 5, "end_line": 6, "end_col": 26}}]
