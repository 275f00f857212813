"""The usage stage: events in files -> aggregates per (window, meter, dimensions).

`aggregate_usage` runs the aggregation in embedded DuckDB (`duckdb`; Spark:
`spark`), both through one flow (`driver`); `build_query` builds it as a
sqlglot tree for any engine; `rows` holds the row-level definitions (what a
bad row is, how property values read as text) that every engine and the
reference aggregator (`reference`) share.
"""

from __future__ import annotations

import importlib

# Each name is imported from its module when first asked for (PEP 562), not with the
# package: a submodule that holds plain data (`usage.records`, which the compiler's
# callers and `ratecard check` import) should not bring DuckDB's query builder and
# sqlglot with it (a tenth of `ratecard check`'s start-up).
_HOMES = {"aggregate_usage": ".duckdb", "build_query": ".query", "Relations": ".query",
          "needed_keys": ".rows", "Source": ".sources"}

__all__ = ["aggregate_usage", "build_query", "needed_keys", "Relations", "Source"]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
