"""Token vault: meta, tenants, data keys, credentials, audit events.

Revision ID: v0001
Revises:
Create Date: 2025-10-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "v0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models do.
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_meta",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_vault_meta"),
    )

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("active_dek_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )

    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("retired_at", UTC_TS, nullable=True),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.id"], name="fk_data_keys_tenant_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_data_keys"),
        sa.UniqueConstraint("tenant", "version", name="uq_data_keys_tenant_version"),
        sa.CheckConstraint("state in ('active', 'retired')", name="ck_data_keys_state"),
    )
    op.create_index("ix_data_keys_kek_fingerprint", "data_keys", ["kek_fingerprint"])

    op.create_table(
        "credentials",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=True),
        sa.Column("access_ct", sa.LargeBinary(), nullable=False),
        sa.Column("refresh_ct", sa.LargeBinary(), nullable=True),
        sa.Column("dek_version", sa.Integer(), nullable=False),
        sa.Column("token_fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("refresh_due_at", UTC_TS, nullable=True),
        sa.Column("last_refresh_at", UTC_TS, nullable=True),
        sa.Column("last_refresh_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_TS, nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", UTC_TS, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.id"], name="fk_credentials_tenant_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sa.UniqueConstraint("tenant", "provider", "account", name="uq_credentials_tenant_provider_account"),
        sa.CheckConstraint("state in ('active', 'revoked', 'needs_reauth')", name="ck_credentials_state"),
    )
    op.create_index("ix_credentials_tenant_dek_version", "credentials", ["tenant", "dek_version"])
    op.create_index("ix_credentials_state_refresh_due_at", "credentials", ["state", "refresh_due_at"])

    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("op", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=True),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        sa.CheckConstraint("outcome in ('ok', 'denied', 'error')", name="ck_audit_events_outcome"),
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_index("ix_credentials_state_refresh_due_at", table_name="credentials")
    op.drop_index("ix_credentials_tenant_dek_version", table_name="credentials")
    op.drop_table("credentials")
    op.drop_index("ix_data_keys_kek_fingerprint", table_name="data_keys")
    op.drop_table("data_keys")
    op.drop_table("tenants")
    op.drop_table("vault_meta")
