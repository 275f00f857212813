"""The invoice documents: pydantic models that are the JSON output's shape.

`ratecard invoice --format json` prints one `InvoiceRun`: invoices, breakage,
the rejected-event counts and the event reconciliation. Money and quantities
are Decimals serialised as strings ("40.00"); dates are ISO dates. Field
order is declaration order, so the JSON is byte-stable.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import tempfile
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_serializer

from ..io import OutputError, reason, spool_error
from .sinks import InvoiceSink, SplittableSink


class Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PeriodRange(Doc):
    start: dt.date
    end: dt.date


class TierLine(Doc):
    """One tier's share of a tiered line (exact amounts; the line rounds once)."""

    lower: Decimal
    upper: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    flat: Decimal
    amount: Decimal


class PoolLine(Doc):
    """A pooled line's pool (`pooled graduated|volume`): its quantity (the sum of its lines'),
    its amount (rounded once; the lines' amounts add up to it) and how many lines share it."""

    quantity: Decimal
    amount: Decimal
    lines: int


def _plain_decimal(value: Decimal) -> str:
    """A quantity as JSON: without an exponent (a weighted line's 0 to 9 places is
    `0.000000000`, never `0E-9`); every other quantity as `str` writes it."""
    return format(value, "f")


def _absent(value) -> bool:
    return value is None


# Written without an exponent, in JSON only (Python dumps keep the Decimal).
PlainQuantity = Annotated[Decimal, PlainSerializer(_plain_decimal, return_type=str, when_used="json")]


class Line(Doc):
    """One invoice line.

    What the JSON leaves out is said field by field (`exclude_if`), never by a
    model serializer: a `wrap` serializer hands every line to Python as a dict
    on its way to JSON, which cost more than a third of writing the invoices
    (docs/scale.md, "Rating in the engine"); field exclusions stay in
    pydantic's own serializer. `plan` is written only on the lines of a period
    a plan change splits (and on advance fee lines), `service_period` only on
    advance fee and unused-time lines, and `pool` only on pooled lines, so
    every other invoice's JSON stays as it was."""

    kind: Literal["usage", "fee", "minimum", "credit", "discount", "cap", "unused_time"]
    # the meter name; the fee's name; "minimum"; "credit"; a discount's description; "Spend cap";
    # "<fee> (unused time)"
    charge: str
    description: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    quantity: PlainQuantity
    unit: str = ""
    unit_price: Decimal | None = None
    amount: Decimal
    rule: str | None = None  # file:line of the rule that priced it
    modifiers: list[str] = Field(default_factory=list)  # "20% off (contracts.pricing:14)"
    tiers: list[TierLine] = Field(default_factory=list)
    prorated: Decimal | None = None  # share of a cut-short period, for fees and minimums
    segment: PeriodRange | None = None  # when a period is split at a price change or a plan change
    # a plan part's line (`plan NAME from DATE` inside the period); absent otherwise
    plan: str | None = Field(default=None, exclude_if=_absent)
    # What an advance fee line (`in advance`) pays for, and an unused-time line gives back: a
    # period (or plan part) other than the invoice's own. Absent from the JSON of every other line.
    service_period: PeriodRange | None = Field(default=None, exclude_if=_absent)
    # A pooled line's pool; absent from the JSON of every other line (which keeps its shape).
    pool: PoolLine | None = Field(default=None, exclude_if=_absent)
    # A fee's exact share of its cadence (7/30 of a month), which the amount was computed
    # from; `quantity` is it cut to 10 decimals for the JSON. Not part of the JSON.
    share: Fraction | None = Field(default=None, exclude=True, repr=False)
    # Why an invoice-level line (discount, cap) has its amount, and how it was shared
    # among the lines it covers: what `explain` prints. Not part of the JSON.
    notes: tuple[str, ...] = Field(default=(), exclude=True, repr=False)

    @property
    def exact_quantity(self) -> Decimal | Fraction:
        """The quantity the amount was computed from: what a reader is shown."""
        return self.quantity if self.share is None else self.share


# A fee's share is (period months x days) / (cadence months x days of the uncut period):
# its denominator is at most 12 x 366. Two such fractions differ by more than 1/4392^2
# (5e-8), and the JSON's quantity is within 1e-10 of the share: one fraction is that near.
_SHARE_DENOMINATOR = 12 * 366


def read_back(line: Line) -> Line:
    """A line read back from its JSON (the ledger's stored documents) with the exact share a
    fee was billed at: the JSON keeps `quantity` cut to 10 places and not `share`, so a
    document shown from it read `0.2333333333` x $21.45 (= $5.00) next to $5.01 billed,
    where `ratecard invoice` showed `7/30`. Any other line, and a quantity the nearest
    such fraction does not give back to the digit, is returned as it is."""
    if line.kind != "fee" or line.share is not None or not -10 <= line.quantity.as_tuple().exponent < 0:
        return line
    shown = Fraction(line.quantity)
    share = shown.limit_denominator(_SHARE_DENOMINATOR)
    if share == shown or abs(share - shown) >= Fraction(1, 10**10):
        return line
    return line.model_copy(update={"share": share})


