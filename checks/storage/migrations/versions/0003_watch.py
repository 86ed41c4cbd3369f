"""``readiness watch``: the leader's lease and schedule, the alerts open, every notification sent.

* ``watch_lease``: one row per watched manifest (``name``): who leads until when, when the next sweep is due
  and when one was last run, and ``requested_at``, the "sweep now" flag the dashboard sets;
* ``watch_alerts``: what the watcher has told people is wrong and not yet resolved (so a new leader neither
  repeats an alert nor forgets to say it resolved);
* ``notifications``: every message composed, per channel, with what became of it (sent, failed, suppressed by
  the rate limit, unrouted); the body scrubbed before it is stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "watch_lease",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("expires_at", UTC_TS, nullable=True),
        sa.Column("acquired_at", UTC_TS, nullable=True),
        sa.Column("next_sweep_at", UTC_TS, nullable=True),
        sa.Column("last_sweep_at", UTC_TS, nullable=True),
        sa.Column("last_run_id", sa.String(64), nullable=True),
        sa.Column("requested_at", UTC_TS, nullable=True),
        sa.Column("interval_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_watch_lease"),
    )
    op.create_table(
        "watch_alerts",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("area", sa.String(200), nullable=True),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("opened_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_watch_alerts"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("transition", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(200), nullable=True),
        sa.Column("area", sa.String(200), nullable=True),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_channel_at", "notifications", ["channel", "at"])
    op.create_index("ix_notifications_at", "notifications", ["at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_at", table_name="notifications")
    op.drop_index("ix_notifications_channel_at", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("watch_alerts")
    op.drop_table("watch_lease")
