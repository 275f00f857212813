"""The invoice JSON, written by pydantic's own serializer, is the document it always was.

Line and CreditApplied leave parts out of their JSON field by field (`exclude_if`, a
JSON-only serializer for a line's quantity) instead of a `wrap` model serializer, which
handed every line to Python as a dict on its way to JSON (docs/scale.md, "Rating in the
engine"). Here generated invoices (the engine-rating scenarios: every price form, both
pricers) are written three ways -- `model_dump_json`, the streaming `RunWriter` that
`ratecard invoice` uses, and an independent writer that applies the documented rules to
the fields one by one -- and the bytes must be equal; the document must read back into
the models (the invoice document's schema) and write the same bytes again.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel

from ratecard.billing import evaluate
from ratecard.billing.documents import CreditApplied, InvoiceRun, Line, RunWriter
from ratecard.usage import aggregate_usage

from billing_helpers import compile_text, write_events
from test_engine_rating import scenarios


def _value(value):
    if isinstance(value, BaseModel):
        return _fields(value)
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _fields(model: BaseModel) -> dict:
    """The documented JSON of a model, from its fields in declaration order."""
    out = {name: _value(getattr(model, name)) for name, f in type(model).model_fields.items() if not f.exclude}
    if isinstance(model, Line):
        for part in ("plan", "service_period", "pool"):  # written only when the line has one
            if out[part] is None:
                del out[part]
        out["quantity"] = f"{model.quantity:f}"  # never with an exponent
    if isinstance(model, CreditApplied) and model.kind == "grant":
        del out["kind"]  # written for allowances only
    if isinstance(model, InvoiceRun):
        for key in ("unused_allowances", "unused_discounts"):
            if not out[key]:
                del out[key]
    return out


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_invoice_json_is_the_documented_document_byte_for_byte(tmp_path_factory, scenario):
    text, events = scenario
    plan = compile_text(text)
    files = [write_events(tmp_path_factory.mktemp("u") / "u.jsonl", events)]
    for in_engine in (True, False):
        ev = evaluate(plan, files, dt.date(2026, 9, 1), aggregator=aggregate_usage, price_in_engine=in_engine)
        if ev.run is None:
            return
        run = ev.run
        dumped = run.model_dump_json(indent=2)
        assert dumped == json.dumps(_fields(run), indent=2, ensure_ascii=False)
        writer = RunWriter()
        try:
            writer(run.invoices)
            out = io.StringIO()
            writer.finish(run.model_copy(update={"invoices": []}), out)  # the spool holds them
        finally:
            writer.close()
        assert out.getvalue() == dumped + "\n"
        again = InvoiceRun.model_validate_json(dumped)  # the document fits its models' schema
        assert again.model_dump_json(indent=2) == dumped


def test_absent_parts_stay_absent_and_present_ones_are_written():
    line = Line(kind="usage", charge="GB", description="Storage", quantity=Decimal("0E-9"), amount=Decimal("0.00"))
    data = json.loads(line.model_dump_json())
    assert "plan" not in data and "service_period" not in data and "pool" not in data
    assert data["quantity"] == "0.000000000"
    assert line.model_dump()["quantity"] == Decimal("0E-9")  # Python dumps keep the Decimal
    planned = line.model_copy(update={"plan": "pro"})
    assert json.loads(planned.model_dump_json())["plan"] == "pro"
    grant = CreditApplied(grant="g", description="d", applied=Decimal(1), remaining=Decimal(0))
    assert "kind" not in json.loads(grant.model_dump_json())
    allowance = grant.model_copy(update={"kind": "allowance"})
    assert json.loads(allowance.model_dump_json())["kind"] == "allowance"
