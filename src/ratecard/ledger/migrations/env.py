"""Alembic's environment for the ledger: always run on a connection ratecard hands over."""

from alembic import context

from ratecard.ledger.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only ratecard runs these migrations
    raise RuntimeError("the ledger's migrations are run by ratecard (ratecard.ledger.store.migrate)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
