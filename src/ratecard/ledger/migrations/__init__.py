"""Alembic migrations of the ledger schema, shipped in the wheel and run by
`ratecard.ledger.store` (no alembic.ini needed). `env.py` takes the connection
from `config.attributes["connection"]`, so a migration runs inside the
caller's transaction (and under its lock)."""
