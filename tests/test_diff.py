"""`ratecard diff`: a pricing change evaluated on real usage, per contract and per line."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ratecard.commands.diff as diff_command
from ratecard.billing import evaluate
from ratecard.cli import main
from ratecard.compiler import compile_sources
from ratecard.workflows.diff_compare import compare
from ratecard.workflows.diff_view import diff_view
from ratecard.usage.reference import aggregate_usage

from golden_check import assert_golden

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pricing-tests"
THROUGH = "2026-04-01"
GPT4 = 'model = "gpt-4"              : $0.03'


@pytest.fixture(autouse=True)
def reference_aggregator(monkeypatch):
    # the DuckDB aggregator is the command's default; these tests bill with the
    # pure-Python reference, which implements the same contract
    monkeypatch.setattr(diff_command, "AGGREGATOR", aggregate_usage)


def _project(tmp_path: Path, name: str, *edits: tuple[str, str, str]) -> Path:
    """A copy of the example project with (file, old text, new text) edits."""
    dest = tmp_path / name
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("*.jsonl", "*.md"))
    for file, old, new in edits:
        text = (dest / file).read_text(encoding="utf-8")
        assert old in text, (file, old)
        (dest / file).write_text(text.replace(old, new), encoding="utf-8")
    return dest


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copy(EXAMPLE / "usage.jsonl", tmp_path / "usage.jsonl")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _diff(*args: str) -> list[str]:
    return ["diff", *args, "--usage", "usage.jsonl", "--through", THROUGH]


# ----------------------------------------------------------------- the command


def count_shared_usage(monkeypatch) -> list:
    """The `SharedUsage` each diff makes, kept in the list returned (their `runs`: how
    many usage stages ran)."""
    made = []

    class Counting(diff_command.SharedUsage):
        def __init__(self, aggregator=None):
            super().__init__(aggregator)
            made.append(self)

    monkeypatch.setattr(diff_command, "SharedUsage", Counting)
    return made


@pytest.mark.parametrize("edit, runs", [
    (("meters.pricing", GPT4, 'model = "gpt-4"              : $0.025'), 1),  # a price: one usage stage
    (("meters.pricing", "  max gigabytes", "  sum gigabytes"), 2),  # how a meter reads events: two
], ids=["price", "aggregation"])
def test_both_sides_share_the_usage_stage_when_it_is_the_same(edit, runs, workdir, monkeypatch, capsys):
    made = count_shared_usage(monkeypatch)
    _project(workdir, "old")
    _project(workdir, "new", edit)
    assert main(_diff("old", "new", "--format", "json")) == 0
    shared = json.loads(capsys.readouterr().out)
    assert [u.runs for u in made] == [runs]
    # the same diff as with each side aggregated on its own
    monkeypatch.setattr(diff_command, "SharedUsage", lambda aggregator=None: aggregator)
    assert main(_diff("old", "new", "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out) == shared
    assert shared["lines"], "the edit moved some lines"



@pytest.mark.parametrize("old, new", [
    ("sum prompt - cached", "sum prompt + cached"),
    ("weighted prompt per month", "weighted prompt per day"),
], ids=["derived", "weighted-per"])
def test_a_change_in_how_a_meter_measures_is_not_shared(old, new, tmp_path, monkeypatch, capsys):
    """A derived quantity's expression and a weighted meter's `per` change every quantity:
    the new side must be aggregated again. Its usage stage was shared (the scope
    fingerprint missed both), so `diff` said "no change" where the bills differ."""
    monkeypatch.chdir(tmp_path)
    for name, aggregation in (("old", old), ("new", new)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "t.pricing").write_text(f"""