_SET = object.__setattr__


def trusted(cls: type[Doc], values: dict, fields_set: frozenset[str]) -> Doc:
    """`cls(**given)` without validating, for the hot path (a usage line per aggregate).

    `values` holds every field of `cls`, in declaration order, each already what validation
    would make of it (a fresh `dict` or `list` for a container field; the right type, never
    one validation would convert); `fields_set` the fields given explicitly. The instance
    is the one `cls(**given)` builds: the same `__dict__`, fields set, no extra and no
    private attributes, so `model_dump_json` writes it byte for byte alike
    (tests/test_run_writer.py holds `Line` and `TierLine` to it: no validators, no
    model serializer). Validating costs ~4 us a line, most of building one."""
    doc = cls.__new__(cls)
    _SET(doc, "__dict__", values)
    _SET(doc, "__pydantic_fields_set__", set(fields_set))
    _SET(doc, "__pydantic_extra__", None)
    _SET(doc, "__pydantic_private__", None)
    return doc


_TIER_FIELDS = frozenset(TierLine.model_fields)


def tier_line(lower: Decimal, upper: Decimal | None, quantity: Decimal, unit_price: Decimal, flat: Decimal,
              amount: Decimal) -> TierLine:
    """`TierLine(...)` of Decimals, built without validating (`trusted`)."""
    return trusted(TierLine, {"lower": lower, "upper": upper, "quantity": quantity, "unit_price": unit_price,
                              "flat": flat, "amount": amount}, _TIER_FIELDS)


def _a_grant(kind: str) -> bool:
    return kind == "grant"


class CreditApplied(Doc):
    grant: str  # the grant's id, or an allowance's (`plan:<plan>/allowance/<n>`)
    description: str
    applied: Decimal
    remaining: Decimal  # the grant's balance after this invoice (an allowance: what its period has left)
    # written for allowances only: documents without one stay byte-identical
    kind: Literal["grant", "allowance"] = Field(default="grant", exclude_if=_a_grant)
    # Why it burns at that point of the order, and which lines of its scope it paid (`explain`).
    notes: tuple[str, ...] = Field(default=(), exclude=True, repr=False)


class Invoice(Doc):
    number: str
    contract: str
    customer: str
    plan: str
    # `advance`: the opening invoice, dated `starts`, of the first period's fees `in advance`
    kind: Literal["usage", "credit_purchase", "advance"]
    period: PeriodRange
    issued: dt.date
    due: dt.date
    payment_terms_days: int
    currency: str
    autopay: bool
    lines: list[Line]
    subtotal: Decimal
    credits_applied: Decimal
    credits: list[CreditApplied] = Field(default_factory=list)
    total: Decimal


class Breakage(Doc):
    contract: str
    grant: str
    description: str
    granted: Decimal
    used: Decimal
    amount: Decimal  # expired unused
    expired: dt.date  # the end of the last period the grant could cover


class UnusedAllowance(Doc):
    """What a period's allowance did not use: not breakage, never carried over."""

    contract: str
    allowance: str  # its description, else its id
    plan: str
    period: PeriodRange
    granted: Decimal
    used: Decimal
    unused: Decimal


class UnusedDiscount(Doc):
    """What an amount discount (`discount $N`) could not use in a period it covers: lost."""

    contract: str
    discount: str  # its description, else "Discount"
    rule: str | None
    period: PeriodRange
    unused: Decimal


class Reconciliation(Doc):
    read: int
    billed: int
    rejected: int

    @property
    def balanced(self) -> bool:
        return self.read == self.billed + self.rejected


class InvoiceRun(Doc):
    through: dt.date
    currency: str
    invoices: list[Invoice]
    breakage: list[Breakage]
    rejected: dict[str, int]
    events: Reconciliation
    unused_allowances: list[UnusedAllowance] = Field(default_factory=list)
    unused_discounts: list[UnusedDiscount] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _omit_empty_reports(self, handler):
        """The Part 2 reports are written when they hold something: runs without
        allowances or amount discounts stay byte-identical."""
        data = handler(self)
        for key in ("unused_allowances", "unused_discounts"):
            if not data.get(key):
                data.pop(key, None)
        return data


class _Batch(BaseModel):
    """Invoices dumped together at their depth in a run (`RunWriter.add`)."""

    invoices: list[Invoice]


# What `_Batch` writes around its invoices: `{\n  "invoices": [\n` and `\n  ]\n}`.
_BATCH_HEAD, _BATCH_TAIL = len(b'{\n  "invoices": [\n'), len(b"\n  ]\n}")


