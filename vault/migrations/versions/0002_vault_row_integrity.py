"""Row integrity: a MAC over each credential's and data key's bound metadata, and the audit seq of its last write.

Both columns are nullable: rows written before this revision have neither until the vault binds them, once,
the next time it is opened with its keys (``Vault.open``; audited as ``bind_rows``). See docs/vault.md.

Revision ID: v0002
Revises: v0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "v0002"
down_revision: str | None = "v0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("credentials", "data_keys")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("row_mac", sa.String(64), nullable=True))
            batch.add_column(sa.Column("audit_seq", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("audit_seq")
            batch.drop_column("row_mac")
