"""A DuckDB query's rows as an Arrow table, planned once (the usage query and its rating),
and its columns as Python lists.

`conn.sql(text).to_arrow_table()` plans a query twice: `sql` binds it to learn
its columns (a relation), and `to_arrow_table` binds, optimizes and runs it
again. On the usage query (20-25 KB of SQL) that first bind was a third of the
query's time and a fifth of a small run's (the property tests make hundreds).
"""

from __future__ import annotations

import warnings
from decimal import Decimal

# What DuckDB says when a result is taken as Arrow from the connection: that this
# copies the rows once more. Measured, that copy costs less than the relation's
# own conversion, even at a million rows, and the Arrow types are the same.
_ARROW_COPY_WARNING = "Arrow output on a DB-API result"


def arrow_result(conn, sql: str):
    """The rows of the query `sql` (DuckDB SQL text), as an Arrow table."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_ARROW_COPY_WARNING, category=UserWarning)
        return conn.execute(sql).to_arrow_table()


def python_columns(table) -> list[list]:
    """The table's columns as Python lists: `column.to_pylist()` of each, the same values.

    A DECIMAL column (the rating's figures: an amount per line) is cast to text by
    Arrow and each distinct text made a `Decimal` once: Arrow's own conversion of a
    decimal builds each value through Python and cost ~0.6 us a value, twice this
    way (0.7 s against 0.35 s for the five rated decimal columns of the 1M-event
    benchmark). The text is the decimal at its column's scale (`12.30`), so each
    `Decimal` equals Arrow's to the exponent (tests/test_arrow_result.py)."""
    import pyarrow as pa

    out = []
    for column in table.columns:
        if pa.types.is_decimal(column.type):
            out.append(_decimals(column.cast(pa.string()).to_pylist()))
        else:
            out.append(column.to_pylist())
    return out


def _decimals(texts: list[str | None]) -> list[Decimal | None]:
    """Each text as a `Decimal` (None stays None), one `Decimal` per distinct text."""
    found: dict[str | None, Decimal | None] = {None: None}
    get = found.get

    def number(text: str | None) -> Decimal | None:
        value = get(text, found)
        if value is found:
            value = found[text] = Decimal(text)  # type: ignore[arg-type]
        return value  # type: ignore[return-value]

    return list(map(number, texts))
