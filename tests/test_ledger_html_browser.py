"""Ledger documents as HTML in a real browser (as tests/test_html_browser.py does for
invoices): an invoice carrying adjustment lines and a credit note, exported with
`ratecard ledger export --format html`, read and drawn by headless Chromium."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ledger_helpers import base_usage, cli, events, issue, write_project, write_usage
from test_html_browser import _chromium, _pixels, needs_chromium

pytestmark = [pytest.mark.slow]


@pytest.fixture
def exported(tmp_path, capsys) -> Path:
    project = write_project(tmp_path / "pricing")
    ledger = str(tmp_path / "ledger.db")
    rows = base_usage()
    assert issue(capsys, project, write_usage(tmp_path / "u.jsonl", rows), "2026-02-03", ledger)[0] == 0
    rows += events("c_beta", dt.date(2026, 1, 25), 5, "late")
    assert issue(capsys, project, write_usage(tmp_path / "late.jsonl", rows), "2026-03-03", ledger)[0] == 0
    assert cli(capsys, "ledger", "void", "INV-000004", "--reason", "wrong address", "--date", "2026-03-04",
               "--ledger", ledger)[0] == 0
    out = tmp_path / "html"
    code, _, err = cli(capsys, "ledger", "export", "-o", str(out), "--format", "html", "--ledger", ledger)
    assert code == 0, err
    return out


@needs_chromium
def test_dom_shows_adjustment_lines_and_the_credit_note(exported, tmp_path):
    done = _chromium(tmp_path, "--dump-dom", (exported / "INV-000004.html").as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-field="adjustments">$0.50<' in dom and "Adjustments to earlier invoices" in dom
    assert "INV-000002" in dom and "5 events late" in dom
    assert 'data-field="status">Void: reversed by credit note CN-000001<' in dom
    done = _chromium(tmp_path, "--dump-dom", (exported / "CN-000001.html").as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<title>Credit note CN-000001</title>" in dom
    assert 'data-field="corrects">INV-000004<' in dom and 'data-field="reason">void: wrong address<' in dom
    assert 'data-field="total-credited">$103.50<' in dom and "Total credited (USD)" in dom
    assert "<script" not in dom


@needs_chromium
@pytest.mark.parametrize("name", ["INV-000004.html", "CN-000001.html"])
def test_screenshot_is_not_blank(exported, tmp_path, name):
    png = tmp_path / "doc.png"
    done = _chromium(tmp_path, f"--screenshot={png}", "--window-size=1000,1400", (exported / name).as_uri())
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    width, height, pixels = _pixels(png)
    assert (width, height) == (1000, 1400)
    background = max(set(pixels), key=pixels.count)
    drawn = sum(1 for p in pixels if p != background) / len(pixels)
    assert len(set(pixels)) > 20 and drawn > 0.05


def test_ledger_html_is_self_contained(exported):
    for path in exported.glob("*.html"):
        lowered = path.read_text(encoding="utf-8").lower()
        for banned in ("<script", "http://", "https://", "@import", "url(", "<link", "@font-face"):
            assert banned not in lowered, (path.name, banned)
