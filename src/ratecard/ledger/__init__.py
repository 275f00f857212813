"""The ledger: the system of record of issued documents (docs/ledger.md).

    RatingPlan + usage --billing (the pure function)--> invoices: what *should* be billed
    invoices + the ledger --issue (one transaction)--> new documents: what *was* billed

Modules, in the order a run uses them: `store` (opening a ledger URL, the
transaction and its lock), `schema` (the tables) and `migrations` (Alembic,
run programmatically), `state` (what the ledger holds, read back),
`documents` (the stored document's shape), `corrections` (the pure
function's invoices against the issued documents: new invoices, adjustment
lines, credit notes), `numbering` (gapless series), `issue` (the run),
`void`, `export` and `views` (rendering). Importing this package imports
no database driver: `numbering` is used by the compiler.
"""
