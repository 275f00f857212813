"""Where a streaming run's invoices go: the sink protocols.

`evaluate(..., sink=...)` hands each contract's invoices to a sink as soon
as they are built, and then drops them, so a run over ten thousand contracts
never holds them all. What a sink can do beyond taking invoices it declares
by the protocols it implements, not by attributes the run probes for:

- `InvoiceSink`: `sink(invoices)`; any such callable (a list's `extend`).
- `PricedLinesSink`: also takes the contract's `PricedLine`s (without explain
  candidates), `sink(invoices, priced)`, when `wants_priced` is set
  (`invoice -o DIR` renders packages from them, `issue` counts events).
- `SplittableSink`: can be split into parts for ranges of contracts priced in
  other processes (`parallel.py`): `RunWriter`, `invoice -o DIR`'s files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # documents.RunWriter implements these protocols
    from .documents import Invoice
    from .lines import PricedLine


class InvoiceSink(Protocol):
    """Takes each contract's invoices, in the order the run would list them."""

    def __call__(self, invoices: list[Invoice], /) -> None: ...


@runtime_checkable
class PricedLinesSink(Protocol):
    """A sink that is also handed the contract's priced lines when `wants_priced` is set."""

    wants_priced: bool

    def __call__(self, invoices: list[Invoice], priced: list[PricedLine], /) -> None: ...


@runtime_checkable
class SplittableSink(Protocol):
    """A sink with parts for ranges of contracts priced in other processes.

    The run prices the first range into this sink and each other range into a
    `part()` in a forked process (`restart()` first: a failed process may have
    written some, `flush()` at the end), then `absorb(part, count)`s the parts
    in range order. It splits from `min_lines` usage lines (None: from
    `parallel.MIN_LINES`, as pricing alone is worth splitting).
    """

    min_lines: int | None = None

    def part(self) -> SplittableSink: ...

    def restart(self) -> None: ...

    def flush(self) -> None: ...

    def absorb(self, part: SplittableSink, count: int) -> None: ...
