"""A DuckDB query's rows as an Arrow table, planned once (the usage query and its rating).

`conn.sql(text).to_arrow_table()` plans a query twice: `sql` binds it to learn
its columns (a relation), and `to_arrow_table` binds, optimizes and runs it
again. On the usage query (20-25 KB of SQL) that first bind was a third of the
query's time and a fifth of a small run's (the property tests make hundreds).
"""

from __future__ import annotations

import warnings

# What DuckDB says when a result is taken as Arrow from the connection: that this
# copies the rows once more. Measured, that copy costs less than the relation's
# own conversion, even at a million rows, and the Arrow types are the same.
_ARROW_COPY_WARNING = "Arrow output on a DB-API result"


def arrow_result(conn, sql: str):
    """The rows of the query `sql` (DuckDB SQL text), as an Arrow table."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_ARROW_COPY_WARNING, category=UserWarning)
        return conn.execute(sql).to_arrow_table()
