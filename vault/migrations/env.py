"""Alembic environment for the token vault.

:func:`vault.models.upgrade` (called by ``Vault.open``) passes an open connection in
``config.attributes["connection"]``; without one (an operator running ``alembic`` by hand) the URL comes
from ``sqlalchemy.url`` or TOKEN_VAULT_DB_URL. The vault keeps its own version table so it can share a
database with the history store.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from vault.models import VERSION_TABLE, Base


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("TOKEN_VAULT_DB_URL")
    if not url:
        raise SystemExit("set sqlalchemy.url or TOKEN_VAULT_DB_URL to the vault's database")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
