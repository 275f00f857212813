"""Contracts from JSON, in the shape of the Monk contract API (camelCase).

    {"contractId": "acme", "planId": "pro", "customerId": "cust_acme",
     "startsAt": "2026-01-01T00:00:00Z", "dimensions": {"customer_tier": "enterprise"},
     "billingCycle": "quarterly", "paymentTermsDays": 45,
     "rateOverrides": {"LLM_TOKENS": {"model=gpt-4": 0.02, "default": "10% off"}},
     "creditGrantCents": 12000000,
     "creditSettings": {"description": "...", "expiresAt": "2026-12-31T23:59:59Z"}}

Validated by pydantic (every error names its JSON path), then checked against
the compiled plan like a `contract` block (unknown plan or meter, an override
of a meter the plan does not charge, conditions on unknown keys) and turned
into the same `model.Contract`, so a JSON contract and the equivalent block
give identical invoices. JSON numbers are read as Decimals, never floats.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .diagnostics import Diagnostic, did_you_mean, error
from .model import (
    Condition,
    Contract,
    CreditGrant,
    Modifier,
    RateCard,
    RatingPlan,
    Rule,
    UnitPrice,
)
from .money import from_minor
from .rules import override_unit


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class CreditSettings(_Api):
    description: str = ""
    expires_at: dt.datetime | dt.date | None = Field(None, alias="expiresAt")
    granted_at: dt.date | None = Field(None, alias="grantedAt")
    price_cents: int | None = Field(None, alias="priceCents", ge=0)


class ApiContract(_Api):
    contract_id: str = Field(alias="contractId", min_length=1)
    plan_id: str = Field(alias="planId", min_length=1)
    customer_id: str = Field(alias="customerId", min_length=1)
    starts_at: dt.datetime | dt.date = Field(alias="startsAt")
    ends_at: dt.date | None = Field(None, alias="endsAt")
    dimensions: dict[str, Union[str, int, Decimal]] = Field(default_factory=dict)
    billing_cycle: Literal["monthly", "quarterly", "annual"] | None = Field(None, alias="billingCycle")
    payment_terms_days: int | None = Field(None, alias="paymentTermsDays", ge=0)
    autopay: bool | None = None
    rate_overrides: dict[str, dict[str, Union[Decimal, str]]] = Field(default_factory=dict,
                                                                      alias="rateOverrides")
    credit_grant_cents: int | None = Field(None, alias="creditGrantCents", ge=0)
    credit_settings: CreditSettings | None = Field(None, alias="creditSettings")
    minimum_cents: int | None = Field(None, alias="minimumCents", ge=0)

    @field_validator("starts_at")
    @classmethod
    def _utc_date(cls, v):
        if isinstance(v, dt.datetime):
            if v.tzinfo is not None:
                v = v.astimezone(dt.timezone.utc)
            return v.date()
        return v


_MODIFIER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*(off|up)\s*$")
_NUMBER = re.compile(r"^\s*\$?\s*(\d+(?:\.\d+)?)\s*$")


def _path(loc) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _err(file: str, path: str, message: str, hints=()) -> Diagnostic:
    return error("E600", f"{file}: {path}: {message}", hints=hints)


def load_contracts(path: str, plan: RatingPlan) -> tuple[list[Contract], dict[str, str], list[Diagnostic]]:
    """Read and check a JSON contracts file. Returns contracts, their rule origins, diagnostics."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], {}, [error("E600", f"cannot read contracts file {file}: {exc}")]
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return [], {}, [error("E600", f"{file}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}")]
    if isinstance(data, dict) and "contracts" in data:
        data = data["contracts"]
        prefix = "$.contracts"
    else:
        prefix = "$"
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return [], {}, [_err(file, prefix, "expected a list of contracts")]

    contracts: list[Contract] = []
    origins: dict[str, str] = {}
    diags: list[Diagnostic] = []
    seen_ids: dict[str, int] = {}
    for i, raw in enumerate(data):
        where = f"{prefix}[{i}]"
        try:
            api = ApiContract.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors():
                diags.append(_err(file, where + _path(e["loc"])[1:], e["msg"]))
            continue
        if api.contract_id in seen_ids:
            diags.append(_err(file, f"{where}.contractId",
                              f"duplicate contract id `{api.contract_id}` (also at {prefix}[{seen_ids[api.contract_id]}])"))
            continue
        seen_ids[api.contract_id] = i
        if api.contract_id in plan.contracts:
            diags.append(_err(file, f"{where}.contractId",
                              f"contract `{api.contract_id}` is already defined in the pricing files"))
            continue
        contract, rule_origins, problems = _convert(api, plan, file, where)
        diags.extend(problems)
        if contract is not None and not problems:
            contracts.append(contract)
            origins.update(rule_origins)
    return contracts, origins, diags