class RunWriter(InvoiceSink, SplittableSink):
    """Writes an `InvoiceRun` as JSON while invoices are still being priced.

    Invoices go to `spool` (a temporary file, binary) as they come; `finish`
    writes the whole document to `out`: byte-identical to
    `run.model_dump_json(indent=2)` plus a newline. Each invoice is dumped on
    its own and indented to its depth in the run. The JSON stays UTF-8 bytes
    from pydantic's serializer to the output file (a large run writes hundreds
    of megabytes; decoding and encoding them again costs seconds). Used as
    `billing.evaluate(..., sink=writer)`; it splits into parts for ranges of
    contracts priced in other processes (`SplittableSink`).
    """

    _HOLE = '"invoices": [],'

    def __init__(self, spool=None):
        self.spool = spool if spool is not None else tempfile.TemporaryFile()
        self.count = 0
        self.parts: list[RunWriter] = []  # absorbed: written after ours, in order, by `finish`

    def __call__(self, invoices: list[Invoice]) -> None:
        self.add(invoices)

    def part(self) -> "RunWriter":
        """A writer, on a spool of its own, for a later range of the run's invoices
        (priced in another process; see `billing.parallel`)."""
        return RunWriter()

    def flush(self) -> None:
        try:
            self.spool.flush()
        except OSError as exc:
            raise spool_error(exc) from None

    def restart(self) -> None:
        """Empty the spool: a range is priced again after its process failed part-way."""
        self.spool.seek(0)
        self.spool.truncate()
        self.count = 0

    def close(self) -> None:
        for part in self.parts:
            part.close()
        self.parts = []
        try:
            self.spool.close()
        except OSError:  # what it could not write is not needed any more
            pass

    def absorb(self, part: "RunWriter", count: int) -> None:
        """Take `part`'s `count` invoices (written by another process) as following ours.

        The part's spool is kept, not copied: `finish` writes it out after ours
        (copying a few hundred megabytes from spool to spool costs a good part of a
        second; docs/scale.md, "Histories: billing")."""
        part.count = count
        if count:
            self.parts.append(part)
        else:
            part.close()

    def add(self, invoices: list[Invoice]) -> None:
        """The invoices' JSON, at their depth in the run, after those written before.

        pydantic writes them at that depth itself: dumped as the `invoices` of a
        `_Batch` (`{"invoices": [...]}`, indent 2), each invoice is indented by
        four, as in the run; only the batch's own brackets are cut off. (Dumping each
        invoice alone and indenting its lines afterwards cost a pass over every byte,
        about a third of writing them.)"""
        if not invoices:
            return
        batch = _Batch.model_construct(invoices=invoices)  # not validated: they are built invoices
        data = _Batch.__pydantic_serializer__.to_json(batch, indent=2)
        try:
            self.spool.write(b",\n" if self.count else b"")
            self.spool.write(data[_BATCH_HEAD:-_BATCH_TAIL])
        except OSError as exc:
            raise spool_error(exc) from None
        self.count += len(invoices)

    def finish(self, run: "InvoiceRun", out, name: str = "standard output") -> None:
        """`run` carries everything but the invoices (which the spools hold).

        `out` is a text stream. When it is a file (standard output, a file), the
        document goes to its descriptor as UTF-8 bytes, as JSON is written;
        otherwise (a StringIO) it is decoded on the way. If `out` cannot take
        it all (a full disk), an `OutputError` names `name`.
        """
        for writer in (self, *self.parts):
            writer.flush()
        try:
            self._finish(run, out)
        except OSError as exc:
            raise OutputError(name, reason(exc)) from None

    def _finish(self, run: "InvoiceRun", out) -> None:
        head = run.model_dump_json(indent=2)
        spools = [w.spool for w in (self, *self.parts) if w.count]
        if not spools:
            out.write(head + "\n")
            return
        before, after = head.split(self._HOLE, 1)
        fd = _descriptor(out)
        binary = getattr(out, "buffer", None)
        if fd is not None:
            out.flush()

            def write(chunk: bytes) -> None:
                # past Python's buffers, so that a failure leaves nothing buffered; a
                # write may take part of a chunk (the disk filling up): write the rest,
                # or fail
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        elif binary is not None:
            out.flush()
            write = binary.write
        else:
            decoder = codecs.getincrementaldecoder("utf-8")()

            def write(chunk: bytes) -> None:
                out.write(decoder.decode(chunk))

        write((before + '"invoices": [\n').encode("utf-8"))
        for index, spool in enumerate(spools):
            if index:
                write(b",\n")
            spool.flush()
            spool.seek(0)
            while chunk := spool.read(1 << 20):
                write(chunk)
        write(("\n  ]," + after + "\n").encode("utf-8"))
        if fd is None and binary is not None:
            binary.flush()


def _descriptor(out) -> int | None:
    """The file descriptor under `out`, if it has one."""
    try:
        return out.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return None
