"""A ledger's life as golden files: issue -> late usage -> issue -> void -> issue ->
list -> show -> export. Every command's output is kept in tests/golden/ledger/
(`pytest --update-golden` rewrites them; review the diff). SQLite, in a temp dir;
the ledger's path is shown as <ledger>."""

from __future__ import annotations

import datetime as dt

from golden_check import assert_golden
from ledger_helpers import base_usage, cli, events, write_project, write_usage


def test_a_ledger_sequence(capsys, tmp_path, update_golden, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = write_project(tmp_path / "pricing")
    ledger = "ledger.db"
    rows = base_usage()
    usage = write_usage(tmp_path / "usage.jsonl", rows)
    rows += events("c_acme", dt.date(2026, 1, 28), 12, "late") + events("c_beta", dt.date(2026, 1, 29), 3, "late")
    late = write_usage(tmp_path / "late.jsonl", rows)
    steps = [
        ["issue", "pricing", "--usage", "usage.jsonl", "--through", "2026-02-03", "--ledger", ledger],
        ["issue", "pricing", "--usage", "late.jsonl", "--through", "2026-02-10", "--ledger", ledger],
        ["issue", "pricing", "--usage", "late.jsonl", "--through", "2026-03-03", "--ledger", ledger],
        ["issue", "pricing", "--usage", "late.jsonl", "--through", "2026-03-03", "--ledger", ledger],
        ["ledger", "void", "INV-000004", "--reason", "sent to the wrong address", "--date", "2026-03-04",
         "--ledger", ledger],
        ["issue", "pricing", "--usage", "late.jsonl", "--through", "2026-03-04", "--ledger", ledger],
        ["ledger", "list", "--ledger", ledger],
        ["ledger", "show", "INV-000003", "--ledger", ledger],
        ["ledger", "show", "CN-000001", "--ledger", ledger, "--format", "markdown"],
    ]
    transcript = []
    for args in steps:
        code, out, _ = cli(capsys, *args)
        assert code == 0, args
        transcript.append(f"$ ratecard {' '.join(args)}\n{out}")
    assert usage and late
    assert_golden("ledger/sequence.txt", "\n".join(transcript), update_golden)
    code, out, _ = cli(capsys, "ledger", "list", "--ledger", ledger, "--format", "json")
    assert_golden("ledger/list.json", out, update_golden)
    code, out, _ = cli(capsys, "ledger", "export", "-o", "export", "--format", "text", "--ledger", ledger)
    assert code == 0
    exported = sorted((tmp_path / "export").iterdir())
    text = "".join(f"==> {p.name} <==\n{p.read_text(encoding='utf-8')}\n" for p in exported)
    assert_golden("ledger/export.txt", text, update_golden)
    code, out, _ = cli(capsys, "ledger", "export", "-o", "csv", "--format", "csv", "--ledger", ledger)
    assert code == 0
    assert_golden("ledger/documents.csv", (tmp_path / "csv" / "documents.csv").read_text(encoding="utf-8"),
                  update_golden)
    assert_golden("ledger/lines.csv", (tmp_path / "csv" / "lines.csv").read_text(encoding="utf-8"),
                  update_golden)
