"""The usage stage: DuckDB aggregation, bad rows, reconciliation, and agreement
with the pure-Python reference aggregator (the oracle)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratecard.usage import reference
from ratecard.usage import aggregate_usage, build_query
from ratecard.usage import duckdb as engine
from ratecard.usage.query import Relations
from ratecard.usage.records import ContractTerm, Window, size_bytes
from ratecard.usage.rows import UnreadableFile
from ratecard.usage.sources import Source

from billing_helpers import FILTERED_TOKENS_METER, compile_text, example_through, run

PRICING = """
currency USD

""" + FILTERED_TOKENS_METER + """meter CALLS { event "api.request"  count  dimensions region  rates { default : $0.001 } }
meter PEAK { event "storage.snapshot"  max gigabytes  rates { default : $0.10 } }
meter USERS { event "api.request"  unique user  rates { default : $1 } }
meter SEATS { event "seats.set"  latest seats  rates { default : $5 } }
meter UNUSED { event "other.thing"  count  rates { default : $1 } }

plan all {
  billing monthly
  charge TOKENS
  charge CALLS
  charge PEAK
  charge USERS
  charge SEATS
}
plan calls_only { billing monthly  charge CALLS }

contract acme { customer "c_acme"  plan all  starts 2026-01-01  ends 2026-02-14 }
contract beta { customer "c_beta"  plan calls_only  starts 2026-01-15 }
"""

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def plan():
    return compile_text(PRICING)


def _terms(plan):
    out = []
    for c in sorted(plan.contracts.values(), key=lambda c: c.name):
        ends = dt.datetime.combine(c.end_exclusive, dt.time(), UTC) if c.end_exclusive else None
        out.append(ContractTerm(c.name, c.customer, c.plan, dt.datetime.combine(c.starts, dt.time(), UTC),
                                ends, tuple(ch.meter for ch in plan.plans[c.plan].charges)))
    return out


def _windows():
    def d(s):
        return dt.datetime.fromisoformat(s).replace(tzinfo=UTC)
    return [
        Window("acme@2026-01-01", "acme", d("2026-01-01"), d("2026-02-01")),
        Window("acme@2026-02-01", "acme", d("2026-02-01"), d("2026-02-15")),
        Window("beta@2026-01-15", "beta", d("2026-01-15"), d("2026-02-15")),
    ]


def _write_jsonl(path: Path, events) -> str:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return str(path)


def _both(plan, files, windows=None, **kw):
    windows = _windows() if windows is None else windows
    ours = aggregate_usage(plan, _terms(plan), windows, files, **kw)
    oracle = reference.aggregate_usage(plan, _terms(plan), windows, files, **kw)
    return ours, oracle


def _same(ours, oracle):
    assert [d.message for d in ours.diagnostics] == [d.message for d in oracle.diagnostics]
    assert ours.aggregates == oracle.aggregates
    assert ours.events_read == oracle.events_read
    assert ours.billed == oracle.billed
    assert ours.rejected == oracle.rejected
    assert ours.reconciles


def ev(i, customer, time, type_="api.request", **props):
    return {"id": f"e{i}", "type": type_, "customer": customer, "time": time, "properties": props}


# ----------------------------------------------------------------- aggregations


def test_every_aggregation_and_reason(plan, tmp_path, dedup_plan):
    events = [
        ev(1, "c_acme", "2026-01-02T00:00:00Z", "llm.completion", tokens="1000.5", model="gpt-4"),
        ev(2, "c_acme", "2026-01-03T00:00:00Z", "llm.completion", tokens=2000, model="gpt-4"),
        ev(3, "c_acme", "2026-01-03T00:00:00Z", "llm.completion", tokens="7", region="test"),  # filtered
        ev(4, "c_acme", "2026-01-04T00:00:00Z", "api.request", region="eu", user="u1"),
        ev(5, "c_acme", "2026-01-05T00:00:00Z", "api.request", region="eu", user="u1"),
        ev(6, "c_acme", "2026-01-05T00:00:00Z", "api.request", user="u2"),
        ev(7, "c_acme", "2026-01-06T00:00:00Z", "storage.snapshot", gigabytes="10.25"),
        ev(8, "c_acme", "2026-01-07T00:00:00Z", "storage.snapshot", gigabytes=3),
        ev(9, "c_acme", "2026-01-08T00:00:00Z", "seats.set", seats=4),
        {**ev(10, "c_acme", "2026-01-08T00:00:00Z", "seats.set", seats=9), "id": "e9b"},  # tie on time: greater id wins
        ev(11, "c_acme", "2026-01-02T00:00:00Z", "other.thing"),       # not in plan
        ev(12, "c_acme", "2026-01-02T00:00:00Z", "nobody.reads"),      # no meter
        ev(13, "c_zed", "2026-01-02T00:00:00Z", "api.request"),        # unknown customer
        ev(14, "c_beta", "2026-01-02T00:00:00Z", "api.request"),       # before beta starts
        ev(15, "c_beta", "2026-03-02T00:00:00Z", "api.request"),       # period not ended
        ev(16, "c_beta", "2026-01-20T00:00:00Z", "llm.completion", tokens=5),  # beta's plan lacks TOKENS
        ev(4, "c_acme", "2026-01-09T00:00:00Z", "api.request", region="us"),   # duplicate of e4 (later)
    ]
    files = [_write_jsonl(tmp_path / "u.jsonl", events)]
    ours, oracle = _both(plan, files)
    _same(ours, oracle)
    got = {(a.window, a.meter, a.dimensions): (a.quantity, a.events) for a in ours.aggregates}
    assert got[("acme@2026-01-01", "TOKENS", (("model", "gpt-4"),))] == (Decimal("3000.5"), 2)
    assert got[("acme@2026-01-01", "CALLS", (("region", "eu"),))] == (Decimal(2), 2)
    assert got[("acme@2026-01-01", "CALLS", (("region", None),))] == (Decimal(1), 1)
    assert got[("acme@2026-01-01", "USERS", ())] == (Decimal(2), 3)
    assert got[("acme@2026-01-01", "PEAK", ())] == (Decimal("10.25"), 2)
    assert got[("acme@2026-01-01", "SEATS", ())] == (Decimal(9), 2)
    assert ours.rejected["duplicate"] == 1
    assert ours.rejected["filtered"] == 1
    assert ours.rejected["not_in_plan"] == 2
    assert ours.rejected["no_meter"] == 1
    assert ours.rejected["unknown_customer"] == 1
    assert ours.rejected["outside_contract"] == 1
    assert ours.rejected["not_yet_billable"] == 1
    assert ours.events_read == len(events)


@pytest.fixture(params=["rank re-sent keys", "rank every event"])
def dedup_plan(request, monkeypatch):
    """Both ways the query dedups (`query.dedup`); the engine picks by memory."""
    if request.param == "rank every event":
        monkeypatch.setattr(engine, "events_fit", lambda sources, limit: False)
    return request.param


def test_a_resent_key_keeps_its_first_good_row_whatever_else_is_in_the_file(plan, tmp_path, dedup_plan):
    """The winner of a re-sent (customer, id) is the first good row by time, then
    type, then property values, among any number of copies, next to keys sent
    once: whether the query ranks only re-sent keys or every event."""
    events = [
        ev(1, "c_acme", "2026-01-05T00:00:00Z", "llm.completion", tokens="oops", model="gpt-4"),  # bad: loses
        ev(1, "c_acme", "2026-01-07T00:00:00Z", "llm.completion", tokens="30", model="gpt-4"),
        ev(1, "c_acme", "2026-01-06T00:00:00Z", "llm.completion", tokens="20", model="gpt-4"),  # wins: earliest good
        ev(2, "c_acme", "2026-01-08T00:00:00Z", "llm.completion", tokens="9", model="gpt-4"),
        ev(2, "c_acme", "2026-01-08T00:00:00Z", "llm.completion", tokens="5", model="gpt-4"),  # same time: "5" < "9"
        ev(2, "c_acme", "2026-01-08T00:00:00Z", "llm.completion", tokens="5", model="gpt-4"),  # an exact copy
        ev(1, "c_beta", "2026-01-20T00:00:00Z", "api.request", region="eu"),  # same id, other customer: kept
        *[ev(100 + i, "c_acme", "2026-01-10T00:00:00Z", "llm.completion", tokens="1", model="gpt-4")
          for i in range(5)],
    ]
    files = [_write_jsonl(tmp_path / "u.jsonl", events)]
    ours, oracle = _both(plan, files, skip_bad_rows=str(tmp_path / "bad.jsonl"))
    _same(ours, oracle)
    tokens = {(a.window, a.dimensions): (a.quantity, a.events) for a in ours.aggregates if a.meter == "TOKENS"}
    assert tokens[("acme@2026-01-01", (("model", "gpt-4"),))] == (Decimal(20 + 5 + 5), 7)
    assert ours.rejected["duplicate"] == 3
    assert ours.rejected["bad_row"] == 1
    assert ours.reconciles


def test_event_at_a_period_boundary_goes_to_the_later_period(plan, tmp_path):
    files = [_write_jsonl(tmp_path / "u.jsonl", [
        ev(1, "c_acme", "2026-02-01T00:00:00Z", region="eu"),
        ev(2, "c_acme", "2026-01-31T23:59:59.999999Z", region="eu"),
        ev(3, "c_acme", "2026-02-01T01:00:00+02:00", region="eu"),  # 2026-01-31T23:00Z
    ])]
    ours, oracle = _both(plan, files)
    _same(ours, oracle)
    calls = {a.window: a.quantity for a in ours.aggregates if a.meter == "CALLS"}
    assert calls == {"acme@2026-01-01": 2, "acme@2026-02-01": 1}


def test_segments_take_their_meters_events(plan, tmp_path):
    d = lambda s: dt.datetime.fromisoformat(s).replace(tzinfo=UTC)  # noqa: E731
    windows = _windows() + [
        Window("acme@2026-01-01#CALLS#1", "acme", d("2026-01-01"), d("2026-01-10"), meter="CALLS"),
        Window("acme@2026-01-01#CALLS#2", "acme", d("2026-01-10"), d("2026-02-01"), meter="CALLS"),
    ]
    files = [_write_jsonl(tmp_path / "u.jsonl", [
        ev(1, "c_acme", "2026-01-02T00:00:00Z", user="a"),
        ev(2, "c_acme", "2026-01-12T00:00:00Z", user="b"),
        ev(3, "c_acme", "2026-01-13T00:00:00Z", user="b"),
    ])]
    ours, oracle = _both(plan, files, windows)
    _same(ours, oracle)
    keys = {(a.window, a.meter): a.quantity for a in ours.aggregates}
    assert keys == {("acme@2026-01-01#CALLS#1", "CALLS"): 1, ("acme@2026-01-01#CALLS#2", "CALLS"): 2,
                    ("acme@2026-01-01", "USERS"): 2}


def test_quantities_keep_every_decimal(plan, tmp_path):
    files = [_write_jsonl(tmp_path / "u.jsonl", [
        ev(1, "c_acme", "2026-01-02T00:00:00Z", "llm.completion", tokens="0.000000000000000001"),
        ev(2, "c_acme", "2026-01-02T00:00:00Z", "llm.completion", tokens="12345678901234567.123456789"),
    ])]
    ours, oracle = _both(plan, files)
    _same(ours, oracle)
    assert ours.aggregates[0].quantity == Decimal("12345678901234567.123456789000000001")


# ----------------------------------------------------------------- bad rows


BAD_LINES = [
    ('{"id":"b1","type":"api.request","customer":"c_acme","time":"2026-01-02T00:00:00Z"', "invalid JSON"),
    ('{"type":"api.request","customer":"c_acme","time":"2026-01-02T00:00:00Z"}', "missing field `id`"),
    ('{"id":"b3","type":"api.request","customer":"c_acme","time":"yesterday"}', "bad timestamp"),
    ('{"id":"b4","type":"api.request","customer":"c_acme","time":"2026-13-02T00:00:00Z"}', "bad timestamp"),
    ('{"id":"b5","type":"llm.completion","customer":"c_acme","time":"2026-01-02T00:00:00Z",'
     '"properties":{"tokens":"lots"}}', "is not a decimal number"),
    ('{"id":"b6","type":"llm.completion","customer":"c_acme","time":"2026-01-02T00:00:00Z",'
     '"properties":{}}', "missing quantity `tokens`"),
    ('{"id":"b7","type":"llm.completion","customer":"c_acme","time":"2026-01-02T00:00:00Z",'
     '"properties":{"tokens":"0.1234567890123456789"}}', "at most 18 decimal places"),
    # the message says both bounds: a 21-digit whole number has no decimal places to blame
    ('{"id":"b9","type":"llm.completion","customer":"c_acme","time":"2026-01-02T00:00:00Z",'
     '"properties":{"tokens":123456789012345678901}}', "at most 18 decimal places and 20 integer digits"),
    ('{"id":"b8","type":"api.request","customer":"c_acme","time":"2026-01-02T00:00:00Z",'
     '"properties":"x"}', "`properties` is not an object"),
    ('[1, 2]', "not a JSON object"),
]
GOOD = '{"id":"g1","type":"api.request","customer":"c_acme","time":"2026-01-02T00:00:00Z","properties":{}}'


@pytest.mark.parametrize("bad,reason", BAD_LINES)
def test_a_bad_row_names_file_and_line(plan, tmp_path, bad, reason):
    path = tmp_path / "u.jsonl"
    path.write_text(GOOD + "\n" + bad + "\n" + GOOD.replace("g1", "g2") + "\n", encoding="utf-8")
    ours, oracle = _both(plan, [str(path)])
    assert [d.message for d in ours.diagnostics] == [d.message for d in oracle.diagnostics]
    (diag,) = ours.diagnostics
    assert diag.code == "E500" and diag.span.line == 2 and diag.span.file == str(path)
    assert f"{path}:2" in diag.message and reason in diag.message


def test_skip_bad_rows_writes_them_and_bills_the_rest(plan, tmp_path):
    path = tmp_path / "u.jsonl"
    lines = [GOOD] + [b for b, _ in BAD_LINES] + [GOOD.replace("g1", "g2")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    skipped = tmp_path / "skipped.jsonl"
    ours = aggregate_usage(plan, _terms(plan), _windows(), [str(path)], skip_bad_rows=str(skipped))
    oracle = reference.aggregate_usage(plan, _terms(plan), _windows(), [str(path)], skip_bad_rows=str(skipped))
    _same(ours, oracle)
    assert ours.rejected["bad_row"] == len(BAD_LINES)
    assert ours.billed == 2 and ours.events_read == len(lines)
    written = [json.loads(x) for x in skipped.read_text(encoding="utf-8").splitlines()]
    assert [w["line"] for w in written] == list(range(2, 2 + len(BAD_LINES)))
    assert all(w["reason"] for w in written)


def test_bad_csv_and_parquet_rows_name_their_line(plan, tmp_path):
    csv_path = tmp_path / "u.csv"
    csv_path.write_text("id,type,customer,time,region\n"
                        "a,api.request,c_acme,2026-01-02T00:00:00Z,eu\n"
                        "b,api.request,c_acme,not-a-time,eu\n", encoding="utf-8")
    pq_path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"id": ["x", None], "type": ["api.request"] * 2, "customer": ["c_acme"] * 2,
                             "time": ["2026-01-02T00:00:00Z"] * 2}), pq_path)
    ours, oracle = _both(plan, [str(csv_path), str(pq_path)])
    assert [d.message for d in ours.diagnostics] == [d.message for d in oracle.diagnostics]
    assert [(d.span.file, d.span.line) for d in ours.diagnostics] == [(str(csv_path), 3), (str(pq_path), 2)]


def test_unsupported_or_unreadable_file_is_a_diagnostic(plan, tmp_path):
    other = tmp_path / "u.xml"
    other.write_text("<x/>")
    fake = tmp_path / "u.parquet"
    fake.write_text("not parquet")
    report = aggregate_usage(plan, _terms(plan), _windows(), [str(other), str(fake)])
    assert [d.code for d in report.diagnostics] == ["E501", "E501"]


# ----------------------------------------------------------------- formats


def _csv(path: Path, events, keys) -> str:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "type", "customer", "time", *keys])
        for e in events:
            w.writerow([e["id"], e["type"], e["customer"], e["time"],
                        *[str(e["properties"].get(k, "")) for k in keys]])
    return str(path)


def _parquet(path: Path, events, keys, nested: bool) -> str:
    cols = {k: [e[k] for e in events] for k in ("id", "type", "customer", "time")}
    props = {k: [None if e["properties"].get(k) is None else str(e["properties"][k]) for e in events]
             for k in keys}
    if nested:
        cols["properties"] = [{k: props[k][i] for k in keys} for i in range(len(events))]
    else:
        cols.update(props)
    pq.write_table(pa.table(cols), path)
    return str(path)


KEYS = ("tokens", "model", "region", "gigabytes", "user", "seats")

event_strategy = st.fixed_dictionaries({
    "id": st.sampled_from([f"e{i}" for i in range(25)]),
    "customer": st.sampled_from(["c_acme", "c_beta", "c_zed"]),
    "type": st.sampled_from(["llm.completion", "api.request", "storage.snapshot", "seats.set",
                             "other.thing", "nobody.reads"]),
    # RFC 3339 (section 5.6, NOTE): `T` and `Z` may be written `t` and `z`
    "time": st.builds(lambda t, sep, zone: t.replace(microsecond=0).isoformat(sep) + zone,
                      st.datetimes(min_value=dt.datetime(2025, 12, 25), max_value=dt.datetime(2026, 2, 20)),
                      st.sampled_from("Tt"), st.sampled_from("Zz")),
    "properties": st.fixed_dictionaries({}, optional={
        "tokens": st.decimals(min_value=0, max_value=10**9, places=3).map(str),
        "gigabytes": st.integers(min_value=0, max_value=500).map(str),
        "seats": st.integers(min_value=0, max_value=50).map(str),
        # "" is absent in every format (an empty CSV cell cannot say otherwise); " " is a value
        "model": st.sampled_from(["gpt-4", "gpt-3.5", "<b>x</b>", "ünï", "", " "]),
        "region": st.sampled_from(["eu", "us", "test", ""]),
        "user": st.sampled_from(["u1", "u2", "u3", ""]),
    }),
})


def _complete(e):
    """Meters that need a quantity get one, so every generated row is good."""
    p = dict(e["properties"])
    if e["type"] == "llm.completion" and p.get("region") != "test":
        p.setdefault("tokens", "1")
    p.setdefault("gigabytes", "1") if e["type"] == "storage.snapshot" else None
    p.setdefault("seats", "1") if e["type"] == "seats.set" else None
    return {**e, "properties": p}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(event_strategy.map(_complete), max_size=40), st.randoms(use_true_random=False))
def test_duckdb_agrees_with_the_reference_in_every_format(plan, tmp_path_factory, events, rnd):
    folder = tmp_path_factory.mktemp("fmt")
    base = [_write_jsonl(folder / "all.jsonl", events)]
    ours, oracle = _both(plan, base)
    _same(ours, oracle)
    shuffled = events[:]
    rnd.shuffle(shuffled)
    cut = rnd.randint(0, len(shuffled))
    first, second = shuffled[:cut], shuffled[cut:]
    layouts = [
        [_write_jsonl(folder / "a.jsonl", first), _csv(folder / "b.csv", second, KEYS)],
        [_csv(folder / "c.csv", shuffled, KEYS)],
        [_parquet(folder / "d.parquet", first, KEYS, nested=True),
         _parquet(folder / "e.parquet", second, KEYS, nested=False)],
    ]
    for files in layouts:
        other = aggregate_usage(plan, _terms(plan), _windows(), files)
        assert other.diagnostics == []
        assert other.aggregates == ours.aggregates, files
        assert (other.billed, other.rejected, other.events_read) == (ours.billed, ours.rejected, ours.events_read)


def test_invoices_identical_across_formats_and_shuffles(plan, tmp_path):
    rng = random.Random(7)
    events = []
    for i in range(300):
        kind = rng.choice(["llm.completion", "api.request", "storage.snapshot", "seats.set"])
        props = {"region": rng.choice(["eu", "us"]), "model": rng.choice(["gpt-4", "gpt-3.5"]),
                 "tokens": str(rng.randint(1, 10**6)), "gigabytes": str(rng.randint(1, 900)),
                 "user": f"u{rng.randint(1, 30)}", "seats": str(rng.randint(1, 40))}
        day = dt.datetime(2026, 1, 1) + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 44))
        events.append({"id": f"e{rng.randint(0, 280)}", "type": kind,
                       "customer": rng.choice(["c_acme", "c_beta"]),
                       "time": day.isoformat() + "Z", "properties": props})
    one = run(plan, [_write_jsonl(tmp_path / "one.jsonl", events)], "2026-03-01", aggregator=aggregate_usage)
    rng.shuffle(events)
    split = run(plan, [_write_jsonl(tmp_path / "x.jsonl", events[:100]), _csv(tmp_path / "y.csv", events[100:200], KEYS),
                       _parquet(tmp_path / "z.parquet", events[200:], KEYS, nested=True)],
                "2026-03-01", aggregator=aggregate_usage)
    oracle = run(plan, [str(tmp_path / "one.jsonl")], "2026-03-01")
    assert one.run.model_dump_json() == split.run.model_dump_json() == oracle.run.model_dump_json()
    assert one.run.events.read == 300


# A contract that changes plan twice, each time to a plan that charges other meters: the usage
# stage decides billability by the plan in effect at each event's time.
PLAN_CHANGES = """
currency USD
meter CALLS { event "api.request"  count  dimensions region  rates { default : $0.001 } }
meter PEAK { event "storage.snapshot"  max gigabytes  rates { default : $0.10 } }
meter SEATS { event "seats.set"  latest seats  rates { default : $5 } }
plan calls_only { billing monthly  charge CALLS }
plan storage { billing monthly  charge PEAK  charge SEATS }
contract gamma {
  customer "c_gamma"
  plan calls_only
  plan storage from 2026-01-11
  plan calls_only from 2026-02-20
  starts 2026-01-01
}
"""
STORAGE_FROM, CALLS_AGAIN = dt.datetime(2026, 1, 11, tzinfo=UTC), dt.datetime(2026, 2, 20, tzinfo=UTC)


def test_billability_follows_the_plan_in_effect_and_counts_reconcile(tmp_path, dedup_plan):
    from ratecard.billing.scope import terms_and_windows

    plan = compile_text(PLAN_CHANGES)
    terms, windows = terms_and_windows(plan, dt.date(2026, 3, 1))
    assert [(t.plan, t.charged_meters) for t in terms] == [
        ("calls_only", ("CALLS",)), ("storage", ("PEAK", "SEATS")), ("calls_only", ("CALLS",))]
    rng = random.Random(15)
    events, billable = [], 0
    instants = [STORAGE_FROM, CALLS_AGAIN, STORAGE_FROM - dt.timedelta(microseconds=1),
                CALLS_AGAIN - dt.timedelta(microseconds=1)]
    for i in range(120):
        kind = rng.choice(["api.request", "storage.snapshot", "seats.set"])
        when = instants[i] if i < len(instants) else \
            dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 68))
        events.append(ev(i, "c_gamma", when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), kind, region=rng.choice(["eu", "us"]),
                         gigabytes=str(rng.randint(1, 900)), seats=str(rng.randint(1, 40))))
        on_storage = STORAGE_FROM <= when < CALLS_AGAIN
        billable += when < dt.datetime(2026, 3, 1, tzinfo=UTC) and on_storage == (kind != "api.request")
    ours = aggregate_usage(plan, terms, windows, [_write_jsonl(tmp_path / "u.jsonl", events)])
    oracle = reference.aggregate_usage(plan, terms, windows, [str(tmp_path / "u.jsonl")])
    _same(ours, oracle)
    assert ours.billed == billable
    assert ours.billed + ours.rejected["not_in_plan"] + ours.rejected["not_yet_billable"] == 120
    # no part's window has a meter its plan does not charge
    parts = {"gamma@2026-01-01": {"CALLS"}, "gamma@2026-01-11": {"PEAK", "SEATS"},
             "gamma@2026-02-01": {"PEAK", "SEATS"}, "gamma@2026-02-20": {"CALLS"}}
    assert {a.window for a in ours.aggregates} == set(parts)
    assert all(a.meter in parts[a.window] for a in ours.aggregates)


def test_timestamp_typed_parquet_columns(plan, tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({
        "id": ["a", "b"], "type": ["api.request"] * 2, "customer": ["c_acme"] * 2,
        "time": pa.array([dt.datetime(2026, 1, 5, tzinfo=UTC), dt.datetime(2026, 2, 3, tzinfo=UTC)],
                         pa.timestamp("us", tz="UTC")),
        "region": ["eu", "eu"],
    }), path)
    ours, oracle = _both(plan, [str(path)])
    _same(ours, oracle)
    assert {a.window for a in ours.aggregates} == {"acme@2026-01-01", "acme@2026-02-01"}


def test_query_quotes_hostile_names_and_values(tmp_path):
    hostile = compile_text('''
meter M { event "x'); DROP TABLE t; --"  count  dimensions model
  where model != "a'b"
  rates { default : $1 } }
plan p { billing monthly  charge M }
contract c { customer "o'brien"  plan p  starts 2026-01-01 }
''')
    rel = Relations(*(tmp for tmp in (__import__("sqlglot").exp.to_table(n) for n in ("t1", "t2", "t3"))))
    from ratecard.usage.sources import Source
    query, _ = build_query(hostile, [Source(str(tmp_path / "it's.jsonl"), "jsonl")], rel)
    sql = query.sql("duckdb")
    assert "'x''); DROP TABLE t; --'" in sql and "'a''b'" in sql and "it''s.jsonl" in sql
    path = tmp_path / "it's.jsonl"
    path.write_text(json.dumps({"id": "1", "type": "x'); DROP TABLE t; --", "customer": "o'brien",
                                "time": "2026-01-03T00:00:00Z", "properties": {"model": "z"}}) + "\n")
    terms = [ContractTerm("c", "o'brien", "p", dt.datetime(2026, 1, 1, tzinfo=UTC), None, ("M",))]
    windows = [Window("c@1", "c", dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC))]
    report = aggregate_usage(hostile, terms, windows, [str(path)])
    assert [(a.meter, a.dimensions, a.quantity) for a in report.aggregates] == [("M", (("model", "z"),), 1)]


_QUANTITY_EDGES = ["1", "1.", ".5", "0.5", "+2", "-3.25", "007.50", ".", "", " 12 ", "1e5", "1..2",
                   "1" * 20, "1" * 21, "0" * 30 + "1", "0" * 5 + "1" * 20, "0" * 5 + "1" * 21,
                   "1." + "9" * 18, "1." + "9" * 19, "1." + "0" * 19, "12345678901234567890.123456789012345678"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_QUANTITY_EDGES),
                          st.text(alphabet="0123456789.+- eE", max_size=26)), min_size=1, max_size=20))
def test_the_engines_quantity_pattern_accepts_what_python_accepts(texts):
    """The SQL row check (one pattern, and the exponent rule) and `rows.parse_quantity`
    agree on every text, and DuckDB reads an accepted text as the same exact number."""
    import re

    import duckdb
    from sqlglot import exp

    from ratecard.usage.query import _bad_quantity, quantity_value
    from ratecard.usage.rows import QUANTITY_PATTERN, exponent_quantity, parse_quantity

    python = [parse_quantity(t) for t in texts]
    assert [re.fullmatch(QUANTITY_PATTERN, t.strip(" ")) is not None or exponent_quantity(t.strip(" "))
            for t in texts] == [q is not None for q in python]
    con = duckdb.connect()
    t = exp.column("t")
    check = exp.Not(this=_bad_quantity(t)).sql("duckdb")
    value = exp.Case(ifs=[exp.If(this=exp.Not(this=_bad_quantity(t)), true=quantity_value(t))]).sql("duckdb")
    rows = con.execute(f"SELECT {check}, {value} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
                       [texts]).fetchall()
    assert [bool(ok) for ok, _ in rows] == [q is not None for q in python]
    assert [v for _, v in rows] == python


def test_memory_limits_read_as_duckdb_reads_them():
    assert size_bytes("1GB") == 10**9
    assert size_bytes("512 MiB") == 512 * 2**20
    assert size_bytes("2.5GB") == 2_500_000_000
    assert size_bytes("lots") is None


def test_the_dedup_plan_follows_whether_the_events_fit_in_memory(tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_bytes(b"x" * 1_000_000)  # at most 10,000 events of 100 bytes
    source = [engine.describe(None, str(path))]
    assert engine.events_fit(source, "1GB")  # 2 x 10,000 x 200 bytes = 4 MB
    assert not engine.events_fit(source, "2MB")
    assert engine.events_fit(source, "not a size")  # DuckDB itself refuses it
    parquet = [Source("u.parquet", "parquet", rows=10_000)]  # counted by `describe`, from the footer
    assert engine.events_fit(parquet, "1GB") and not engine.events_fit(parquet, "2MB")


def test_describe_counts_a_parquet_files_rows_from_its_footer(tmp_path):
    import duckdb

    path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(1234)]}), path, row_group_size=500)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"x" * 2000)
    conn = duckdb.connect()
    assert engine.describe(conn, str(path)).rows == 1234
    with pytest.raises(UnreadableFile):
        engine.describe(conn, str(bad))


def test_which_spark_master_is_spark_connect(monkeypatch):
    from ratecard.usage import spark_session as spark

    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    assert spark.connect_url(None) is None
    assert spark.connect_url("local[2]") is None
    assert spark.connect_url("sc://head:15002/;token=x") == "sc://head:15002/;token=x"
    monkeypatch.setenv("SPARK_REMOTE", "sc://remote")
    assert spark.connect_url(None) == "sc://remote"
    assert spark.connect_url("spark://head:7077") is None  # an explicit master wins


def test_an_unreachable_spark_connect_url_is_refused_without_retrying():
    import socket

    from ratecard.usage import spark_session as spark

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match=f"cannot reach Spark Connect at 127.0.0.1:{port}"):
        spark._check_reachable(f"sc://127.0.0.1:{port}/;user_id=x")
    with pytest.raises(ConnectionError, match="not a Spark Connect URL"):
        spark._check_reachable("sc://")


# A small run reads its result as Python tuples (`duckdb.few_events`), a large one through
# Arrow: both readings of one result are the same aggregates and counts.

@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(event_strategy.map(_complete), max_size=40))
def test_a_small_runs_tuples_are_the_arrow_reading(plan, tmp_path_factory, monkeypatch, events):
    files = [_write_jsonl(tmp_path_factory.mktemp("few") / "u.jsonl", events)]
    assert engine.few_events([engine.describe(None, files[0])])
    tuples = aggregate_usage(plan, _terms(plan), _windows(), files)
    monkeypatch.setattr(engine, "FEW_EVENTS", -1)  # every run is "large": Arrow
    arrow = aggregate_usage(plan, _terms(plan), _windows(), files)
    monkeypatch.undo()
    assert tuples == arrow  # aggregates, counts, rejections, bad rows, diagnostics
    assert tuples.reconciles


@pytest.mark.parametrize("project", ["ai-api", "object-storage", "storage", "enterprise"])
def test_an_examples_invoices_are_the_same_read_either_way(project, monkeypatch, capsys):
    """Weighted meters (object-storage) and segments included: the invoice JSON byte for byte."""
    from ratecard.cli import main

    folder = Path(__file__).resolve().parents[1] / "examples" / project
    through = example_through(folder)
    args = ["invoice", str(folder), "--usage", *sorted(str(p) for p in folder.glob("usage*.jsonl")),
            "--through", through]
    outputs = []
    for few in (engine.FEW_EVENTS, -1):
        monkeypatch.setattr(engine, "FEW_EVENTS", few)
        assert main(args) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].startswith("{")
