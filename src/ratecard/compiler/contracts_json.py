"""Contracts from JSON, in the shape of the Monk contract API (camelCase).

    {"contractId": "acme", "planId": "pro", "customerId": "cust_acme",
     "startsAt": "2026-01-01T00:00:00Z", "dimensions": {"customer_tier": "enterprise"},
     "billingCycle": "quarterly", "paymentTermsDays": 45,
     "rateOverrides": {"LLM_TOKENS": {"model=gpt-4": 0.02, "default": "10% off"}},
     "creditGrantCents": 12000000,
     "creditSettings": {"description": "...", "expiresAt": "2026-12-31T23:59:59Z",
                        "priority": 1, "appliesTo": ["LLM_TOKENS", "fees"]},
     "capCents": 100000,
     "discounts": [{"percent": 20, "description": "Launch", "appliesTo": ["LLM_TOKENS"], "periods": 3},
                   {"amountCents": 50000, "once": true}],
     "planChanges": [{"planId": "team", "effectiveAt": "2026-03-15"}]}

A JSON contract is the same thing as a `contract` block, so it is turned into
exactly the syntax a `contract` block parses to (`syntax.nodes`), each node's
span naming the JSON path it came from, and compiled with the pricing files
by the same passes, checks and lints (`compiler.compile_sources(...,
contracts=...)`). Whatever the compiler says of a block -- an unknown plan,
an ambiguous pair of overrides, a price out of range, two contracts of one
customer at once -- it says of the JSON contract, with the same code and
message, at `file:$[0].rateOverrides.M["model=gpt-4"]`.

Only the JSON itself is checked here (E600): the file is JSON, each contract
has the API's shape (pydantic; every error names its JSON path), a
`rateOverrides` key is a condition and its value a price or a modifier. JSON
numbers are read as Decimals from their text, never through a float.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..diagnostics import Diagnostic, Span, did_you_mean, error
from ..money import minor_units
from ..syntax import nodes as n
from ..syntax import without_bom


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class CreditSettings(_Api):
    description: str = ""
    expires_at: str | None = Field(None, alias="expiresAt")
    granted_at: str | None = Field(None, alias="grantedAt")
    price_cents: int | None = Field(None, alias="priceCents")
    priority: Decimal | None = None  # (a number: the compiler says what a bad one is, as for a block)
    applies_to: list[str] | None = Field(None, alias="appliesTo")


class ApiDiscount(_Api):
    """`discount N% {...}` (`percent`) or `discount $N` (`amountCents`); `once` or `periods`."""

    percent: Decimal | None = None
    amount_cents: int | None = Field(None, alias="amountCents")
    description: str = ""
    applies_to: list[str] | None = Field(None, alias="appliesTo")
    periods: Decimal | None = None
    once: bool = False


class ApiPlanChange(_Api):
    """`plan NAME from DATE`: `effectiveAt` a date, or a timestamp taken as its UTC date."""

    plan_id: str = Field(alias="planId", min_length=1)
    effective_at: str = Field(alias="effectiveAt")


class ApiContract(_Api):
    """The API's shape. Values are only typed here; their meaning (a known plan, a
    billing cycle, a date in range, a whole number of days...) is the compiler's."""

    contract_id: str = Field(alias="contractId", min_length=1)
    plan_id: str = Field(alias="planId", min_length=1)
    customer_id: str = Field(alias="customerId", min_length=1)
    starts_at: str = Field(alias="startsAt")
    ends_at: str | None = Field(None, alias="endsAt")
    dimensions: dict[str, Union[str, Decimal]] = Field(default_factory=dict)
    billing_cycle: str | None = Field(None, alias="billingCycle")
    payment_terms_days: int | None = Field(None, alias="paymentTermsDays")
    autopay: bool | None = None
    rate_overrides: dict[str, dict[str, Union[Decimal, str]]] = Field(default_factory=dict,
                                                                      alias="rateOverrides")
    credit_grant_cents: int | None = Field(None, alias="creditGrantCents")
    credit_settings: CreditSettings | None = Field(None, alias="creditSettings")
    minimum_cents: int | None = Field(None, alias="minimumCents")
    cap_cents: int | None = Field(None, alias="capCents")
    discounts: list[ApiDiscount] = Field(default_factory=list)
    plan_changes: list[ApiPlanChange] = Field(default_factory=list, alias="planChanges")