meter TOK {{ event "llm"  {aggregation}  rates {{ default : $1 }} }}
plan p {{ billing monthly  charge TOK }}
contract a {{ customer "ca"  plan p  starts 2026-01-01 }}
""", encoding="utf-8")
    events = [{"id": str(i), "type": "llm", "customer": "ca", "time": f"2026-01-{5 + 10 * i:02d}T00:00:00Z",
               "properties": {"prompt": 10 - i, "cached": 2}} for i in range(2)]
    (tmp_path / "usage.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    args = ["diff", "old", "new", "--usage", "usage.jsonl", "--through", "2026-02-01", "--format", "json"]
    assert main(args) == 0
    shared = json.loads(capsys.readouterr().out)
    monkeypatch.setattr(diff_command, "SharedUsage", lambda aggregator=None: aggregator)
    assert main(args) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["lines"], "the edit changes the bill"
    assert shared == alone


def test_a_project_against_itself_shows_no_change(workdir, capsys):
    _project(workdir, "same")
    assert main(_diff("same", "same")) == 0
    assert "no change: both sides bill $5,512.55 on this usage" in capsys.readouterr().out
    assert main(_diff("same", "same", "--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["unchanged"] and doc["lines"] == [] and doc["total"]["change"] == "0.00"
    assert {c["status"] for c in doc["contracts"]} == {"unchanged"}
    assert main(_diff("same", "same", "--format", "markdown")) == 0
    assert "**No change:**" in capsys.readouterr().out


@pytest.mark.parametrize("fmt, golden", [("text", "gpt4.txt"), ("markdown", "gpt4.md"),
                                         ("json", "gpt4.json")])
def test_lowering_the_gpt4_rate(workdir, capsys, update_golden, fmt, golden):
    _project(workdir, "old")
    _project(workdir, "new", ("meters.pricing", GPT4, 'model = "gpt-4"              : $0.025'))
    assert main(_diff("old", "new", "--format", fmt)) == 0
    out = capsys.readouterr().out
    assert_golden(f"diff/{golden}", out, update_golden)
    if fmt == "json":
        doc = json.loads(out)
        by_name = {c["contract"]: c for c in doc["contracts"]}
        assert by_name["acme"]["status"] == "unchanged"  # its negotiated gpt-4 override wins
        assert by_name["globex"]["change"] == "-31.32"
        assert {r["code"] for ln in doc["lines"] for r in ln["reasons"]} == {"rule_changed",
                                                                              "quantity_same"}
    if fmt == "markdown":
        assert "| Contract | Old | New | Change | % |" in out and "<details>" in out


def test_wrong_arguments_exit_2(workdir, capsys):
    _project(workdir, "p")
    assert main(_diff("p")) == 2
    assert "expected OLD_PATH NEW_PATH" in capsys.readouterr().err
    assert main(["diff", "p", "p", "--usage", "missing.jsonl", "--through", THROUGH]) == 2
    assert main(["diff", "p", "p", "--usage", "usage.jsonl", "--through", "April"]) == 2
    assert main(_diff("p", "nowhere")) == 2
    assert "no such file or directory: nowhere" in capsys.readouterr().err


@pytest.mark.parametrize("edit", [("meters.pricing", GPT4, 'model = "gpt-4"              : $0.025'),
                                  ("meters.pricing", "  max gigabytes", "  sum gigabytes")],
                         ids=["shared", "not-shared"])
def test_bad_rows_can_be_set_aside_as_the_hint_says(edit, workdir, monkeypatch, capsys):
    """A bad row's E500 says "pass `--skip-bad-rows FILE` to set bad rows aside and bill
    the rest"; `diff` refused that option ("unrecognized arguments"), so a price change
    could not be compared on real usage holding one bad row. Now both sides bill the rest,
    FILE holds the rows once, and it may not be an input. (The command's own engine,
    which writes FILE.)"""
    monkeypatch.setattr(diff_command, "AGGREGATOR", None)
    _project(workdir, "old")
    _project(workdir, "new", edit)
    good = (workdir / "usage.jsonl").read_text(encoding="utf-8")
    assert main(_diff("old", "new", "--format", "json")) == 0
    clean = json.loads(capsys.readouterr().out)
    (workdir / "usage.jsonl").write_text(good + "not json\n", encoding="utf-8")
    assert main(_diff("old", "new")) == 1
    assert "--skip-bad-rows FILE" in capsys.readouterr().err
    assert main(_diff("old", "new", "--format", "json", "--skip-bad-rows", "bad.jsonl")) == 0
    skipped = json.loads(capsys.readouterr().out)
    assert skipped["lines"] == clean["lines"] and skipped["contracts"] == clean["contracts"]
    (row,) = [json.loads(line) for line in (workdir / "bad.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (row["line"], row["row"]) == (len(good.splitlines()) + 1, "not json")
    assert main(_diff("old", "new", "--skip-bad-rows", "usage.jsonl")) == 2
    assert "that is an input of this run" in capsys.readouterr().err


def test_a_broken_side_reports_its_diagnostics(workdir, capsys):
    _project(workdir, "old")
    _project(workdir, "new", ("plans.pricing", "charge LLM_TOKENS", "charge LLM_TOKEN"))
    assert main(_diff("old", "new")) == 1
    err = capsys.readouterr().err
    assert "new side (new)" in err and "new/plans.pricing:9:10: error[E201]" in err


# ----------------------------------------------------------------- why lines moved


def _compare(tmp_path, *edits, old_edits=()):
    old = _project(tmp_path, "o", *old_edits)
    new = _project(tmp_path, "n", *old_edits, *edits)
    sides = []
    for root in (old, new):
        sources = [(str(p.relative_to(tmp_path)), p.read_text(encoding="utf-8"))
                   for p in sorted(root.glob("*.pricing"))]
        compiled = compile_sources(sources)
        assert compiled.ok, compiled.diagnostics
        ev = evaluate(compiled.plan, [str(EXAMPLE / "usage.jsonl")], dt.date(2026, 4, 1),
                      aggregator=aggregate_usage)
        assert ev.ok, ev.diagnostics
        sides += [compiled.plan, ev]
    return compare(*sides)


def _codes(d, contract=None, charge=None):
    return {r.code for ln in d.lines for r in ln.reasons
            if (contract is None or ln.key.contract == contract) and (charge is None or ln.key.charge == charge)}


OVERRIDE = ('contract globex {\n  customer "cust_globex"\n  plan pro\n  starts 2026-01-01\n',
            'contract globex {\n  customer "cust_globex"\n  plan pro\n  starts 2026-01-01\n'
            '  override LLM_TOKENS { model = "gpt-4" : $0.025 }\n')


def test_override_added_and_removed(tmp_path):
    added = _compare(tmp_path / "a", ("contracts.pricing", *OVERRIDE))
    assert _codes(added) == {"override_added", "quantity_same"}
    assert {ln.key.contract for ln in added.lines} == {"globex"}
    removed = _compare(tmp_path / "r", ("contracts.pricing", OVERRIDE[1], OVERRIDE[0]), old_edits=[
        ("contracts.pricing", *OVERRIDE)])
    assert _codes(removed) == {"override_removed", "quantity_same"}


def test_tier_moved_fee_changed_and_modifiers(tmp_path):
    d = _compare(tmp_path,
                 ("plans.pricing", "up to 1000 : $0.10", "up to 350  : $0.10"),
                 ("plans.pricing", "$500 per month", "$550 per month"),
                 ("contracts.pricing", "override LLM_TOKENS : 10% off", "override LLM_TOKENS : 15% off"))
    assert "tier_moved" in _codes(d, "initech", "STORAGE_GB")
    assert _codes(d, "globex", "Platform fee") == {"fee_changed", "quantity_same"}
    assert "modifiers_changed" in _codes(d, "initech", "LLM_TOKENS")


def test_lines_added_removed_and_quantities(tmp_path):
    d = _compare(tmp_path,
                 ("meters.pricing", "  max gigabytes", "  sum gigabytes"),
                 ("meters.pricing", "  dimensions model\n", '  dimensions model\n  where model != "claude-3"\n'))
    assert _codes(d, charge="LLM_TOKENS") == {"line_removed"}
    acme_storage = [ln for ln in d.lines if ln.key.contract == "acme" and ln.key.charge == "STORAGE_GB"]
    assert acme_storage and "quantity_changed" in {r.code for r in acme_storage[0].reasons}
    storage = "  charge STORAGE_GB : graduated per GB {\n    up to 100  : free\n" \
              "    up to 1000 : $0.10\n    above      : $0.08\n  }\n"
    api = "  charge API_CALLS : package $1 per 1000 calls\n"
    added = _compare(tmp_path / "x", ("plans.pricing", api, api + storage),
                     old_edits=[("plans.pricing", storage, "")])
    assert _codes(added) == {"line_added"}
    assert {ln.key.charge for ln in added.lines} == {"STORAGE_GB"}


# ----------------------------------------------------------------- money adds up


PRICES = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.09"), places=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gpt4=PRICES, gpt35=PRICES, fallback=PRICES,
       package=st.decimals(min_value=0, max_value=5, places=2),
       tier=st.decimals(min_value=0, max_value=1, places=2),
       off=st.integers(0, 100), override=st.booleans())
def test_contract_differences_sum_to_the_total_difference(tmp_path_factory, gpt4, gpt35, fallback,
                                                          package, tier, off, override):
    tmp = tmp_path_factory.mktemp("rates")
    edits = [
        ("meters.pricing", GPT4, f'model = "gpt-4" : ${gpt4}'),
        ("meters.pricing", 'model = "gpt-3.5"            : $0.002', f'model = "gpt-3.5" : ${gpt35}'),
        ("meters.pricing", "default                      : $0.01", f"default : ${fallback}"),
        ("plans.pricing", "package $1 per 1000 calls", f"package ${package} per 1000 calls"),
        ("plans.pricing", "up to 1000 : $0.10", f"up to 1000 : ${tier}"),
        ("contracts.pricing", "override LLM_TOKENS : 10% off", f"override LLM_TOKENS : {off}% off"),
    ]
    if override:
        edits.append(("contracts.pricing", *OVERRIDE))
    d = _compare(tmp, *edits)
    assert sum((c.change for c in d.contracts), Decimal(0)) == d.change
    assert d.new_subtotal - d.old_subtotal == d.change
    assert sum((c.total_change for c in d.contracts), Decimal(0)) == d.new_total - d.old_total
    for c in d.contracts:
        moved = sum((ln.change for ln in d.lines if ln.key.contract == c.contract), Decimal(0))
        assert moved == c.change, c.contract
    view = diff_view(d, old_label="o", new_label="n", usage=["usage.jsonl"])
    assert len(view.all_lines) == len(d.lines)


# ----------------------------------------------------------------- --old-rev


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=ratecard tests", "-c", "user.email=tests@example.com",
                    *args], cwd=cwd, check=True, capture_output=True)


def test_old_rev_reads_the_files_at_a_revision(workdir, capsys):
    project = _project(workdir, "pricing")
    _git(workdir, "init", "-q", "-b", "main")
    _git(workdir, "add", "pricing")
    _git(workdir, "commit", "-q", "-m", "pricing as it is")
    meters = project / "meters.pricing"
    meters.write_text(meters.read_text().replace(GPT4, 'model = "gpt-4" : $0.025'), encoding="utf-8")
    (project / "new.pricing").write_text("# a file the old revision does not have\n", encoding="utf-8")
    assert main(["diff", "--old-rev", "main", "pricing", "--usage", "usage.jsonl", "--through", THROUGH,
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["old"] == "main:pricing" and doc["total"]["change"] == "-68.53"
    assert doc["lines"][0]["old"]["rule"] == "main:pricing/meters.pricing:10"

    assert main(["diff", "--old-rev", "no-such-rev", "pricing", "--usage", "usage.jsonl",
                 "--through", THROUGH]) == 2
    assert "unknown revision `no-such-rev`" in capsys.readouterr().err


def test_old_rev_outside_a_repository(tmp_path, capsys):
    project = _project(tmp_path, "pricing")
    if subprocess.run(["git", "-C", str(project), "rev-parse"], capture_output=True).returncode == 0:
        pytest.skip("the temporary directory is inside a git repository")
    assert main(["diff", "--old-rev", "HEAD", str(project), "--usage", str(EXAMPLE / "usage.jsonl"),
                 "--through", THROUGH]) == 2
    assert "is not inside a git repository" in capsys.readouterr().err
