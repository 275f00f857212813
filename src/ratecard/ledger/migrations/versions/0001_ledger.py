"""The ledger's first schema: documents, series, slots, entries, draws, breakage, runs.

Revision ID: 0001_ledger
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("generation", sa.Integer, nullable=False),
    )
    op.bulk_insert(sa.table("ledger", sa.column("id", sa.Integer), sa.column("generation", sa.Integer)),
                   [{"id": 1, "generation": 0}])
    op.create_table(
        "series",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
        sa.Column("format", sa.String(64), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("command", sa.String(16), nullable=False),
        sa.Column("through", sa.Date, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ratecard", sa.String(32), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(64), nullable=False, unique=True),
        sa.Column("series", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("contract", sa.Text, nullable=False),
        sa.Column("customer", sa.Text, nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("issued", sa.Date, nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("total", sa.String(48), nullable=False),
        sa.Column("corrects", sa.String(64), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("voided_by", sa.String(64), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("run", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.UniqueConstraint("series", "seq", name="uq_documents_series_seq"),
    )
    op.create_table(
        "slots",
        sa.Column("slot", sa.Text, primary_key=True),
        sa.Column("contract", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("original", sa.String(64), nullable=True),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(64), sa.ForeignKey("documents.number"), nullable=False),
        sa.Column("slot", sa.Text, nullable=False),
        sa.Column("amount", sa.String(48), nullable=False),
    )
    op.create_index("ix_entries_slot", "entries", ["slot"])
    op.create_table(
        "draws",
        sa.Column("slot", sa.Text, primary_key=True),
        sa.Column("grant_id", sa.Text, primary_key=True),
        sa.Column("contract", sa.Text, nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("amount", sa.String(48), nullable=False),
    )
    op.create_table(
        "breakage",
        sa.Column("contract", sa.Text, primary_key=True),
        sa.Column("grant_id", sa.Text, primary_key=True),
        sa.Column("amount", sa.String(48), nullable=False),
        sa.Column("closed_on", sa.Date, nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("breakage", "draws", "entries", "slots", "documents", "runs", "series", "ledger"):
        op.drop_table(table)