_MODIFIER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*%\s*(off|up)\s*$")
_AMOUNT = re.compile(r"^\s*(-?)\s*\$?\s*(-?\d+(?:\.\d+)?)\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Duplicate(ValueError):
    pass


def _object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are unique: Python's json keeps the last of two silently."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(f"the key {json.dumps(key)} appears twice in one object")
        out[key] = value
    return out


def _constant(name: str):
    raise ValueError(f"`{name}` is not a JSON number")


def _dollars(amount: Decimal) -> str:
    """An amount as a block writes it (`$0.0000001`, not `$1E-7`), so messages read the same;
    an absurd exponent (`1e400`) stays short."""
    return f"${amount:f}" if abs(amount.adjusted()) < 40 else f"${amount}"


# what each object of the API is called in a message
_OBJECTS = {"ApiContract": "a contract", "CreditSettings": "`creditSettings`",
            "ApiDiscount": "a discount", "ApiPlanChange": "a plan change"}


def _keys(model: type[_Api]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc) -> type[_Api] | None:
    """The API object holding the key at `loc` (`("planChanges", 0, "startsAt")` -> a plan
    change), or None where it is no object of ours (a `rateOverrides` table)."""
    model: type[_Api] | None = ApiContract
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        if field is None:
            return None
        found = [t for t in _types(field.annotation) if isinstance(t, type) and issubclass(t, _Api)]
        if not found:
            return None
        model = found[0]
    return model


def _types(annotation) -> list:
    """`annotation` and every type inside it (`list[ApiDiscount] | None` -> ..., ApiDiscount)."""
    out = [annotation]
    for arg in get_args(annotation):
        out.extend(_types(arg))
    return out


def _message(problem: dict) -> str:
    """Pydantic's words for a wrong key ("Extra inputs are not permitted", "Field
    required") as the key, the object and the keys it takes; other problems as they are."""
    kind, loc = problem["type"], problem["loc"]
    model = _model_at(loc) if loc and isinstance(loc[-1], str) else None
    if model is None or kind not in ("extra_forbidden", "missing"):
        return problem["msg"]
    key, keys, what = loc[-1], _keys(model), _OBJECTS.get(model.__name__, "this object")
    takes = f" (it takes {', '.join(f'`{k}`' for k in keys)})" if len(keys) <= 6 else ""
    if kind == "missing":
        return f"{what} needs `{key}`{takes}"
    near = did_you_mean(key, keys)
    return f"unknown key `{key}` in {what}" + (f" (did you mean `{near}`?)" if near else takes)


def _path(loc) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def contract_syntax(file: str, text: str, currency: str) -> tuple[n.SourceFile | None, list[Diagnostic]]:
    """A JSON contracts file as the `contract` blocks it means, and what is wrong with
    its JSON (E600). `currency` is the project's: it turns cents into amounts.

    A contract with any such problem is left out (its other statements would be
    checked without it, and report consequences); the rest are kept."""
    text = without_bom(text)
    try:
        data = json.loads(text, parse_float=Decimal, parse_int=Decimal, object_pairs_hook=_object,
                          parse_constant=_constant)
    except json.JSONDecodeError as exc:
        return None, [error("E600", f"invalid JSON: {exc.msg}",
                            Span.point(file, exc.lineno, exc.colno))]
    except (ValueError, RecursionError) as exc:  # a duplicate key, NaN, nesting too deep
        return None, [error("E600", f"invalid JSON: {exc}", Span.json(file, "$"))]
    prefix = "$"
    if isinstance(data, dict) and "contracts" in data:
        data, prefix = data["contracts"], "$.contracts"
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return None, [error("E600", "expected a list of contracts", Span.json(file, prefix))]
    blocks = []
    problems: list[Diagnostic] = []
    for i, raw in enumerate(data):
        where = f"{prefix}[{i}]"
        try:
            api = ApiContract.model_validate(raw)
        except ValidationError as exc:
            problems.extend(error("E600", _message(e), Span.json(file, where + _path(e["loc"])))
                            for e in exc.errors())
            continue
        block, found = _Converter(file, where, currency).block(api)
        problems.extend(found)
        if block is not None:
            blocks.append(block)
    return n.SourceFile(file, tuple(blocks), ()), problems


class _Converter:
    """One API contract -> the `ContractBlock` its `contract` block would parse to."""

    def __init__(self, file: str, where: str, currency: str):
        self.file, self.where, self.currency = file, where, currency
        self.problems: list[Diagnostic] = []

    def at(self, path: str) -> Span:
        return Span.json(self.file, self.where + path)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(error("E600", message, self.at(path)))

    def block(self, api: ApiContract) -> tuple[n.ContractBlock | None, list[Diagnostic]]:
        at = self.at
        body: list = [
            n.Customer(self._str(api.customer_id, ".customerId"), at(".customerId")),
            n.PlanRef(n.Ident(api.plan_id, at(".planId")), at(".planId")),
        ]
        starts = self._day(api.starts_at, ".startsAt")
        if starts is not None:
            body.append(n.Starts(starts, at(".startsAt")))
        if api.ends_at is not None:
            ends = self._day(api.ends_at, ".endsAt")
            if ends is not None:
                body.append(n.Ends(ends, at(".endsAt")))
        if api.dimensions:
            items = tuple(n.Assignment(n.Ident(key, at(f".dimensions.{key}")),
                                       self._str(value if isinstance(value, str) else format(value, "f"),
                                                 f".dimensions.{key}"),
                                       at(f".dimensions.{key}"))
                          for key, value in api.dimensions.items())
            body.append(n.ContractDimensions(items, at(".dimensions")))
        if api.billing_cycle is not None:
            body.append(n.Billing(n.Ident(api.billing_cycle, at(".billingCycle")), at(".billingCycle")))
        if api.payment_terms_days is not None:
            days = Decimal(api.payment_terms_days)
            body.append(n.Payment(n.Num(days, str(days), "", at(".paymentTermsDays")), at(".paymentTermsDays")))
        if api.autopay is not None:
            body.append(n.Autopay(n.Ident("on" if api.autopay else "off", at(".autopay")), at(".autopay")))
        if api.minimum_cents is not None:
            body.append(n.Minimum(self._cents(api.minimum_cents, ".minimumCents"), at(".minimumCents")))
        for meter, table in api.rate_overrides.items():
            path = f".rateOverrides.{meter}"
            rules = tuple(rule for key, value in table.items()
                          if (rule := self._rule(key, value, f"{path}[{json.dumps(key)}]")) is not None)
            body.append(n.Override(n.Ident(meter, at(path)), n.RateSpec(False, None, None, rules, at(path)),
                                   at(path)))
        if api.cap_cents is not None:
            body.append(n.Cap(self._cents(api.cap_cents, ".capCents"), at(".capCents")))
        for i, change in enumerate(api.plan_changes):
            path = f".planChanges[{i}]"
            day = self._day(change.effective_at, f"{path}.effectiveAt")
            if day is not None:
                body.append(n.PlanChange(n.Ident(change.plan_id, at(f"{path}.planId")), day, at(path)))
        for i, discount in enumerate(api.discounts):
            found = self._discount(discount, f".discounts[{i}]")
            if found is not None:
                body.append(found)
        if api.credit_grant_cents:
            body.append(self._credit(api))
        if self.problems:
            return None, self.problems
        return n.ContractBlock(n.Ident(api.contract_id, at(".contractId")), tuple(body), at("")), []

    # -- values

    def _str(self, value: str, path: str) -> n.Str:
        return n.Str(value, json.dumps(value), self.at(path))

    def _money(self, amount: Decimal, path: str) -> n.Money:
        return n.Money(amount, None, _dollars(amount), self.at(path))

    def _cents(self, cents: int, path: str) -> n.Money:
        """`...Cents` in the currency's minor units, exactly (no context rounds it)."""
        sign, digits, exponent = Decimal(cents).as_tuple()
        amount = Decimal((sign, digits, exponent - minor_units(self.currency)))
        return self._money(amount, path)

    def _day(self, text: str, path: str) -> n.DateLit | None:
        """A date, or a timestamp taken as its UTC date (`startsAt`, `endsAt`, `grantedAt`)."""
        if _DATE.match(text):
            return n.DateLit(text, False, self.at(path))
        try:
            moment = dt.datetime.fromisoformat(text.upper())  # `t`, `z`: RFC 3339 section 5.6
        except ValueError:
            self.problem(path, f"`{text}` is not a date (2026-01-01) or a timestamp (2026-01-01T00:00:00Z)")
            return None
        if moment.tzinfo is not None:
            try:
                moment = moment.astimezone(dt.timezone.utc)
            except OverflowError:  # past year 9999 in UTC: the compiler says it is out of range
                pass
        return n.DateLit(moment.date().isoformat(), False, self.at(path))

    def _instant(self, text: str, path: str) -> n.DateLit | None:
        """`expiresAt`: a date (the grant lasts through that day) or a timestamp (as written)."""
        if _DATE.match(text):
            return n.DateLit(text, False, self.at(path))
        try:
            dt.datetime.fromisoformat(text.upper())  # `t`, `z`: RFC 3339 section 5.6
        except ValueError:
            self.problem(path, f"`{text}` is not a date (2026-12-31) or a timestamp (2026-12-31T23:59:59Z)")
            return None
        return n.DateLit(text, True, self.at(path))

    def _rule(self, key: str, value, path: str) -> n.Rule | None:
        """`"model=gpt-4,region=eu": 0.02` -> `model = "gpt-4", region = "eu" : $0.02`."""
        span = self.at(path)
        conditions: list[n.Condition] = []
        is_default = key.strip() == "default"
        if not is_default:
            for part in key.split(","):
                name, eq, text = part.partition("=")
                name, text = name.strip(), text.strip()
                if not eq or not name:
                    self.problem(path, f"`{key}` is not a condition like `model=gpt-4` (or `default`)")
                    return None
                conditions.append(n.Condition(n.Ident(name, span), "=", (n.Str(text, json.dumps(text), span),),
                                              span))
        rhs = self._rhs(value, span)
        if rhs is None:
            self.problem(path, f"`{value}` is neither a price nor a modifier like \"20% off\"")
            return None
        return n.Rule(tuple(conditions), is_default, rhs, span, span)

    def _rhs(self, value, span: Span):
        if isinstance(value, Decimal):
            amount = value
        else:
            m = _MODIFIER.match(value)
            if m:
                return n.Modifier(Decimal(m.group(1)), f"{m.group(1)}%", m.group(2), span)
            m = _AMOUNT.match(value)
            if not m:
                return None
            amount = Decimal(m.group(2))
            if m.group(1):
                amount = -amount
        return n.UnitPrice(n.Money(amount, None, _dollars(amount), span), None, span)

    def _num(self, value: Decimal, path: str) -> n.Num:
        return n.Num(value, format(value, "f"), "", self.at(path))

    def _applies_to(self, targets: list[str] | None, path: str) -> list[n.AppliesTo]:
        if targets is None:
            return []
        if not targets:
            self.problem(path, "`appliesTo` names no meter (leave it out to cover every line)")
            return []
        return [n.AppliesTo(tuple(n.Ident(t, self.at(f"{path}[{k}]")) for k, t in enumerate(targets)),
                            self.at(path))]

    def _discount(self, api: ApiDiscount, path: str) -> n.Discount | None:
        """One of `discounts`, as the `discount` statement it means."""
        if (api.percent is None) == (api.amount_cents is None):
            self.problem(path, "a discount has either `percent` or `amountCents`")
            return None
        body: list = []
        if api.description:
            body.append(n.Description(self._str(api.description, f"{path}.description"),
                                      self.at(f"{path}.description")))
        body += self._applies_to(api.applies_to, f"{path}.appliesTo")
        if api.once:
            body.append(n.Once(self.at(f"{path}.once")))
        if api.periods is not None:
            at = self.at(f"{path}.periods")
            body.append(n.ForPeriods(self._num(api.periods, f"{path}.periods"), n.Ident("periods", at), at))
        percent = money = None
        if api.percent is not None:
            raw = f"{api.percent:f}%"
            percent = n.Percent(api.percent, raw, self.at(f"{path}.percent"))
        else:
            money = self._cents(api.amount_cents, f"{path}.amountCents")
        return n.Discount(percent, money, None, tuple(body), self.at(path))

    def _credit(self, api: ApiContract) -> n.Credit:
        settings = api.credit_settings or CreditSettings()
        body: list = []
        if settings.description:
            body.append(n.Description(self._str(settings.description, ".creditSettings.description"),
                                      self.at(".creditSettings.description")))
        if settings.price_cents is not None:
            body.append(n.CreditPrice(self._cents(settings.price_cents, ".creditSettings.priceCents"),
                                      self.at(".creditSettings.priceCents")))
        if settings.granted_at is not None:
            granted = self._day(settings.granted_at, ".creditSettings.grantedAt")
            if granted is not None:
                body.append(n.Granted(granted, self.at(".creditSettings.grantedAt")))
        if settings.expires_at is not None:
            expires = self._instant(settings.expires_at, ".creditSettings.expiresAt")
            if expires is not None:
                body.append(n.Expires(expires, self.at(".creditSettings.expiresAt")))
        if settings.priority is not None:
            body.append(n.Priority(self._num(settings.priority, ".creditSettings.priority"),
                                   self.at(".creditSettings.priority")))
        body += self._applies_to(settings.applies_to, ".creditSettings.appliesTo")
        return n.Credit(self._cents(api.credit_grant_cents, ".creditGrantCents"), tuple(body),
                        self.at(".creditGrantCents"))