def _convert(api: ApiContract, plan: RatingPlan, file: str, where: str):
    diags: list[Diagnostic] = []
    origins: dict[str, str] = {}
    plan_obj = plan.plans.get(api.plan_id)
    if plan_obj is None:
        guess = did_you_mean(api.plan_id, plan.plans)
        msg = f"unknown plan `{api.plan_id}`" + (f" (did you mean `{guess}`?)" if guess else "")
        return None, {}, [_err(file, f"{where}.planId", msg)]
    if api.ends_at is not None and api.ends_at < api.starts_at:
        diags.append(_err(file, f"{where}.endsAt", f"ends ({api.ends_at}) before it starts ({api.starts_at})"))
    dimensions = {k: (v if isinstance(v, str) else format(v, "f")) for k, v in sorted(api.dimensions.items())}

    overrides: dict[str, RateCard] = {}
    for meter_name, table in sorted(api.rate_overrides.items()):
        meter_path = f"{where}.rateOverrides.{meter_name}"
        meter = plan.meters.get(meter_name)
        if meter is None:
            guess = did_you_mean(meter_name, plan.meters)
            diags.append(_err(file, meter_path, f"unknown meter `{meter_name}`"
                                                + (f" (did you mean `{guess}`?)" if guess else "")))
            continue
        if plan_obj.charge(meter_name) is None:
            diags.append(_err(file, meter_path, f"override of meter `{meter_name}`, which plan "
                                                f"`{plan_obj.name}` does not charge"))
            continue
        unit = override_unit(plan_obj, meter)
        known = set(meter.dimension_names) | set(dimensions)
        rules = []
        for k, (key, value) in enumerate(table.items()):
            rule_path = f"{meter_path}[{json.dumps(key)}]"
            conditions, is_default, problem = _conditions(key, known)
            if problem:
                diags.append(_err(file, rule_path, problem))
                continue
            action = _action(value)
            if action is None:
                diags.append(_err(file, rule_path, f"`{value}` is neither a price nor a modifier like "
                                                   "\"20% off\""))
                continue
            if isinstance(action, Decimal):
                action = UnitPrice(amount=action, unit=unit)
            rule_id = f"contract:{api.contract_id}/override:{meter_name}/{k}"
            rules.append(Rule(id=rule_id, conditions=conditions, is_default=is_default, action=action))
            origins[rule_id] = f"{file}:{rule_path}"
        overrides[meter_name] = RateCard(unit=unit, rules=tuple(rules))

    credits = []
    if api.credit_grant_cents:
        settings = api.credit_settings or CreditSettings()
        expires = settings.expires_at
        if isinstance(expires, dt.date) and not isinstance(expires, dt.datetime):
            expires = dt.datetime.combine(expires + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
        elif isinstance(expires, dt.datetime):
            expires = expires.replace(tzinfo=expires.tzinfo or dt.timezone.utc).astimezone(dt.timezone.utc)
        granted = settings.granted_at or api.starts_at
        if expires is not None and expires <= dt.datetime.combine(granted, dt.time(), tzinfo=dt.timezone.utc):
            diags.append(_err(file, f"{where}.creditSettings.expiresAt",
                              f"the credit expires ({expires.isoformat()}) before it is granted ({granted})"))
        grant_id = f"contract:{api.contract_id}/credit/0"
        credits.append(CreditGrant(
            id=grant_id,
            amount=from_minor(api.credit_grant_cents, plan.currency),
            description=settings.description,
            price=from_minor(settings.price_cents, plan.currency) if settings.price_cents is not None else None,
            granted=granted,
            expires=expires,
        ))
        origins[grant_id] = f"{file}:{where}.creditGrantCents"
    if diags:
        return None, {}, diags
    contract = Contract(
        name=api.contract_id,
        customer=api.customer_id,
        plan=plan_obj.name,
        starts=api.starts_at,
        ends=api.ends_at,
        dimensions=dimensions,
        billing=api.billing_cycle or plan_obj.billing,
        payment_days=api.payment_terms_days if api.payment_terms_days is not None else plan_obj.payment_days,
        autopay=api.autopay if api.autopay is not None else plan_obj.autopay,
        overrides=overrides,
        minimum=(from_minor(api.minimum_cents, plan.currency) if api.minimum_cents is not None
                 else plan_obj.minimum),
        credits=tuple(credits),
        source="json",
    )
    return contract, origins, []


def _conditions(key: str, known: set[str]) -> tuple[tuple[Condition, ...], bool, str | None]:
    """`"model=gpt-4,region=eu"` -> conditions; `"default"` -> the default rule."""
    if key.strip() == "default":
        return (), True, None
    conditions = []
    for part in key.split(","):
        name, eq, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name:
            return (), False, f"`{key}` is not a condition like `model=gpt-4` (or `default`)"
        if name not in known:
            guess = did_you_mean(name, known)
            return (), False, (f"`{name}` is neither a dimension of the meter nor of this contract"
                               + (f" (did you mean `{guess}`?)" if guess else ""))
        conditions.append(Condition(key=name, op="=", values=(value,)))
    return tuple(conditions), False, None


def _action(value) -> Decimal | Modifier | None:
    if isinstance(value, Decimal):
        return value if value >= 0 else None
    if isinstance(value, int):
        return Decimal(value) if value >= 0 else None
    m = _MODIFIER.match(value)
    if m:
        percent = Decimal(m.group(1))
        if m.group(2) == "off" and percent > 100:
            return None
        return Modifier(percent=percent, direction=m.group(2))
    m = _NUMBER.match(value)
    if m:
        return Decimal(m.group(1))
    return None
