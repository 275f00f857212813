"""The HTML invoice in a real browser: headless Chromium reads it and draws it.

`--dump-dom` must show the total due and the due date; `--screenshot` must
draw a page that is not blank. Skipped (with the reason) only when no
Chromium is installed; `make test` installs Debian's `chromium` when missing.
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from render_helpers import (
    CASES,
    case_args,
    needs_conformance,
    reference_engine,  # noqa: F401 - a fixture
    run_cli,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("reference_engine")]

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome",
                                                  "google-chrome-stable") if shutil.which(name)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on PATH (Debian package `chromium`; `make test` installs it)")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=120)


@pytest.fixture
def html_invoice(tmp_path, monkeypatch, capsys) -> Path:
    case = next(c for c in CASES if c.name.startswith("06"))
    out = tmp_path / "invoices"
    code, _, err = run_cli(case_args(case, fmt="html") + ["-o", str(out)], case, monkeypatch, capsys)
    assert code == 0, err
    return out / "acme-20260101.html"


@needs_conformance
@needs_chromium
def test_dom_shows_the_totals_and_due_date(html_invoice, tmp_path):
    done = _chromium(tmp_path, "--dump-dom", html_invoice.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "acme-20260101" in dom
    assert 'data-field="total">$0.00<' in dom
    assert 'data-field="subtotal">$200.00<' in dom
    assert 'data-field="due">May 16, 2026<' in dom
    assert "remaining balance $119,800.00" in dom
    assert "<script" not in dom


SPACES_PROJECT = """
currency USD
meter TOKENS { event "llm.completion"  sum tokens  dimensions model  rates per 1K tokens { default : $1 } }
plan p { billing monthly  charge TOKENS }
contract pixel { customer "cus_pixel"  plan p  starts 2026-01-01 }
"""


@needs_chromium
def test_a_run_of_spaces_in_a_value_is_drawn(tmp_path, monkeypatch, capsys):
    """`us  east` and `us east` are two lines billed apart: the browser draws each as it is
    (a cell collapses a run of spaces unless its CSS keeps it). What it draws is read back
    as `innerText`, which applies the page's white-space rules, put into the DOM by a script
    added to a copy of the invoice."""
    import json

    (tmp_path / "p.pricing").write_text(SPACES_PROJECT, encoding="utf-8")
    events = [{"id": f"e{i}", "type": "llm.completion", "customer": "cus_pixel", "time": "2026-01-05T00:00:00Z",
               "properties": {"model": model, "tokens": 1000}} for i, model in enumerate(("us  east", "us east"))]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--format", "html"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    probe = ("<script>document.body.setAttribute('data-drawn', JSON.stringify("
             "[...document.querySelectorAll('td.label')].map(td => td.innerText)));</script>")
    page = tmp_path / "probe.html"
    page.write_text(out.replace("</body>", probe + "</body>"), encoding="utf-8")
    done = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'data-drawn="([^"]*)"', done.stdout)
    assert found, done.stdout[-2000:]
    drawn = json.loads(html.unescape(found.group(1)))
    assert sorted(drawn) == ["model: us  east", "model: us east"]


@needs_conformance
@needs_chromium
def test_screenshot_is_not_blank(html_invoice, tmp_path):
    png = tmp_path / "invoice.png"
    done = _chromium(tmp_path, f"--screenshot={png}", "--window-size=1000,1400", html_invoice.as_uri())
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    width, height, pixels = _pixels(png)
    assert (width, height) == (1000, 1400)
    colours = set(pixels)
    background = max(colours, key=pixels.count)
    drawn = sum(1 for p in pixels if p != background) / len(pixels)
    assert len(colours) > 20, "text and rules are drawn (antialiasing gives many shades)"
    assert drawn > 0.05, f"only {drawn:.1%} of the page differs from its background"


def _pixels(path: Path) -> tuple[int, int, list[tuple[int, ...]]]:
    """(width, height, a sample of RGB pixels), with Pillow when it is installed."""
    try:
        from PIL import Image
    except ImportError:
        return _decode_png(path.read_bytes())
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        w, h = rgb.size
        data = rgb.tobytes()
    return w, h, [tuple(data[i:i + 3]) for i in range(0, len(data), 3 * 7)]


def _decode_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """A small decoder for 8-bit RGB/RGBA non-interlaced PNGs (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = depth = colour = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, pixels = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        pixels.extend(tuple(line[x:x + 3]) for x in range(0, stride, bpp * 7))
        prev = line
    return width, height, pixels


def test_png_decoder_agrees_with_a_known_image():
    # 2x1 RGB: red, blue; filter 0
    raw = b"\x00" + bytes([255, 0, 0, 0, 0, 255])
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    w, h, pixels = _decode_png(png)
    assert (w, h) == (2, 1) and pixels[0] == (255, 0, 0)


@needs_conformance
def test_html_is_self_contained(html_invoice):
    text = html_invoice.read_text(encoding="utf-8")
    lowered = text.lower()
    for banned in ("<script", "http://", "https://", "@import", "url(", "<link", "@font-face"):
        assert banned not in lowered, banned
    assert "<style>" in text and "@page" in text and "@media print" in text
