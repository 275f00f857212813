"""The aggregates kept in the engine's columns (`usage.column_aggregates`), read a range of
windows at a time where each range is priced: the same aggregates as reading them all."""

from __future__ import annotations

from collections import Counter

import pytest

from ratecard.billing.scope import scope
from ratecard.usage import aggregate_usage as duckdb_usage

from billing_helpers import EXAMPLE_PROJECTS, example_project, streamed_run

PROJECTS = EXAMPLE_PROJECTS


@pytest.fixture(autouse=True)
def _read_as_a_large_run_is(monkeypatch):
    """The examples are small runs, which read their result as tuples (`duckdb.few_events`):
    here each is read through Arrow, as a large run is, so its columns can be kept."""
    from ratecard.usage import duckdb as engine

    monkeypatch.setattr(engine, "FEW_EVENTS", -1)


_project = example_project


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_the_columns_read_in_ranges_are_the_aggregates(project):
    plan, through, usage = _project(project)
    terms, windows, _, _ = scope(plan, through)
    whole = duckdb_usage(plan, terms, windows, usage)
    kept = duckdb_usage(plan, terms, windows, usage, in_parts=True)
    assert not whole.diagnostics and not kept.diagnostics
    assert (kept.events_read, kept.billed, kept.rejected) == (whole.events_read, whole.billed, whole.rejected)
    aggregates = whole.aggregates
    if not hasattr(kept.aggregates, "for_windows"):  # a weighted meter's result is read at once
        assert any(m.aggregation.function == "weighted" for m in plan.meters.values())
        assert kept.aggregates == aggregates
        return
    assert len(kept.aggregates) == len(aggregates)
    assert kept.aggregates.window_counts() == Counter(a.window for a in aggregates)
    keys = sorted({w.key for w in windows})
    for chosen in (keys[::2], keys[1::2], keys[:1], [], keys):
        assert kept.aggregates.for_windows(chosen) == [a for a in aggregates if a.window in set(chosen)]
    assert kept.aggregates == aggregates  # read whole (once), as any other use reads them
    assert kept.aggregates.for_windows(keys[::2]) == [a for a in aggregates if a.window in set(keys[::2])]


def _streamed(plan, usage, through, **kwargs) -> tuple[str, list]:
    return streamed_run(plan, usage, through, duckdb_usage, **kwargs)


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_ranges_reading_their_own_columns_bill_the_same_with_the_engine_pricing(project, monkeypatch):
    """With the engine's prices read in each process too (`--price-in engine`): byte-identical
    to one process that reads every aggregate at once."""
    from ratecard.billing import parallel

    monkeypatch.setattr(parallel, "MIN_LINES", 0)
    plan, through, usage = _project(project)
    one = _streamed(plan, usage, through, price_in_engine=True)
    assert _streamed(plan, usage, through, price_in_engine=True, workers=2) == one
