"""Period arithmetic at the calendar's end: no date a user can pass overflows.

`--through` is bounded where it enters (3000-12-31, a year past the language's last date, a message naming the
option); below that bound, and for any contract start or end the model can
hold, period generation stops at the calendar's end instead of failing, and
an invoice that would be due after 9999-12-31 is E511.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ratecard.billing import evaluate
from ratecard.billing.credits import burn
from ratecard.billing.periods import LAST_THROUGH, last_period_start_before, periods
from ratecard.cli import main
from ratecard.model import Contract
from ratecard.usage.reference import aggregate_usage as reference_aggregate

from billing_helpers import compile_text, write_events

MAX = dt.date.max


def _contract(starts, ends=None, billing="monthly", payment_days=30) -> Contract:
    return Contract(name="c", customer="cust", plan="p", starts=starts, ends=ends, billing=billing,
                    payment_days=payment_days, autopay=False)


def test_periods_through_the_last_day_of_the_calendar():
    # before: ValueError "year 10000 is out of range" (an internal error for --through 9999-12-31)
    ps = periods(_contract(dt.date(9990, 1, 1)), MAX)
    assert len(ps) == 9 * 12 + 11 and ps[-1].end == dt.date(9999, 12, 1)
    assert periods(_contract(dt.date(9999, 12, 1)), MAX) == []  # it would end in year 10000
    assert periods(_contract(dt.date(9999, 12, 15), billing="annual"), MAX) == []


def test_a_period_cut_short_in_the_calendars_last_month_is_prorated_over_its_true_length():
    [p] = periods(_contract(dt.date(9999, 12, 1), ends=dt.date(9999, 12, 29)), MAX)
    assert (p.start, p.end, p.full_days) == (dt.date(9999, 12, 1), dt.date(9999, 12, 30), 31)
    assert p.is_partial and p.share(Decimal(31)) == 29
    [q] = periods(_contract(dt.date(9999, 10, 15), ends=dt.date(9999, 12, 20), billing="quarterly"), MAX)
    assert q.full_days == (dt.date(2000, 1, 15) - dt.date(1999, 10, 15)).days  # 400 years earlier
    assert q.end == dt.date(9999, 12, 21)


@given(st.dates(min_value=dt.date(9000, 1, 1)), st.sampled_from(["monthly", "quarterly", "annual"]),
       st.one_of(st.none(), st.integers(0, 4000)), st.dates(min_value=dt.date(9000, 1, 1)))
def test_period_generation_never_overflows(starts, billing, length, through):
    ends = None
    if length is not None:
        ends = min(starts + dt.timedelta(days=min(length, (MAX - starts).days)), MAX - dt.timedelta(days=1))
    contract = _contract(starts, ends, billing)
    ps = periods(contract, through)
    for a, b in zip(ps, ps[1:]):
        assert a.end == b.start
    assert all(p.end <= through and 0 < p.days <= p.full_days for p in ps)
    far = dt.datetime(9999, 12, 31, 12, tzinfo=dt.timezone.utc)
    last = last_period_start_before(contract, far)
    assert last is None or last <= MAX


def test_a_grant_on_a_contract_at_the_calendars_end_burns_without_overflow():
    contract = _contract(dt.date(9999, 11, 1))
    applied, ledgers, _ = burn(contract, [], MAX, lambda x: x)
    assert applied == {} and ledgers == []


PROJECT = """
meter CALLS { event "call"  count }
plan p { billing monthly  payment net 30  charge CALLS : $1 per call }
contract late { customer "cust" plan p starts 2999-10-01 }
contract short { customer "c2" plan p starts 2026-01-01 ends 2026-02-28 }
"""


def test_through_is_bounded_where_it_enters(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.pricing").write_text(PROJECT, encoding="utf-8")
    write_events(tmp_path / "u.jsonl", [{"id": "1", "type": "call", "customer": "c2",
                                         "time": "2026-01-05T00:00:00Z", "properties": {}}])
    monkeypatch.chdir(tmp_path)
    for through in ("9999-12-31", "3001-01-01"):
        capsys.readouterr()
        assert main(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", through]) == 2
        err = capsys.readouterr().err
        assert f"--through {through} is too far ahead" in err and "internal error" not in err
    assert main(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-13-01"]) == 2
    assert "--through `2026-13-01` is not a date" in capsys.readouterr().err
    assert main(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", str(LAST_THROUGH),
                 "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "INVOICE  late-29991101" in out and "Dec 31, 2999" in out  # due 30 days after Dec 1


def test_a_due_date_after_the_calendar_is_e511():
    plan = compile_text(PROJECT)
    slow = plan.contracts["late"].model_copy(update={"payment_days": 3_000_000})  # past what the compiler allows
    plan = plan.with_contracts([slow])
    ev = evaluate(plan, [], LAST_THROUGH, aggregator=reference_aggregate)
    assert not ev.ok and [d.code for d in ev.diagnostics] == ["E511"]
    assert "contract `late`" in ev.diagnostics[0].message


def _last_start_by_walking(contract: Contract, instant):
    """The definition, period by period (what `last_period_start_before` bisects)."""
    from ratecard.billing.periods import BeyondCalendar, add_months, midnight
    from ratecard.model import CYCLE_MONTHS

    stop, last, k = contract.end_exclusive, None, 0
    if instant is None and stop is None:
        return None
    while True:
        try:
            start = add_months(contract.starts, k * CYCLE_MONTHS[contract.billing])
        except BeyondCalendar:
            return last
        if (stop is not None and start >= stop) or (instant is not None and midnight(start) >= instant):
            return last
        last, k = start, k + 1


@given(st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2040, 1, 1)),
       st.sampled_from(["monthly", "quarterly", "annual"]),
       st.one_of(st.none(), st.integers(0, 3000)),
       st.one_of(st.none(), st.datetimes(min_value=dt.datetime(2019, 1, 1), max_value=dt.datetime(2050, 1, 1),
                                         timezones=st.just(dt.timezone.utc))))
def test_the_last_period_a_grant_covers_is_found_by_bisection(starts, billing, length, instant):
    ends = None if length is None else starts + dt.timedelta(days=length)
    contract = _contract(starts, ends, billing)
    assert last_period_start_before(contract, instant) == _last_start_by_walking(contract, instant)


def test_a_grant_expiring_at_the_calendars_end_is_found_at_once():
    far = dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc)
    assert last_period_start_before(_contract(dt.date(2026, 1, 31)), far) == dt.date(9999, 11, 30)
    assert last_period_start_before(_contract(dt.date(2026, 1, 1)), far) == dt.date(9999, 12, 1)
