"""Text, Markdown and HTML on standard output, priced and rendered in several processes
(`report.pages`, `billing.parallel`): the document is byte for byte the one-process one.

The examples are far below the lines a run splits from (`InvoicePages.min_lines`), so
these tests lower it to 0 and say how many processes there are (`usable_cpus`);
tests/test_views_golden.py holds the one-process bytes.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

import ratecard.commands.invoice as invoice_command
from ratecard.billing import parallel
from ratecard.cli import main
from ratecard.report import pages

from billing_helpers import example_through

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "usage.jsonl").exists())
FORMATS = ["text", "markdown", "html"]


def _args(project: str, fmt: str) -> list[str]:
    folder = ROOT / "examples" / project
    through = example_through(folder)
    return ["invoice", *sorted(str(p) for p in folder.glob("*.pricing")), "--usage", str(folder / "usage.jsonl"),
            "--through", through, "--format", fmt]


@pytest.fixture
def printed(monkeypatch, capsys):
    """printed(args, processes) -> standard output of `ratecard ARGS` priced in that many
    processes (one: not split), and the number of ranges each split made."""
    splits: list[int] = []
    real = parallel.run_in_parts
    monkeypatch.setattr(parallel, "run_in_parts", lambda parts, work: splits.append(len(parts)) or real(parts, work))
    monkeypatch.setattr(pages.InvoicePages, "min_lines", 0)

    def run(args: list[str], processes: int) -> str:
        monkeypatch.setattr(invoice_command, "usable_cpus", lambda: processes)
        capsys.readouterr()
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "Traceback" not in out + err
        return out

    run.splits = splits  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("project", PROJECTS)
def test_a_split_document_is_the_one_process_document(project, fmt, printed):
    """Every example, as text, Markdown and HTML: the invoices rendered in three processes
    and joined around the summary (HTML: in one page) are the same bytes."""
    one = printed(_args(project, fmt), 1)
    assert printed.splits == []
    split = printed(_args(project, fmt), 3)
    assert len(printed.splits) == 1 and printed.splits[0] >= 2  # three, or one per contract
    assert split == one
    assert one.count("Summary: billed through") == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_contract_of_a_split_run(fmt, printed):
    """`--contract NAME`: that contract's invoices, with its summary row, as in one process."""
    args = _args("enterprise", fmt) + ["--contract", "globex"]
    assert printed(args, 3) == printed(args, 1)


@pytest.mark.parametrize("how", ["fails", "is killed", "dies mid-write"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_range_whose_process_fails_is_rendered_here(fmt, how, printed, monkeypatch):
    """A child that raises, is killed or exits having spooled half a page has its range
    priced and rendered again in the parent, on emptied files: the same bytes."""
    billing_run = sys.modules["ratecard.billing.run"]
    args = _args("storage", fmt)
    one = printed(args, 1)
    parent, real_bill = os.getpid(), billing_run._bill

    def failing_bill(run, contracts, sink, progress, total):
        if os.getpid() != parent:
            if how == "fails":
                raise RuntimeError("a child that fails")
            real_bill(run, contracts[:1], sink, None, total)  # some pages spooled
            sink.spool.write(b"half a page")
            sink.flush()
            if how == "is killed":
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(9)
        return real_bill(run, contracts, sink, progress, total)

    monkeypatch.setattr(billing_run, "_bill", failing_bill)
    assert printed(args, 3) == one
    assert printed.splits == [3]


def test_a_template_dir_renders_the_document_whole(printed, tmp_path):
    """A user's template need not have the `invoice` block, and its document may read any
    invoice: with `--template-dir` nothing is split, and the output is as before."""
    (tmp_path / "invoice.txt.j2").write_text("{% for inv in invoices %}{{ inv.number }} {{ inv.total }}\n"
                                             "{% endfor %}{{ invoices | length }} invoices\n")
    out = printed(_args("enterprise", "text") + ["--template-dir", str(tmp_path)], 3)
    assert printed.splits == []
    assert out.endswith(" invoices\n") and out.count("\n") > 2


def test_parts_absorbed_in_order_and_a_disagreeing_count_is_refused():
    """`finish` gives the parent's pages, then each absorbed part's, in order; a part whose
    record does not hold as many invoices as its process reported is not trusted."""
    from decimal import Decimal

    def outline(n: int) -> pages.Outline:
        return pages.Outline(kind="usage", title="Invoice", number=f"n{n}", contract="c", customer="k",
                             subtotal=Decimal(n), credits_applied=Decimal(0), total=Decimal(n),
                             corrections=False, status_note="")

    def renderer(invoices, priced):
        return [(outline(n), f"page {n} – {'é' * n}\n") for n in invoices]

    sink = pages.InvoicePages(renderer)
    parts = [sink.part(), sink.part()]
    try:
        sink([0, 1], [])
        parts[0]([2], [])
        parts[1]([3, 4], [])
        for part in parts:
            part.flush()
        sink.absorb(parts[0], 1)
        sink.absorb(parts[1], 2)
        done = sink.finish()
        assert [o.number for o in done] == ["n0", "n1", "n2", "n3", "n4"]
        assert [o.page for o in done] == [f"page {n} – {'é' * n}\n" for n in range(5)]
        with pytest.raises(RuntimeError, match="rendered 2 invoices, not 3"):
            sink.absorb(parts[1], 3)
    finally:
        sink.close()
    assert all(p.spool.closed and p.kept.closed for p in (sink, *parts))
