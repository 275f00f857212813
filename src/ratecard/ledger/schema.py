"""The ledger's tables (SQLAlchemy 2 Core), as the latest migration leaves them.

    ledger     one row: the ledger's currency and a generation counter (+1 per
               committed issue or void; also the row an issue locks)
    series     one gapless counter per document series (invoices, credit_notes), and
               the number format the last issue used (a void numbers its credit note with it)
    documents  every issued document: its number, the columns `ledger list`
               shows, the exact JSON body and its sha256, the inputs' fingerprint
    slots      one row per invoice the pure function bills (a contract's period,
               a credit purchase): which issued document is its invoice, and its
               lines as last billed (what a correction's reasons are worked out from)
    entries    what each document bills towards each slot (credit notes negative):
               a slot's entries add up to what the ledger has billed for it
    draws      credit draw-downs on issued invoices: final, an input of later runs
    breakage   a grant's unused balance, recognised once
    runs       each issue and void: when, through what date, from what inputs

Money is stored as decimal text (never a float, in SQLite or PostgreSQL).
The schema is created and upgraded by the Alembic migrations shipped beside
this module (`migrations/`); this module is what the code reads and writes.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ledger_row = Table(
    "ledger", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("currency", String(3), nullable=True),  # set by the first issue
    Column("generation", Integer, nullable=False),
)

series = Table(
    "series", metadata,
    Column("name", String(32), primary_key=True),
    Column("last", Integer, nullable=False),
    Column("format", String(64), nullable=False),  # as the pricing's `numbering` last set it
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("command", String(16), nullable=False),  # issue | void
    Column("through", Date, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("ratecard", String(32), nullable=False),
    Column("inputs", Text, nullable=False),  # JSON
)

documents = Table(
    "documents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # issue order
    Column("number", String(64), nullable=False, unique=True),
    Column("series", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("contract", Text, nullable=False),
    Column("customer", Text, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("issued", Date, nullable=False),
    Column("due", Date, nullable=False),
    Column("total", String(48), nullable=False),
    Column("corrects", String(64), nullable=True),
    Column("status", String(8), nullable=False),  # issued | void
    Column("voided_by", String(64), nullable=True),
    Column("body", Text, nullable=False),  # the exact JSON document
    Column("content_hash", String(64), nullable=False),  # sha256 of body (UTF-8)
    Column("fingerprint", String(64), nullable=False),  # sha256 of its inputs (docs/ledger.md)
    Column("run", Integer, ForeignKey("runs.id"), nullable=False),
    UniqueConstraint("series", "seq", name="uq_documents_series_seq"),
)

slots = Table(
    "slots", metadata,
    Column("slot", Text, primary_key=True),
    Column("contract", Text, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("original", String(64), nullable=True),  # its invoice; NULL once that is voided
    Column("snapshot", Text, nullable=False),  # JSON: the lines as last billed
    Column("fingerprint", String(64), nullable=False),
)

entries = Table(
    "entries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(64), ForeignKey("documents.number"), nullable=False),
    Column("slot", Text, nullable=False, index=True),
    Column("amount", String(48), nullable=False),
)

draws = Table(
    "draws", metadata,
    Column("slot", Text, primary_key=True),
    Column("grant_id", Text, primary_key=True),
    Column("contract", Text, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("number", String(64), nullable=False),  # the invoice that drew it
    Column("amount", String(48), nullable=False),
)

breakage = Table(
    "breakage", metadata,
    Column("contract", Text, primary_key=True),
    Column("grant_id", Text, primary_key=True),
    Column("amount", String(48), nullable=False),
    Column("closed_on", Date, nullable=False),
    Column("number", String(64), nullable=False),  # the invoice whose issue closed the grant
)
