"""Invoices people read: `ratecard invoice --format text|markdown|html`, `-o DIR`, templates.

Golden files (tests/golden/render/<case>.<ext>) hold what each conformance
case prints: text and Markdown compared exactly, HTML after normalising
whitespace. `pytest --update-golden` rewrites them; review the diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ratecard.io as rio
from ratecard.billing.documents import Invoice, InvoiceRun
from ratecard.report.render import file_names
from ratecard.io import write_atomic
from ratecard.report.formatter import Formatter, compact_unit, expiry_text, parse_locale
from ratecard.report.render import markdown_escape, wrap_lines

from billing_helpers import example_through

from golden_check import assert_golden
from render_helpers import (
    CASES,
    FORMATS,
    case_args,
    needs_conformance,
    normalise_html,
    reference_engine,  # noqa: F401 - a fixture
    run_cli,
)

pytestmark = pytest.mark.usefixtures("reference_engine")



def _compare(relative: str, actual: str, update: bool, html: bool = False) -> None:
    assert_golden(relative, actual, update, normalise=normalise_html if html else None)


# ----------------------------------------------------------------- golden outputs


@needs_conformance
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_invoice(case, fmt, update_golden, monkeypatch, capsys):
    code, out, err = run_cli(case_args(case, fmt=fmt), case, monkeypatch, capsys)
    assert code == 0, err
    assert "Traceback" not in err
    _compare(f"render/{case.name}.{FORMATS[fmt]}", out, update_golden, html=fmt == "html")


@needs_conformance
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_text_fits_100_columns(case, monkeypatch, capsys):
    code, out, _ = run_cli(case_args(case, fmt="text"), case, monkeypatch, capsys)
    assert code == 0
    for line in out.splitlines():
        assert len(line) <= 100, line
        assert line == line.rstrip(), f"trailing spaces: {line!r}"


@needs_conformance
def test_text_columns_are_aligned(monkeypatch, capsys):
    case = next(c for c in CASES if c.name.startswith("08"))
    _, out, _ = run_cli(case_args(case, fmt="text"), case, monkeypatch, capsys)
    table = out[out.index("Description"):out.index("Subtotal")].splitlines()
    header, rows = table[0], [r for r in table[2:] if r.endswith(("0", "5")) and "$" in r]
    amount_end = len(header)
    assert rows and all(len(r) == amount_end for r in rows), "amounts end in one column"


@needs_conformance
def test_every_invoice_shows_what_a_reader_needs(monkeypatch, capsys):
    case = next(c for c in CASES if c.name.startswith("06"))
    _, out, _ = run_cli(case_args(case, fmt="text"), case, monkeypatch, capsys)
    for needed in ("From            ratecard", "Bill to         customer cust_acme", "contract acme",
                   "Invoice number  acme-20260101", "Service period  Jan 1", "Issued          Apr 1, 2026",
                   "Due             May 16, 2026", "Payment terms   Net 45", "Autopay         Off",
                   "model: gpt-4", "1K tokens", "$0.015", "Subtotal", "2026 annual commitment",
                   "remaining balance $119,800.00", "Total due (USD)", "Summary: billed through",
                   "CREDIT PURCHASE  acme-20260101-C1", "Credit value    $120,000.00"):
        assert needed in out, needed


@needs_conformance
def test_json_stays_the_default_and_unchanged(monkeypatch, capsys):
    case = CASES[0]
    args = case_args(case)
    code, default, _ = run_cli(args, case, monkeypatch, capsys)
    code2, explicit, _ = run_cli(args + ["--format", "json"], case, monkeypatch, capsys)
    assert code == code2 == 0
    assert default == explicit
    InvoiceRun.model_validate_json(default)
    assert default.startswith('{\n  "through": ')


# ----------------------------------------------------------------- -o DIR


@needs_conformance
@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_one_file_per_invoice(fmt, tmp_path, monkeypatch, capsys):
    case = next(c for c in CASES if c.name.startswith("02"))
    out_dir = tmp_path / "out"
    code, out, err = run_cli(case_args(case, fmt=fmt) + ["-o", str(out_dir)], case, monkeypatch, capsys)
    assert code == 0, err
    _, run_json, _ = run_cli(case_args(case), case, monkeypatch, capsys)
    numbers = [inv["number"] for inv in json.loads(run_json)["invoices"]]
    ext = {"text": "txt", "markdown": "md", "html": "html", "json": "json"}[fmt]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{n}.{ext}" for n in numbers)
    assert out.splitlines() == [str(out_dir / f"{n}.{ext}") for n in numbers]
    first = (out_dir / f"{numbers[0]}.{ext}").read_text(encoding="utf-8")
    assert numbers[0] in first
    if fmt == "json":
        assert Invoice.model_validate_json(first).number == numbers[0]
    if fmt == "html":
        assert first.count("<article") == 1 and first.startswith("<!DOCTYPE html>")


@needs_conformance
def test_one_file_per_invoice_walks_the_run_once(tmp_path, monkeypatch, capsys):
    """The plan's extras (a walk over every priced line) are worked out once per run, not
    once per file: per file, 22,000 invoices of the 1M benchmark never finished."""
    from ratecard.report import invoice_views as views

    walks = []
    real = views.Extras.from_plan.__func__
    monkeypatch.setattr(views.Extras, "from_plan",
                        classmethod(lambda cls, *a, **k: walks.append(1) or real(cls, *a, **k)))
    case = next(c for c in CASES if c.name.startswith("02"))
    code, out, err = run_cli(case_args(case, fmt="html") + ["-o", str(tmp_path / "out")], case,
                             monkeypatch, capsys)
    assert code == 0, err
    assert len(out.splitlines()) > 1 and walks == [1]


def test_file_names_are_safe_and_unique():
    assert file_names(["acme-20260101", "acme-20260101-C1"], "txt") == [
        "acme-20260101.txt", "acme-20260101-C1.txt"]
    assert file_names(["../etc/passwd-20260101", "a b/c-1", "a_b_c-1", "A_B_C-1"], "md") == [
        "_etc_passwd-20260101.md", "a_b_c-1.md", "a_b_c-1-2.md", "A_B_C-1-3.md"]
    assert file_names([".hidden"], "json") == ["hidden.json"]


def test_written_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.txt", "x")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
        os.umask(0o027)
        write_atomic(tmp_path / "other.txt", "x")
        assert stat.S_IMODE((tmp_path / "other.txt").stat().st_mode) == 0o640
        (tmp_path / "kept.txt").write_text("old")
        os.chmod(tmp_path / "kept.txt", 0o600)
        write_atomic(tmp_path / "kept.txt", "new")
        assert stat.S_IMODE((tmp_path / "kept.txt").stat().st_mode) == 0o600
    finally:
        os.umask(old)


@needs_conformance
@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "interrupted"])
@pytest.mark.parametrize("when", ["writing the second file", "syncing the files"])
def test_an_interrupted_write_leaves_no_partial_invoice(failure, when, tmp_path, monkeypatch, capsys):
    """Nothing reaches the directory until every file is written and synced: no temp
    file, no half file, and no invoice of an earlier run replaced."""
    case = next(c for c in CASES if c.name.startswith("02"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    existing = out_dir / "acme-20260101-C1.txt"
    existing.write_text("the invoice sent last month\n", encoding="utf-8")
    attempts = []
    if when == "syncing the files":
        def failing_sync():
            attempts.append(1)
            raise failure  # every file is written into the staging folder, none renamed yet

        monkeypatch.setattr(rio.os, "sync", failing_sync)
    else:
        real_open = open

        def failing_open(path, *args, **kwargs):
            attempts.append(path)
            if len(attempts) == 2:
                raise failure if isinstance(failure, KeyboardInterrupt) else OSError(
                    failure.errno, failure.strerror, str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(rio, "open", failing_open, raising=False)
    code, out, err = run_cli(case_args(case, fmt="text") + ["-o", str(out_dir)], case, monkeypatch, capsys)
    assert attempts, "the write was attempted"
    assert "Traceback" not in err and out == ""
    if isinstance(failure, OSError):
        assert code == 1
        assert "error[E001]: cannot write" in err and "No space left on device" in err
        assert ".ratecard-staging" not in err, "the error names the file asked for"
    else:
        assert code == 130
    assert [p.name for p in out_dir.iterdir()] == ["acme-20260101-C1.txt"], "no temp or half file"
    assert existing.read_text(encoding="utf-8") == "the invoice sent last month\n"


@needs_conformance
def test_a_failed_run_removes_the_directory_it_created(tmp_path, monkeypatch, capsys):
    case = next(c for c in CASES if c.name.startswith("02"))
    monkeypatch.setattr(rio.os, "sync", lambda: (_ for _ in ()).throw(OSError(5, "Input/output error")))
    code, _, err = run_cli(case_args(case, fmt="text") + ["-o", str(tmp_path / "new" / "out")], case,
                           monkeypatch, capsys)
    assert code == 1 and "Input/output error" in err
    assert not (tmp_path / "new" / "out").exists()


@pytest.mark.parametrize("project", ["ai-api", "enterprise", "storage"])
def test_files_rendered_in_several_processes_are_the_same_files(project, tmp_path, monkeypatch, capsys):
    """`-o DIR` prices and renders ranges of contracts in forked processes
    (billing.parallel), all into one staging folder: the files, their names and
    the order they are listed in are those of one process."""
    import ratecard.commands.invoice as invoice_command
    from ratecard.billing import parallel
    from ratecard.cli import main
    from ratecard.report.files import InvoiceFiles

    folder = Path(__file__).resolve().parents[1] / "examples" / project
    through = example_through(folder)
    args = ["invoice", *sorted(str(p) for p in folder.glob("*.pricing")),
            "--usage", str(folder / "usage.jsonl"), "--through", through, "--format", "html"]
    real_run_in_parts, split_into = parallel.run_in_parts, []

    def run_in_parts(parts, work):
        split_into.append(len(parts))
        return real_run_in_parts(parts, work)

    monkeypatch.setattr(parallel, "run_in_parts", run_in_parts)
    monkeypatch.setattr(InvoiceFiles, "min_lines", 0)

    def files(out: Path, workers: int) -> tuple[list[str], dict[str, bytes]]:
        monkeypatch.setattr(invoice_command, "usable_cpus", lambda: workers)
        assert main(args + ["-o", str(out)]) == 0
        listed = capsys.readouterr().out.splitlines()
        return listed, {p.name: p.read_bytes() for p in sorted(out.iterdir())}

    one_listed, one = files(tmp_path / "one", 1)
    split_listed, split = files(tmp_path / "split", 3)
    assert split_into == [3], "one process, then three"
    assert len(one) >= 3 and split == one
    assert [Path(p).name for p in split_listed] == [Path(p).name for p in one_listed]
    assert not any(name.startswith(".") for name in one) and not any(name.startswith(".") for name in split)
    if project == "storage":  # package prices: the views had each contract's priced lines
        assert any(b"billed in whole packages" in text for text in split.values())


@needs_conformance
def test_output_that_is_a_file_is_a_usage_error(tmp_path, monkeypatch, capsys):
    case = CASES[0]
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run_cli(case_args(case, fmt="text") + ["-o", str(target)], case, monkeypatch, capsys)
    assert code == 2 and "not a directory" in err


# ----------------------------------------------------------------- escaping

HOSTILE = """
currency USD
meter API_CALLS {
  title "Calls <i>&amp;</i>"
  event "api.request"
  count
  dimensions endpoint
  rates per call { default : $0.50 }
}
plan p {
  fee "<img src=x onerror=alert(1)> fee | *bold*" : $10 per month
  charge API_CALLS
}
contract evil {
  customer "<script>alert('customer')</script>"
  plan p
  starts 2026-01-01
  credit $5 { description "<b>free</b> & \\"quoted\\"" }
}
"""


def _hostile_project(tmp_path: Path) -> Path:
    (tmp_path / "p.pricing").write_text(HOSTILE, encoding="utf-8")
    event = {"id": "e1", "type": "api.request", "customer": "<script>alert('customer')</script>",
             "time": "2026-01-05T00:00:00Z", "properties": {"endpoint": "</td><script>alert(2)</script>"}}
    (tmp_path / "u.jsonl").write_text(json.dumps(event) + "\n", encoding="utf-8")
    return tmp_path


def test_html_escapes_everything_from_the_input(tmp_path, monkeypatch, capsys):
    project = _hostile_project(tmp_path)
    code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--format", "html", "--issuer", "Evil <Corp> & Co"], project,
                             monkeypatch, capsys)
    assert code == 0, err
    assert "<script" not in out and "<img" not in out and "<b>" not in out and "<i>" not in out
    assert "&lt;script&gt;alert(&#39;customer&#39;)&lt;/script&gt;" in out
    assert "&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "Evil &lt;Corp&gt; &amp; Co" in out
    assert "&lt;b&gt;free&lt;/b&gt; &amp; &#34;quoted&#34;" in out


def test_markdown_escapes_everything_from_the_input(tmp_path, monkeypatch, capsys):
    project = _hostile_project(tmp_path)
    code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--format", "markdown"], project, monkeypatch, capsys)
    assert code == 0, err
    assert not re.search(r"(?<!\\)<(?!br>)", out), "every < from the input is escaped"
    assert "\\<script\\>alert('customer')\\</script\\>" in out
    assert "fee \\| \\*bold\\*" in out
    for row in (r for r in out.splitlines() if r.startswith("|")):
        assert row.replace("\\|", "").count("|") in (3, 5, 8), row  # no cell split by a value


LONG = """
meter API_CALLS {
  title "An unusually long meter title that describes the metered thing in far too many words"
  event "api.request"
  count
  dimensions endpoint, region
  rates per 1K requests_to_the_public_api { default : $0.0000125 }
}
plan p {
  fee "A platform fee whose name is written out at a length nobody would choose, twice over" : $1_234_567 per month
  charge API_CALLS
}
contract c {
  customer "customer-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789"
  plan p
  starts 2026-01-01
  credit $5 { description "A credit grant description that is much longer than the totals column is wide, really" }
}
"""


def test_long_values_still_fit_100_columns(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.pricing").write_text(LONG, encoding="utf-8")
    customer = "customer-0123456789-" + "0123456789-" * 5 + "0123456789"
    events = [{"id": f"e{i}", "type": "api.request", "customer": customer, "time": "2026-01-05T00:00:00Z",
               "properties": {"endpoint": "/v1/" + "very/long/path/" * 6 + str(i), "region": "eu"}}
              for i in range(3)]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                              "--format", "text", "--issuer", "An issuer " * 15], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    for line in out.splitlines():
        assert len(line) <= 100, line
        assert line == line.rstrip(), repr(line)
    assert "$1,234,567.00" in out and "$0.0000125" in out


def test_markdown_escape_and_wrap_filters():
    assert markdown_escape("a|b <x> *y* _z_ cust_acme [l](u) #1 `c`") == (
        "a\\|b \\<x\\> \\*y\\* \\_z\\_ cust_acme \\[l\\](u) \\#1 \\`c\\`")
    assert markdown_escape("two\nlines") == "two lines"
    # a value Markdown would show with fewer spaces is a code span, which keeps them
    assert markdown_escape("region: us  east") == "`region: us  east`"
    assert markdown_escape(" lead *x*") == "` lead *x*`"  # one edge space: CommonMark strips none
    assert markdown_escape(" both ") == "`  both  `"  # both ends: one stripped from each, as padded
    assert markdown_escape("a  `b` | c") == "``a  `b` \\| c``"
    assert markdown_escape("`a  b") == "`` `a  b ``"
    assert markdown_escape("a\u2009b") == "a b"  # a thin space (the formatter's date ranges), as before
    assert wrap_lines("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert wrap_lines("aaa bbb ccc", 9, "  ", "  ") == ["  aaa bbb", "    ccc"]
    assert wrap_lines("", 10, "  ") == [""]


# ----------------------------------------------------------------- user templates


@needs_conformance
def test_template_dir_comes_first(tmp_path, monkeypatch, capsys):
    case = CASES[0]
    (tmp_path / "invoice.txt.j2").write_text(
        "{% for inv in invoices %}{{ inv.number }} {{ inv.total }} due {{ inv.due }}\n{% endfor %}",
        encoding="utf-8")
    code, out, err = run_cli(case_args(case, fmt="text") + ["--template-dir", str(tmp_path)], case,
                             monkeypatch, capsys)
    assert code == 0, err
    assert all(" due " in line for line in out.splitlines())
    # the other formats still come from the package
    code, out, _ = run_cli(case_args(case, fmt="markdown") + ["--template-dir", str(tmp_path)], case,
                           monkeypatch, capsys)
    assert code == 0 and out.startswith("# ")


@needs_conformance
@pytest.mark.parametrize("body, code, where", [
    ("line one\nline two\n{% for x in %}\n", "E700", "invoice.txt.j2:3"),
    ("ok\n\n{{ invoices[0].no_such_field }}\n", "E701", "invoice.txt.j2:3"),
    ("{{ 1 // 0 }}\n", "E703", "invoice.txt.j2:1"),
], ids=["syntax", "undefined", "runtime"])
def test_a_broken_user_template_is_a_diagnostic(body, code, where, tmp_path, monkeypatch, capsys):
    case = CASES[0]
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "invoice.txt.j2").write_text(body, encoding="utf-8")
    for extra in ([], ["-o", str(tmp_path / "out")]):
        rc, out, err = run_cli(case_args(case, fmt="text") + ["--template-dir", str(templates)] + extra,
                               case, monkeypatch, capsys)
        assert rc == 1
        assert f"error[{code}]" in err and where in err, err
        assert "Traceback" not in err and out == ""
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@needs_conformance
@pytest.mark.parametrize("option, value, message", [
    ("--template-dir", "no/such/dir", "no such template directory"),
    ("--locale", "xx_NOPE", "unknown locale"),
])
def test_bad_rendering_options_are_usage_errors(option, value, message, monkeypatch, capsys):
    case = CASES[0]
    code, _, err = run_cli(case_args(case, fmt="text") + [option, value], case, monkeypatch, capsys)
    assert code == 2 and message in err and "Traceback" not in err


# ----------------------------------------------------------------- money and locale


def test_money_is_formatted_by_babel_for_the_currency():
    usd, jpy, eur_de = Formatter("USD"), Formatter("JPY"), Formatter("EUR", "de_DE")
    assert usd.money(Decimal("1234.50")) == "$1,234.50"
    assert usd.money(Decimal("-200.00")) == "-$200.00"
    assert usd.money(Decimal("-0.00")) == "$0.00"
    assert usd.price(Decimal("0.0001")) == "$0.0001"  # unit prices keep every digit
    assert usd.price(Decimal("10.005")) == "$10.005"
    assert jpy.money(Decimal("1235")) == "¥1,235"
    assert eur_de.money(Decimal("1234.50")) == "1.234,50\xa0€"
    assert usd.number(Decimal("50000000")) == "50,000,000"
    # every digit billed: a quantity is never rounded for display (docs/invoices.md)
    assert usd.number(Decimal("0.4838709677419354838709677419")) == "0.4838709677419354838709677419"
    assert usd.number(Decimal("41.499999987")) == "41.499999987"
    assert usd.quantity(Fraction(7, 30)) == "7/30" and usd.quantity(Fraction(1, 4)) == "0.25"
    assert parse_locale("de-DE") == "de_DE"
    with pytest.raises(ValueError):
        parse_locale("not a locale")
    assert compact_unit("1000000 requests") == "1M requests"
    assert compact_unit("1000 calls") == "1K calls"
    assert compact_unit("1500 calls") == "1500 calls"
    assert compact_unit("GB") == "GB"


def test_an_expiry_is_shown_to_the_fraction_of_a_second_it_has():
    """A grant expiring a microsecond after midnight pays the period starting at that
    midnight: it used to read `00:00:00`, as if it had expired before the period."""
    usd, utc = Formatter("USD"), dt.timezone.utc
    assert expiry_text(dt.datetime(2026, 3, 1, tzinfo=utc), usd) == "at the end of Feb 28, 2026"
    assert expiry_text(dt.datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=utc), usd) == "Mar 1, 2026, 00:00:00.000001 UTC"
    assert expiry_text(dt.datetime(2026, 6, 30, 23, 59, 59, 500000, tzinfo=utc), usd) == "Jun 30, 2026, 23:59:59.5 UTC"
    assert expiry_text(dt.datetime(2026, 6, 30, 23, 59, 59, tzinfo=utc), usd) == "Jun 30, 2026, 23:59:59 UTC"


@needs_conformance
def test_locale_option(monkeypatch, capsys):
    case = next(c for c in CASES if c.name.startswith("06"))
    code, out, _ = run_cli(case_args(case, fmt="text") + ["--locale", "de_DE"], case, monkeypatch, capsys)
    assert code == 0
    assert "100.000,00\xa0$" in out and "16.05.2026" in out


def test_no_ended_period_says_so(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.pricing").write_text(
        'meter M { event "e" count rates per call { default : $1 } }\n'
        'plan p { charge M }\ncontract c { customer "x" plan p starts 2026-01-01 }\n', encoding="utf-8")
    (tmp_path / "u.jsonl").write_text("", encoding="utf-8")
    for fmt in FORMATS:
        code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-01-15",
                                  "--format", fmt], tmp_path, monkeypatch, capsys)
        assert code == 0, err
        assert "No invoices" in out


@given(st.text(alphabet=st.sampled_from("ab ü-\t\n"), max_size=40), st.integers(0, 30),
       st.sampled_from(["", "  ", "    "]), st.sampled_from(["", "  "]))
def test_wrap_lines_is_textwraps_wrapping(text, width, indent, hang):
    """A text whose spaces are single, between words, is wrapped as textwrap wraps it (the
    fast path for a text that fits too); no text loses a character but the spaces at the
    ends of its lines, and each line fits."""
    import textwrap

    one = text.replace("\t", " ").replace("\n", " ").rstrip(" ")
    w = max(width, len(indent + hang) + 1)
    lines = wrap_lines(text, width, indent, hang)
    if one == " ".join(one.split()):
        wrapped = textwrap.wrap(one, width=w, initial_indent=indent, subsequent_indent=indent + hang,
                                break_long_words=True, break_on_hyphens=False)
        # textwrap's lines, less a space one of them can end with (a word broken to fit)
        expected = [line.rstrip(" ") for line in wrapped] or [indent.rstrip()]
        assert lines == expected
    assert all(len(line) <= w and line == line.rstrip(" ") or line == indent.rstrip() for line in lines)
    bodies = [line[len(indent if i == 0 else indent + hang):] for i, line in enumerate(lines)]
    assert "".join(bodies).replace(" ", "") == one.replace(" ", "")
    if len(indent) + len(one) <= w and one:
        assert lines == [indent + one]  # a text that fits is printed as it is


@pytest.mark.parametrize("text, width, lines", [
    ("model: us  east", 100, ["model: us  east"]),
    ("model: us  east, region: eu", 20, ["model: us  east,", "region: eu"]),  # a run is never a break
    ("model: aaaa bbbb  cc", 12, ["model: aaaa", "bbbb  cc"]),
    (" lead trail ", 80, [" lead trail"]),
    ("a\u00a0b\tc", 80, ["a b c"]),  # other white space is a space each, as before
])
def test_wrap_lines_keeps_runs_of_spaces(text, width, lines):
    """What a view prints is what was billed: `us  east` is not `us east` (docs/invoices.md)."""
    assert wrap_lines(text, width) == lines


def test_no_line_ends_with_the_space_textwrap_broke_at():
    """textwrap, breaking a word to fit a narrow column, can end a line with a space
    ('aa ' here); a space that ends a line is never printed."""
    assert wrap_lines("aa aaaa", 0, "", "  ") == ["aa", "  a", "  a", "  a", "  a"]


def test_formatter_formats_each_value_once_and_exactly(monkeypatch):
    from ratecard.report import formatter as views

    fmt = views.Formatter("USD", "de_DE")
    calls = []
    real = views.format_decimal
    monkeypatch.setattr(views, "format_decimal", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    values = [Decimal(v) for v in ("1.0", "1", "1.50", "1234.5678901", "-0", "0.0000001")]
    assert [fmt.number(v) for v in values[:4]] == ["1", "1", "1,5", "1.234,5678901"]  # Babel's text
    assert len(calls) == 4  # `1.0` and `1` are equal but remembered apart (by their text)
    assert [fmt.number(v) for v in values] == [fmt.number(v) for v in values] and len(calls) == 6
    assert fmt.money(Decimal("-0.00")) == fmt.money(Decimal("0")) == "0,00\xa0$"
    assert fmt.price(Decimal("0.0125")) == "0,0125\xa0$"
    monkeypatch.setattr(views.Formatter, "KEPT", 2)
    small = views.Formatter("USD")
    assert [small.number(Decimal(n)) for n in ("1000", "2", "3", "1000")] == ["1,000", "2", "3", "1,000"]
    assert all(len(seen) <= 2 for seen in small._seen.values())


def test_one_contracts_files_when_split(tmp_path, monkeypatch, capsys):
    """`--contract NAME -o DIR`: every process prices its range, and only NAME's invoices
    become files (the same files as in the run over every contract)."""
    import ratecard.commands.invoice as invoice_command
    from ratecard.cli import main
    from ratecard.report.files import InvoiceFiles

    folder = Path(__file__).resolve().parents[1] / "examples" / "ai-api"
    through = example_through(folder)
    args = ["invoice", *sorted(str(p) for p in folder.glob("*.pricing")),
            "--usage", str(folder / "usage.jsonl"), "--through", through, "--format", "json"]
    monkeypatch.setattr(invoice_command, "usable_cpus", lambda: 3)
    monkeypatch.setattr(InvoiceFiles, "min_lines", 0)
    assert main(args + ["-o", str(tmp_path / "all")]) == 0
    every = {p.name: p.read_bytes() for p in (tmp_path / "all").iterdir()}
    contracts = sorted({json.loads(data)["contract"] for data in every.values()})
    assert len(contracts) >= 2
    chosen = contracts[-1]
    assert main(args + ["--contract", chosen, "-o", str(tmp_path / "one")]) == 0
    listed = capsys.readouterr().out.splitlines()[len(every):]
    one = {p.name: p.read_bytes() for p in (tmp_path / "one").iterdir()}
    assert one == {name: data for name, data in every.items() if json.loads(data)["contract"] == chosen}
    assert sorted(Path(p).name for p in listed) == sorted(one)
