"""Runs get ``seq``, their insertion order: "the latest run" no longer rests on clocks or a random id.

Existing runs are numbered 1..n in (started_at, finished_at, id) order, the order the store used before.
New runs take the next number: from the ``runs_seq`` sequence on PostgreSQL, ``max(seq) + 1`` in the
inserting statement on SQLite (one writer at a time).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL = """
UPDATE runs SET seq = numbered.n
FROM (SELECT id, row_number() OVER (ORDER BY started_at, finished_at, id) AS n FROM runs) AS numbered
WHERE runs.id = numbered.id
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE SEQUENCE runs_seq")
        default = sa.text("nextval('runs_seq')")
    else:
        # SQLite adds a NOT NULL column only with a constant default; the store always sets seq itself.
        default = sa.text("0")
    op.add_column("runs", sa.Column("seq", sa.BigInteger(), nullable=False, server_default=default))
    op.execute(_BACKFILL)
    if postgres:
        op.execute("ALTER SEQUENCE runs_seq OWNED BY runs.seq")
        op.execute("SELECT setval('runs_seq', COALESCE((SELECT max(seq) FROM runs), 0) + 1, false)")
    op.create_index("ix_runs_seq", "runs", ["seq"], unique=True)


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy and drop the table, and dropping it would
    # cascade into results. On PostgreSQL the sequence goes with its column.
    op.drop_index("ix_runs_seq", table_name="runs")
    op.drop_column("runs", "seq")
