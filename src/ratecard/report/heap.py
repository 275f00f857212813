"""What lives until a command ends, kept out of Python's garbage collector's walks.

A run billed at scale is millions of objects that live until the command
exits; building views and rendering them then allocates millions more, and
every collection of the oldest generation walks the lot again. `frozen()`
moves what exists to the permanent generation (`gc.freeze`) for the length
of a `with` block (`again()` adds what was made since), and gives it back to
the collector after: nothing is freed later than it would have been, and
nothing printed changes.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager


class _Frozen:
    @staticmethod
    def again() -> None:
        """Freeze what was made since (a second side's run, say)."""
        gc.freeze()


@contextmanager
def frozen():
    gc.freeze()
    try:
        yield _Frozen()
    finally:
        gc.unfreeze()
