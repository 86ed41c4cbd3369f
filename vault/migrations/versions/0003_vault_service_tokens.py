"""The identities of ``readiness vault serve``'s callers: one row per service token, stored as a SHA-256 hash.

Revision ID: v0003
Revises: v0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "v0003"
down_revision: str | None = "v0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models do.
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tenants", sa.JSON(), nullable=True),
        sa.Column("providers", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=True),
        sa.Column("revoked_at", UTC_TS, nullable=True),
        sa.Column("last_used_at", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_service_tokens"),
        sa.UniqueConstraint("name", name="uq_service_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_service_tokens_token_hash"),
        sa.CheckConstraint("role in ('admin', 'service', 'auditor', 'viewer')", name="ck_service_tokens_role"),
    )


def downgrade() -> None:
    op.drop_table("service_tokens")
