"""The usage stage: events in files -> aggregates per (window, meter, dimensions).

`aggregate_usage` runs the aggregation in embedded DuckDB (`duckdb`; Spark:
`spark`), both through one flow (`driver`); `build_query` builds it as a
sqlglot tree for any engine; `rows` holds the row-level definitions (what a
bad row is, how property values read as text) that every engine and the
reference aggregator (`reference`) share.
"""

from .duckdb import aggregate_usage
from .query import Relations, build_query
from .rows import needed_keys
from .sources import Source

__all__ = ["aggregate_usage", "build_query", "needed_keys", "Relations", "Source"]
